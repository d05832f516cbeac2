"""MIDI import throughput: ours (symusic, mido where needed) against our mido path and music21's MIDI parsing.

All three read the same MIDI files in one run. The files are written once
by music21 from its corpus (four-part Bach chorales and single-line fiddle
tunes), or taken from ``--folder``. "Ours" is ``read_midi``: symusic's C++
parser where it can vouch for the notes, mido for the rest (the table says
how many), then pairing and the grid. "mido" is the same rules through mido
alone (``read_midi`` before symusic). "music21" is what the seed projects did
per file: ``converter.parse`` and a walk over ``flatten().notes`` collecting
pitches. Each file is timed on its own; the table gives totals, throughput
and per-file latency percentiles, the median of ``--repeats`` runs.

    python benchmarks/import_speed.py [--chorales 40] [--tunes 40] [--folder DIR] [--no-music21]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from neuraltunes_live.data.midifile import (  # noqa: E402
    MIDI_SUFFIXES,
    fast_piece,
    piece_from_midifile,
    read_midi,
    read_midifile,
)


def make_files(folder: Path, chorales: int, tunes: int) -> list[Path]:
    from music21 import converter, corpus

    sources = [p for p in corpus.getComposer("bach") if p.suffix == ".mxl"][:chorales]
    sources += corpus.getComposer("ryansMammoth")[:tunes]
    paths = []
    for source in sources:
        target = folder / f"{source.stem}.mid"
        score = converter.parse(source)
        if hasattr(score, "scores"):  # a tune book: its first tune
            score = score.scores[0]
        try:
            score.write("midi", fp=target)
        except Exception as err:  # music21 cannot write some tunes (bad repeats)
            print(f"  skipped {source.name}: {err}", file=sys.stderr)
            continue
        paths.append(target)
    return paths


def ours(path: Path) -> int:
    return len(read_midi(path).notes)


def mido_alone(path: Path) -> int:
    return len(piece_from_midifile(read_midifile(path)).notes)


def music21_way(path: Path) -> int:
    from music21 import chord, converter, note

    stream = converter.parse(path, forceSource=True)
    pitches = []
    for element in stream.flatten().notes:
        if isinstance(element, note.Note):
            pitches.append(str(element.pitch))
        elif isinstance(element, chord.Chord):
            pitches.extend(str(p) for p in element.pitches)
    return len(pitches)


def measure(method, paths: list[Path]) -> dict:
    latencies, notes = [], 0
    for path in paths:
        started = time.perf_counter()
        notes += method(path)
        latencies.append(time.perf_counter() - started)
    total = sum(latencies)
    ms = np.array(latencies) * 1000
    return {
        "files": len(paths),
        "notes": notes,
        "seconds": total,
        "files_s": len(paths) / total,
        "notes_s": notes / total,
        "p50": float(np.percentile(ms, 50)),
        "p99": float(np.percentile(ms, 99)),
        "max": float(ms.max()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--chorales", type=int, default=40)
    parser.add_argument("--tunes", type=int, default=40)
    parser.add_argument("--folder", type=Path, help="MIDI files to read instead of corpus ones")
    parser.add_argument("--repeats", type=int, default=3, help="runs of each; the median run is shown")
    parser.add_argument("--no-music21", action="store_true", help="leave music21 out (slow on thousands of files)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as scratch:
        if args.folder:
            paths = sorted(p for p in args.folder.rglob("*") if p.suffix.lower() in MIDI_SUFFIXES)
        else:
            print(f"Writing {args.chorales} chorales and {args.tunes} tunes as MIDI with music21 ...", file=sys.stderr)
            paths = make_files(Path(scratch), args.chorales, args.tunes)
        methods = [("ours (symusic)", ours), ("mido (before)", mido_alone)]
        if not args.no_music21:
            methods.append(("music21 (seeds' way)", music21_way))
        for _, method in methods:
            method(paths[0])  # import each library and warm it before timing
        fast = sum(fast_piece(path.read_bytes()) is not None for path in paths)
        rows = {}
        for name, method in methods:
            runs = [measure(method, paths) for _ in range(args.repeats)]
            rows[name] = sorted(runs, key=lambda r: r["seconds"])[len(runs) // 2]

    print(f"{len(paths)} files; symusic read {fast}, mido the other {len(paths) - fast}.")
    base = rows[methods[-1][0]]["seconds"]
    header = (
        f"{'method':<22}{'files':>6}{'notes':>8}{'total s':>9}{'files/s':>9}{'notes/s':>10}"
        f"{'p50 ms':>8}{'p99 ms':>8}{'max ms':>8}{'speed-up':>9}"
    )
    print(header)
    print("-" * len(header))
    for name, r in rows.items():
        print(
            f"{name:<22}{r['files']:>6}{r['notes']:>8}{r['seconds']:>9.2f}{r['files_s']:>9.1f}"
            f"{r['notes_s']:>10.0f}{r['p50']:>8.1f}{r['p99']:>8.1f}{r['max']:>8.1f}"
            f"{base / r['seconds']:>8.1f}x"
        )


if __name__ == "__main__":
    main()
