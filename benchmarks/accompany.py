"""Accompaniment benchmark: does the accompaniment follow the melody's harmony, on the beat?

Melodies, played through the accompaniment as a live player would (each step
hearing only the steps before it, ``core.accompany.accompany_notes``, the
same stepping ``serve --mode accompany`` does):

- the sopranos of the held-out chorales (the test split of
  ``data/chorale-pairs``: melodies the model never trained on, nor any
  harmonisation of them);
- melodies of ``phrases.suite()`` (keys, 4/4, 3/4 and 6/8, straight, swung,
  triplets, 16ths), each played twice over.

Contenders, side by side: the real accompaniment (alto, tenor and bass; the
chorales only), a baseline (under each beat's melody note, the first of the
key's I, IV and V triads that holds it, else the key's triad built on it; the
key estimated from the whole melody, so it sees ahead), the online model
(``models/accompany``) and the same network allowed to hear the player's next
beat (``models/accompany-ahead``; not playable live). Each model plays
``--takes`` seeds, block texture.

Measures (``--json`` writes them all):

- **note in chord**: over 16th-note frames where the melody and the
  accompaniment both sound, the share where the melody's pitch class is one
  the accompaniment sounds (ReaLchords' figure of merit);
- **follows changes**: the melody's harmony on each beat is the triad (major
  or minor) holding most of its notes' time on that beat and the next, the
  one before kept on a tie; of the beats where it changes, the share where the
  accompaniment's pitch classes change on that beat or the next;
- **key agreement**: the share of melodies where the accompaniment's
  estimated key is the melody's;
- **on grid**: the share of accompaniment onsets on the eighth-note grid;
- **step cost**: the time one step of the online model takes here
  (network, choice and voicing; in-process), p50 / p99 / max;
- **after the beat** (``--jack``): ``serve --mode accompany`` on a JACK
  server (dummy driver, 256 frames, real-time priority) hears held-out
  sopranos played at exact frames by a client outside the daemon, which
  records what comes out: how long after its step (an eighth note of the
  clock's grid) each accompaniment note starts at the port, p50 / p99 / max,
  and the note-in-chord of what was played live.

    python benchmarks/accompany.py [--data data/chorale-pairs] [--takes 3] [--jack 3] [--json accompany.json]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from phrases import suite  # noqa: E402

from neuraltunes_live.core import accompany as acc  # noqa: E402
from neuraltunes_live.core.keys import MAJOR, MINOR, estimate_key  # noqa: E402
from neuraltunes_live.core.model_files import load_accompany_model  # noqa: E402
from neuraltunes_live.core.notes import DURATION, ONSET, PITCH, TICKS_PER_BEAT  # noqa: E402
from neuraltunes_live.data.pairs import read_pair_split  # noqa: E402

FRAME = TICKS_PER_BEAT // 4  # 16th notes
TRIADS = [(root, quality) for root in range(12) for quality in ("major", "minor")]


def triad_pcs(root: int, quality: str) -> frozenset[int]:
    return frozenset({root, (root + (4 if quality == "major" else 3)) % 12, (root + 7) % 12})


def frames_of(notes: np.ndarray, frames: int) -> list[set[int]]:
    """The pitch classes sounding at each 16th-note frame."""
    out: list[set[int]] = [set() for _ in range(frames)]
    for onset, pitch, duration in zip(notes[:, ONSET], notes[:, PITCH], notes[:, DURATION]):
        for f in range(int(onset) // FRAME, min(frames, -(-int(onset + duration) // FRAME))):
            out[f].add(int(pitch) % 12)
    return out


def note_in_chord(melody: np.ndarray, accompaniment: np.ndarray, frames: int) -> float:
    tune, under = frames_of(melody, frames), frames_of(accompaniment, frames)
    counted = [bool(t & u) for t, u in zip(tune, under) if t and u]
    return float(np.mean(counted)) if counted else float("nan")


def melody_harmony(melody: np.ndarray, beats: int) -> list[tuple[int, str] | None]:
    """The triad fitting the melody's notes on each beat and the next (the one before on a tie)."""
    weight = np.zeros((beats + 1, 12))
    for onset, pitch, duration in zip(melody[:, ONSET], melody[:, PITCH], melody[:, DURATION]):
        for tick in range(int(onset), int(onset + duration)):
            if tick // TICKS_PER_BEAT <= beats:
                weight[tick // TICKS_PER_BEAT, int(pitch) % 12] += 1
    out: list[tuple[int, str] | None] = []
    previous = None
    for b in range(beats):
        w = weight[b] + 0.5 * weight[b + 1]
        if not w.any():
            out.append(previous)
            continue
        scores = {t: sum(w[pc] for pc in triad_pcs(*t)) for t in TRIADS}
        best = max(scores.values())
        choice = previous if previous in scores and scores[previous] == best else max(scores, key=scores.get)
        out.append(choice)
        previous = choice
    return out


def follows_changes(melody: np.ndarray, accompaniment: np.ndarray, beats: int) -> float:
    harmony = melody_harmony(melody, beats)
    frames = frames_of(accompaniment, beats * 4 + 4)
    chords = [frozenset().union(*frames[4 * b : 4 * b + 4]) for b in range(beats + 1)]
    changes = [b for b in range(1, beats) if harmony[b] is not None and harmony[b] != harmony[b - 1]]
    if not changes:
        return float("nan")
    followed = [chords[b] != chords[b - 1] or chords[b + 1] != chords[b] for b in changes]
    return float(np.mean(followed))


def same_key(melody: np.ndarray, accompaniment: np.ndarray) -> float:
    if len(accompaniment) == 0:
        return 0.0
    a = estimate_key(melody[:, PITCH], melody[:, DURATION])
    b = estimate_key(accompaniment[:, PITCH], accompaniment[:, DURATION])
    return float(a is not None and b is not None and (a.tonic, a.minor) == (b.tonic, b.minor))


def on_grid(accompaniment: np.ndarray) -> float:
    if len(accompaniment) == 0:
        return float("nan")
    return float(np.mean(accompaniment[:, ONSET] % acc.STEP_TICKS == 0))


def measure(melody: np.ndarray, accompaniment: np.ndarray) -> dict[str, float]:
    end = int((melody[:, ONSET] + melody[:, DURATION]).max())
    beats = -(-end // TICKS_PER_BEAT)
    return {
        "note_in_chord": note_in_chord(melody, accompaniment, beats * 4),
        "follows_changes": follows_changes(melody, accompaniment, beats),
        "key_agreement": same_key(melody, accompaniment),
        "on_grid": on_grid(accompaniment),
    }


def baseline(melody: np.ndarray) -> np.ndarray:
    """Block triads on every beat: the first of I, IV, V holding the beat's melody note, else the key's triad on it."""
    key = estimate_key(melody[:, PITCH], melody[:, DURATION])
    tonic, minor = (key.tonic, key.minor) if key is not None else (0, False)
    scale = [(tonic + step) % 12 for step in (MINOR if minor else MAJOR)][:7]
    if minor:  # natural minor with the raised seventh: keep seven degrees, the seventh raised
        scale = [(tonic + s) % 12 for s in (0, 2, 3, 5, 7, 8, 11)]

    def diatonic(degree: int) -> list[int]:
        return [scale[degree % 7], scale[(degree + 2) % 7], scale[(degree + 4) % 7]]

    primary = [diatonic(0), diatonic(3), diatonic(4)]
    end = int((melody[:, ONSET] + melody[:, DURATION]).max())
    rows = []
    voicer = acc.Voicer(())
    for beat in range(-(-end // TICKS_PER_BEAT)):
        tick = beat * TICKS_PER_BEAT
        sounding = melody[(melody[:, ONSET] <= tick) & (melody[:, ONSET] + melody[:, DURATION] > tick)]
        if len(sounding) == 0:
            continue
        pc = int(sounding[:, PITCH].max()) % 12
        chord = next((c for c in primary if pc in c), None)
        if chord is None:
            chord = diatonic(scale.index(pc)) if pc in scale else [pc, (pc + 4) % 12, (pc + 7) % 12]
        bass = chord[0]
        pitches = [voicer._bass_pitch(bass, 55)] + sorted(55 + (p - 55) % 12 for p in chord[1:])
        voicer.bass = pitches[0]
        rows += [(tick, p, TICKS_PER_BEAT, 64) for p in pitches]
    return np.array(rows, np.int32).reshape(-1, 4)


def played_melodies() -> list[tuple[str, np.ndarray, int]]:
    """Melodies of the phrase suite (no chords), each played twice: (name, notes, beats per bar)."""
    out = []
    for phrase in suite():
        if phrase.chordal or len(phrase.notes) < 5:
            continue
        bar = phrase.beats_per_bar * TICKS_PER_BEAT
        length = -(-int((phrase.notes[:, ONSET] + phrase.notes[:, DURATION]).max()) // bar) * bar
        again = phrase.notes.copy()
        again[:, ONSET] += length
        out.append((phrase.name, np.vstack([phrase.notes, again]), phrase.beats_per_bar))
    return out


def model_takes(model, melody, beats_per_bar, takes, seed, costs=None) -> list[np.ndarray]:
    out = []
    knobs = acc.AccompanyKnobs()
    for take in range(takes):
        rng = np.random.default_rng([seed, take])
        if costs is None:
            out.append(acc.accompany_notes(model, melody, knobs, rng, beats_per_bar))
            continue
        started = time.perf_counter()
        notes = acc.accompany_notes(model, melody, knobs, rng, beats_per_bar)
        steps = -(-int((melody[:, ONSET] + melody[:, DURATION]).max()) // acc.STEP_TICKS)
        costs.append((time.perf_counter() - started) / max(steps, 1))
        out.append(notes)
    return out


def mean_measures(rows: list[dict[str, float]]) -> dict[str, float]:
    return {k: float(np.nanmean([r[k] for r in rows])) if rows else float("nan") for k in rows[0]}


def step_costs(model, melodies, count: int = 2000) -> np.ndarray:
    """Seconds of each of ``count`` single steps of the online model, stepped through the melodies."""
    costs = []
    rng = np.random.default_rng(5)
    knobs = acc.AccompanyKnobs()
    while len(costs) < count:
        for melody, beats in melodies:
            player = acc.player_steps(melody, -(-int((melody[:, ONSET] + melody[:, DURATION]).max()) // 6))
            accompanist = acc.Accompanist(model, rng, beats, first_step=1)
            for s in range(1, len(player)):
                started = time.perf_counter()
                accompanist.next_step(int(player[s - 1]), knobs)
                costs.append(time.perf_counter() - started)
            if len(costs) >= count:
                break
    return np.array(costs[:count])


def live_over_jack(model: Path, melodies: list[np.ndarray], period: int = 256) -> dict:
    """Play each melody into ``serve --mode accompany`` over JACK at exact frames; time what comes out."""
    from jack_server import RATE, jack_server
    from port_timing import Probe, serve

    beat = RATE // 2  # 120 BPM
    frames_per_tick = beat // TICKS_PER_BEAT
    step = acc.STEP_TICKS * frames_per_tick
    after, ratios, log = [], [], []
    with jack_server(period, realtime=True) as env:
        process = serve(env, "frames", log, extra=("--mode", "accompany", "--accompaniment-model", str(model)))
        probe = Probe()
        try:
            probe.connect()
            for melody in melodies:
                begin = (probe.client.frame_time // beat + 2) * beat
                events = []
                for onset, pitch, duration, _ in melody.tolist():
                    events.append((begin + onset * frames_per_tick, bytes((0x90, pitch, 90))))
                    events.append((begin + (onset + duration) * frames_per_tick - 1, bytes((0x80, pitch, 0))))
                probe.heard.clear()
                probe.plan.extend(sorted(events))
                end = begin + int((melody[:, ONSET] + melody[:, DURATION]).max()) * frames_per_tick
                while probe.client.frame_time < end + 6 * beat:  # its stop_beats (4) and a little more
                    time.sleep(0.05)
                ons = [(f, d) for f, d in probe.heard if d[0] == 0x91 and d[2] > 0]
                after += [((f - begin) % step) / RATE * 1000 for f, _ in ons]
                rows, open_at = [], {}
                for f, d in probe.heard:
                    if d[0] & 0x0F != 1 or d[0] & 0xF0 not in (0x80, 0x90):
                        continue
                    tick = (f - begin) // frames_per_tick
                    if d[0] & 0xF0 == 0x90 and d[2] > 0:
                        open_at[d[1]] = tick
                    elif d[1] in open_at:
                        start = open_at.pop(d[1])
                        rows.append((start, d[1], max(tick - start, 1), 64))
                played = np.array(rows, np.int32).reshape(-1, 4)
                ratios.append(measure(melody, played)["note_in_chord"])
        finally:
            probe.close()
            process.send_signal(2)
            process.wait(timeout=20)
    values = np.array(after)
    return {
        "melodies": len(melodies),
        "notes": len(values),
        "after_beat_ms": {
            "p50": float(np.percentile(values, 50)) if len(values) else float("nan"),
            "p99": float(np.percentile(values, 99)) if len(values) else float("nan"),
            "max": float(values.max()) if len(values) else float("nan"),
        },
        "note_in_chord_live": float(np.nanmean(ratios)) if ratios else float("nan"),
        "late_lines": [line for line in log if "after their frame" in line],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=ROOT / "data" / "chorale-pairs")
    parser.add_argument("--model", type=Path, default=ROOT / "models" / "accompany")
    parser.add_argument("--ahead", type=Path, default=ROOT / "models" / "accompany-ahead")
    parser.add_argument("--takes", type=int, default=3)
    parser.add_argument("--seed", type=int, default=1234)
    parser.add_argument("--jack", type=int, default=0, help="also play this many sopranos live over JACK")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    started = time.perf_counter()

    online = load_accompany_model(args.model)
    ahead = load_accompany_model(args.ahead) if args.ahead.is_dir() else None
    test = read_pair_split(args.data, "test")
    chorales = list(zip(test.names, test.player, test.accompaniment, test.beats_per_bar))
    report: dict = {"chorales": len(chorales), "takes": args.takes, "tables": {}}
    names = ("note_in_chord", "follows_changes", "key_agreement", "on_grid")

    def table(title: str, rows: dict[str, list[dict[str, float]]]) -> dict[str, dict[str, float]]:
        print(f"\n{title}\n")
        print("| contender | " + " | ".join(n.replace("_", " ") for n in names) + " |")
        print("|---|" + "---|" * len(names))
        summary = {}
        for contender, measured in rows.items():
            summary[contender] = mean_measures(measured)
            print(f"| {contender} | " + " | ".join(f"{summary[contender][n]:.3f}" for n in names) + " |", flush=True)
        return summary

    rows: dict[str, list[dict[str, float]]] = {"real (alto, tenor, bass)": [], "baseline: key's triads": []}
    rows["online model"], rows["model hearing one beat ahead"] = [], []
    for _, melody, real, beats in chorales:
        rows["real (alto, tenor, bass)"].append(measure(melody, real))
        rows["baseline: key's triads"].append(measure(melody, baseline(melody)))
        for take in model_takes(online, melody, beats, args.takes, args.seed):
            rows["online model"].append(measure(melody, take))
        if ahead is not None:
            for take in model_takes(ahead, melody, beats, args.takes, args.seed):
                rows["model hearing one beat ahead"].append(measure(melody, take))
    if ahead is None:
        del rows["model hearing one beat ahead"]
    chorale_summary = table(
        f"Held-out chorale sopranos ({len(chorales)}; the models {args.takes} takes each), mean over melodies:", rows
    )
    report["tables"]["chorales"] = chorale_summary

    played = played_melodies()
    per_melody = {}
    print("\nPlayed melodies (each twice over), note in chord / follows changes:\n")
    print("| melody | baseline | online model | hearing ahead | online above baseline |")
    print("|---|---|---|---|---|")
    above = []
    all_rows: dict[str, list[dict[str, float]]] = {"baseline: key's triads": [], "online model": []}
    if ahead is not None:
        all_rows["model hearing one beat ahead"] = []
    for name, melody, beats in played:
        base = measure(melody, baseline(melody))
        ours = mean_measures([measure(melody, t) for t in model_takes(online, melody, beats, args.takes, args.seed)])
        seen = (
            mean_measures([measure(melody, t) for t in model_takes(ahead, melody, beats, args.takes, args.seed)])
            if ahead is not None
            else None
        )
        all_rows["baseline: key's triads"].append(base)
        all_rows["online model"].append(ours)
        if seen is not None:
            all_rows["model hearing one beat ahead"].append(seen)
        better = ours["note_in_chord"] > base["note_in_chord"]
        above.append(better)
        per_melody[name] = {"baseline": base, "online": ours, "ahead": seen}

        def cell(m):
            return "–" if m is None else f"{m['note_in_chord']:.2f} / {m['follows_changes']:.2f}"

        print(f"| {name} | {cell(base)} | {cell(ours)} | {cell(seen)} | {'yes' if better else 'NO'} |", flush=True)
    report["tables"]["played"] = table(f"Played melodies ({len(played)}), mean over melodies:", all_rows)
    report["played"] = per_melody

    costs = step_costs(online, [(m, b) for _, m, _, b in chorales[:10]]) * 1000
    p50, p99, most = np.percentile(costs, 50), np.percentile(costs, 99), costs.max()
    print(
        f"\nStep cost of the online model (in-process, {len(costs)} steps): "
        f"p50 {p50:.3f} ms, p99 {p99:.3f} ms, max {most:.3f} ms"
    )
    report["step_cost_ms"] = {"p50": float(p50), "p99": float(p99), "max": float(most)}

    if args.jack:
        live = live_over_jack(args.model, [m for _, m, _, _ in chorales[: args.jack]])
        a = live["after_beat_ms"]
        print(
            f"\nLive over JACK (256 frames, -R): {live['notes']} accompaniment notes under {live['melodies']} "
            f"sopranos; after their step p50 {a['p50']:.3f} ms, p99 {a['p99']:.3f} ms, max {a['max']:.3f} ms; "
            f"note in chord of what was played live {live['note_in_chord_live']:.3f}; "
            f"late events: {len(live['late_lines'])}"
        )
        report["live"] = live

    real, ours = chorale_summary["real (alto, tenor, bass)"], chorale_summary["online model"]
    goals = {
        "online note in chord ≥ 0.85 of the real accompaniment's (held-out chorales)": ours["note_in_chord"]
        >= 0.85 * real["note_in_chord"],
        "online note in chord above the baseline on every played melody": all(above),
        "onsets on the grid 1.00": all(
            s["on_grid"] == 1.0
            for k, s in {**chorale_summary, **report["tables"]["played"]}.items()
            if k != "real (alto, tenor, bass)"
        ),
        "step cost p99 ≤ 1 ms": p99 <= 1.0,
    }
    print(f"\nOnline note in chord / real: {ours['note_in_chord'] / real['note_in_chord']:.3f}")
    print("Goals:")
    for goal, met in goals.items():
        print(f"  {'met   ' if met else 'MISSED'} {goal}")
    report["goals"] = {goal: bool(met) for goal, met in goals.items()}
    print(f"\n{time.perf_counter() - started:.0f} s")
    if args.json:
        args.json.write_text(json.dumps(report, indent=1) + "\n")


if __name__ == "__main__":
    main()
