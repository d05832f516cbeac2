"""Scores and music21's corpus, through music21 (the only module that imports it).

music21 is imported when a function here first runs, never at import, so the
daemon and MIDI-only runs do not pay for it. Rules:

- A file holding several works (an ABC tune book) gives one piece per work,
  named ``file#n``.
- Ties are merged into one note; grace notes (no duration of their own) and
  chord symbols (written harmony, not played notes) are left out; repeats are
  read as written, not expanded.
- A beat is a quarter note, as in MIDI. Scores carry no performance velocity:
  notes get ``SCORE_VELOCITY`` (mezzo-forte).
"""

from __future__ import annotations

import fnmatch
import os
from pathlib import Path

import numpy as np

from neuraltunes_live.core.notes import TICKS_PER_BEAT, Piece, quantize, sort_notes
from neuraltunes_live.errors import ImportFailed

SCORE_SUFFIXES = (".mxl", ".xml", ".musicxml", ".abc", ".krn")
SCORE_VELOCITY = 80
CORPUS_PREFIX = "music21:"


def read_score(path: str | os.PathLike, *, name: str | None = None) -> list[Piece]:
    """Pieces of a score file, named ``name`` or ``name#n``; ImportFailed says why none."""
    from music21 import converter, stream

    path = Path(path)
    name = path.stem if name is None else name
    try:
        size = path.stat().st_size
    except OSError as err:
        raise ImportFailed(f"cannot read file: {err.strerror or err}") from err
    if size == 0:
        raise ImportFailed("empty file")
    try:
        parsed = converter.parse(path)
    except Exception as err:  # music21's parsers raise whatever they meet
        raise ImportFailed(f"music21 could not read it: {err or type(err).__name__}") from err
    works = list(parsed.scores) if isinstance(parsed, stream.Opus) else [parsed]
    pieces = []
    for number, work in enumerate(works, start=1):
        label = name if len(works) == 1 else f"{name}#{number}"
        notes = _notes_of(work)
        if len(notes):
            pieces.append(Piece(name=label, notes=notes, tempo_bpm=_tempo_of(work)))
    if not pieces:
        raise ImportFailed("no notes")
    return pieces


def read_score_parts(path: str | os.PathLike, name: str, player: int) -> list[tuple[str, np.ndarray, np.ndarray, int]]:
    """(name, the player's part's notes, the other parts' notes, beats per bar) of each work of a score.

    ``player`` counts parts from 1. A pickup bar moves everything later by the
    beats it lacks, so tick 0 is a downbeat. ImportFailed when no work has
    that part with another beside it.
    """
    from music21 import converter, stream

    try:
        parsed = converter.parse(Path(path))
    except Exception as err:  # music21's parsers raise whatever they meet
        raise ImportFailed(f"music21 could not read it: {err or type(err).__name__}") from err
    works = list(parsed.scores) if isinstance(parsed, stream.Opus) else [parsed]
    found = []
    for number, work in enumerate(works, start=1):
        parts = list(work.parts) if isinstance(work, stream.Score) else [work]
        if len(parts) < max(2, player):
            continue
        shift = np.array([round(_pickup(parts[0]) * TICKS_PER_BEAT), 0, 0, 0], np.int32)
        melody = _notes_of(parts[player - 1]) + shift
        others = [_notes_of(p) + shift for i, p in enumerate(parts) if i != player - 1]
        accompaniment = sort_notes(np.vstack(others))
        if len(melody) and len(accompaniment):
            label = name if len(works) == 1 else f"{name}#{number}"
            found.append((label, melody, accompaniment, _beats_per_bar(work)))
    if not found:
        raise ImportFailed(f"no part {player} with other parts beside it")
    return found


def _pickup(part) -> float:
    """Beats missing from a score's first bar (a pickup), 0 when it is whole."""
    from music21 import stream

    for measure in part.getElementsByClass(stream.Measure):
        return max(0.0, float(measure.paddingLeft or 0.0))
    return 0.0


def _beats_per_bar(work) -> int:
    from music21 import meter

    for signature in work.recurse().getElementsByClass(meter.TimeSignature):
        return max(1, min(8, round(float(signature.barDuration.quarterLength))))
    return 4


def _notes_of(work) -> np.ndarray:
    from music21 import harmony

    onsets, ends, pitches, velocities = [], [], [], []
    for element in work.stripTies().flatten().notes:
        if isinstance(element, harmony.Harmony) or element.duration.isGrace:
            continue
        length = float(element.duration.quarterLength)
        if length <= 0:
            continue
        start = float(element.offset)
        velocity = element.volume.velocity or SCORE_VELOCITY
        for pitch in element.pitches:
            onsets.append(start)
            ends.append(start + length)
            pitches.append(pitch.midi)
            velocities.append(velocity)
    return quantize(np.array(onsets), np.array(ends), np.array(pitches), np.array(velocities))


def _tempo_of(work) -> float:
    from music21 import tempo

    for mark in work.recurse().getElementsByClass(tempo.MetronomeMark):
        bpm = mark.getQuarterBPM()
        if bpm:
            return round(float(bpm), 3)
        break
    return 120.0


def corpus_files(source: str) -> list[tuple[str, Path]]:
    """``(label, path)`` of the score files of ``music21:NAME`` or ``music21:NAME/GLOB``.

    The GLOB form narrows the corpus by file name, e.g. ``music21:bach/bwv1*``.
    NAME is a folder of music21's corpus (``bach``, ``essenFolksong``,
    ``ryansMammoth``, ``oneills1850``, ``palestrina`` ...). Analyses and other
    non-score files in the folder are left out. Labels read ``music21:bach/bwv1.6.mxl``.
    """
    from music21 import common, corpus

    spec = source[len(CORPUS_PREFIX) :]
    name, _, pattern = spec.partition("/")
    if not name:
        raise ImportFailed(f"{source}: name a corpus, e.g. music21:bach")
    paths = [p for p in corpus.getComposer(name) if p.suffix.lower() in SCORE_SUFFIXES]
    if pattern:
        paths = [p for p in paths if fnmatch.fnmatch(p.name, pattern) or fnmatch.fnmatch(p.stem, pattern)]
    root = Path(common.getCorpusFilePath())
    if paths:
        return [(f"{CORPUS_PREFIX}{name}/{_relative(p, root / name)}", p) for p in sorted(paths)]
    if pattern:
        raise ImportFailed(f"{source}: no score file in music21:{name} matches {pattern!r}")
    known = sorted(entry.name for entry in root.iterdir() if entry.is_dir() and not entry.name.startswith(("_", ".")))
    raise ImportFailed(f"{source}: no such corpus; music21 has {', '.join(known)}")


def _relative(path: Path, folder: Path) -> str:
    try:
        return path.relative_to(folder).as_posix()
    except ValueError:  # a corpus registered from elsewhere
        return path.name
