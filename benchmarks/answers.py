"""Answers benchmark: do the answers sound like they heard the phrase?

One run, one table. Every phrase of ``phrases.suite()`` (written the way
people play: keys, registers, swing, triplets, 16ths, chords, a waltz, short
and long, chromatic passing notes) is answered the way ``serve`` answers it
(primed, started on the beat after the pause, ``--bars`` bars long) with
``--takes`` random seeds at each style, by each contender:

- the new model (``--model``, the shipped ``models/default``),
- the model shipped before (``--previous``: a git revision whose
  ``models/default`` is taken out of the repository's history),
- the Markov baseline (``evaluate``'s, fitted on the data folder's training
  pieces), sampled the same way (same styles, grid and loop guard).

Each answer is measured against its phrase (``neuraltunes_live/answers.py``):
share of notes in the phrase's key, register distance (semitones between
median pitches), share of onsets on the phrase's rhythmic grid, notes per
beat against the phrase's, voices sounding together against the phrase's
(chordal phrases), the longest stretch copied from the phrase, and how
different the takes are. A phrase's figure is the median over its takes; the
table gives p10 / median / worst over the phrases. Continuous mode is played
for ``--continuous-beats`` after several phrases, and the most times any
figure of up to two bars repeats in a row is reported.

Then the openings (first 4 bars) of ``--openings`` held-out test pieces are
continued for 4 bars from the bar line, as ``evaluate`` does, and the same
measures are taken of the real next bars (key estimated from the opening);
each contender's median is set against the real continuations' p10–p90.

    python benchmarks/answers.py [--data data/corpus] [--model models/default]
        [--previous REV] [--takes 5] [--openings 60] [--json answers.json]
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field, replace
from itertools import islice
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import answer_measures as judge  # noqa: E402
from markov_player import MarkovPlayer  # noqa: E402
from phrases import Phrase, suite  # noqa: E402

from neuraltunes_live.config import STYLES, load_config  # noqa: E402
from neuraltunes_live.core.continuation import Continuer  # noqa: E402
from neuraltunes_live.core.keys import estimate_key  # noqa: E402
from neuraltunes_live.core.model_files import load_model  # noqa: E402
from neuraltunes_live.core.notes import DURATION, ONSET, PITCH, TICKS_PER_BEAT  # noqa: E402
from neuraltunes_live.data.dataset import read_split, source_of  # noqa: E402
from neuraltunes_live.live.engine import answer_offset  # noqa: E402
from neuraltunes_live.offline.evaluate import (  # noqa: E402
    BEATS_PER_BAR,
    CONTINUATION_BARS,
    MAX_MARKOV_ORDER,
    OPENING_BARS,
    choose_markov_order,
    continue_opening,
    openings,
    passages,
)
from neuraltunes_live.offline.markov import MarkovModel  # noqa: E402

#: The model folder shipped before the broad default (trained on Bach's chorales and O'Neill's 1850 only).
PREVIOUS_REVISION = "a4c2189"
#: Phrases played on in continuous mode.
CONTINUOUS_PHRASES = ("C major melody", "swung blues riff, C", "triplet jig, G major", "D minor melody")


def previous_model(revision: str, into: Path) -> Path:
    """``models/default`` as it was at ``revision``, written into ``into``."""
    for name in ("model.json", "weights.npz"):
        blob = subprocess.run(
            ["git", "-C", str(ROOT), "show", f"{revision}:models/default/{name}"], capture_output=True, check=True
        ).stdout
        (into / name).write_bytes(blob)
    return into


def live_answer(model, phrase: Phrase, settings, key_mask: bool, rng, bars: int) -> np.ndarray:
    """The answer as ``serve`` plays it: primed on the phrase, its first note moved to the
    beat after the pause (one beat of silence), where in the beat the model placed it."""
    continuer = Continuer(model, rng)
    continuer.prime(phrase.notes, phrase.beats_per_bar, use_key=key_mask)
    end = int((phrase.notes[:, ONSET] + phrase.notes[:, DURATION]).max())
    start_beat = math.ceil(end / TICKS_PER_BEAT + 1)
    stop = (start_beat + bars * phrase.beats_per_bar) * TICKS_PER_BEAT
    rows, offset = [], None
    while True:
        onset, pitch, duration, velocity = continuer.next_note(lambda: settings)
        if offset is None:  # placed as the engine places it
            offset = round(answer_offset(start_beat, onset, "beat") * TICKS_PER_BEAT)
        if onset + offset >= stop:
            break
        rows.append((onset + offset, pitch, duration, velocity))
    return np.array(rows, dtype=np.int32).reshape(-1, 4)


@dataclass
class PhraseResult:
    phrase: str
    measures: dict[str, float] = field(default_factory=dict)  # medians over the takes
    take_difference: float = 0.0


def answer_phrases(model, phrases: list[Phrase], style, takes: int, bars: int, seed: int) -> list[PhraseResult]:
    settings = style.sampling()
    results = []
    for index, phrase in enumerate(phrases):
        answers, measured = [], []
        for take in range(takes):
            rng = np.random.default_rng([seed, index, take])
            answer = live_answer(model, phrase, settings, style.key_mask, rng, bars)
            answers.append(answer)
            measured.append(asdict(judge.measure(answer, phrase.notes, phrase.scale, bars * phrase.beats_per_bar)))
        medians = {k: float(np.nanmedian([m[k] for m in measured])) for k in measured[0]}
        results.append(PhraseResult(phrase.name, medians, judge.take_difference(answers)))
    return results


def continuous_repeats(model, phrase: Phrase, style, beats: int, seed: int) -> tuple[int, int]:
    """Most times a figure of up to two bars repeats in a row over ``beats`` of continuous play."""
    settings = style.sampling()
    rng = np.random.default_rng([seed, 99])
    continuer = Continuer(model, rng)
    continuer.prime(phrase.notes, phrase.beats_per_bar, use_key=style.key_mask)
    end = int((phrase.notes[:, ONSET] + phrase.notes[:, DURATION]).max())
    played = list(continuer.notes_until(end + beats * TICKS_PER_BEAT, settings))
    played = np.array(played, dtype=np.int32).reshape(-1, 4)
    return judge.most_repeats(played, 2 * phrase.beats_per_bar * TICKS_PER_BEAT)


def opening_cases(data: Path, count: int) -> list[tuple[np.ndarray, np.ndarray, frozenset[int]]]:
    """(opening, real continuation, scale of the key estimated from the opening) of the first ``count`` test pieces."""
    cases = []
    for opening, following in islice(openings(read_split(data, "test")), count):
        key = estimate_key(opening[:, PITCH], opening[:, DURATION])
        cases.append((opening, following, key.pitch_classes))
    return cases


def answer_openings(model, cases, style, seed: int) -> list[dict[str, float]]:
    settings = style.sampling()
    rng = np.random.default_rng([seed, 7])
    out = []
    for opening, _, scale in cases:
        generated = continue_opening(model, opening, settings, rng, key=style.key_mask)
        out.append(asdict(judge.measure(generated, opening, scale, CONTINUATION_BARS * BEATS_PER_BAR)))
    return out


MEASURES = ("in_key", "register_distance", "on_grid", "density_ratio", "voices_ratio", "longest_copy")
#: Which end of a measure is the bad one, for the "worst" column.
WORST = {
    "in_key": min,
    "register_distance": max,
    "on_grid": min,
    "density_ratio": None,
    "voices_ratio": None,
    "longest_copy": max,
}


def summarise(results: list[PhraseResult], chordal: set[str]) -> dict[str, dict[str, float]]:
    out = {}
    for name in MEASURES:
        values = [r.measures[name] for r in results if name != "voices_ratio" or r.phrase in chordal]
        values = np.array([v for v in values if not math.isnan(v)])
        if not len(values):
            continue
        entry = {
            "p10": float(np.percentile(values, 10)),
            "p50": float(np.median(values)),
            "p90": float(np.percentile(values, 90)),
            "min": float(values.min()),
            "max": float(values.max()),
        }
        out[name] = entry
    out["take_difference"] = {"p50": float(np.median([r.take_difference for r in results]))}
    return out


def goals(summary: dict, repeats: int) -> dict[str, bool]:
    """The issue's goals at the default style."""
    k, r, g, d = (summary[n] for n in ("in_key", "register_distance", "on_grid", "density_ratio"))
    v = summary.get("voices_ratio")
    return {
        "in key: median ≥ 0.92, none < 0.80": k["p50"] >= 0.92 and k["min"] >= 0.80,
        "register distance: median ≤ 5": r["p50"] <= 5,
        "on grid: median ≥ 0.90, none < 0.80": g["p50"] >= 0.90 and g["min"] >= 0.80,
        "notes per beat: median ratio 0.67–1.5": 0.67 <= d["p50"] <= 1.5,
        "voices (chordal): ratio 0.5–2": v is not None and 0.5 <= v["p50"] <= 2.0,
        "continuous: no figure > 4 times in a row": repeats <= 4,
    }


def style_cases(data: Path, per_piece: int) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """(source, opening, real continuation) of up to ``per_piece`` passages of every test piece of ``data``."""
    split = read_split(data, "test")
    return [(source_of(split.names[i]), opening, following) for i, opening, following in passages(split, per_piece)]


def style_of_continuations(model, cases, style, takes: int, seed: int) -> list[dict[str, float]]:
    """Each passage's style overlaps with its real continuation, the mean of ``takes`` sampled ones.

    A continuation that plays nothing overlaps 0.
    """
    settings = style.sampling()
    rng = np.random.default_rng([seed, 11])
    out = []
    for _, opening, following in cases:
        sampled = []
        for _ in range(takes):
            generated = continue_opening(model, opening, settings, rng, key=style.key_mask)
            overlaps = judge.style_overlaps(generated, following)
            sampled.append({k: 0.0 if len(generated) == 0 else v for k, v in overlaps.items()})
        out.append({k: float(np.nanmean([t[k] for t in sampled])) for k in judge.STYLE_HISTOGRAMS})
    return out


def by_source(cases, overlaps: list[dict[str, float]]) -> dict[str, dict[str, float]]:
    """Mean overlap of each histogram over each source's passages, and over all of them ("all")."""
    sources = [source for source, _, _ in cases]
    out = {}
    for group in [*sorted(set(sources), key=lambda g: -sources.count(g)), "all"]:
        chosen = [o for o, s in zip(overlaps, sources) if group in ("all", s)]
        out[group] = {k: float(np.nanmean([o[k] for o in chosen])) for k in judge.STYLE_HISTOGRAMS}
    return out


def style_section(contenders, args, config, report: dict) -> None:
    """The style table: continued passages of held-out pieces against the real bars after them."""
    cases = style_cases(args.style_data, args.style_passages)
    style = config.style("balanced")
    sources = [source for source, _, _ in cases]
    names = list(judge.STYLE_HISTOGRAMS)
    print(
        f"\nStyle of continued passages: {len(cases)} passages of the test pieces of {args.style_data} "
        f"(up to {args.style_passages} a piece, {OPENING_BARS} bars continued for {CONTINUATION_BARS}), "
        f"{args.style_takes} takes each, balanced; "
        "histogram overlap with the bars that really follow (1 = the same), mean over each source's passages:\n"
    )
    print("| source | passages | contender | " + " | ".join(names) + " |")
    print("|---|---|---|" + "---|" * len(names))
    # The opening's own histograms against the bars after it: what playing on in the opening's style gives.
    table = {"the opening itself": by_source(cases, [judge.style_overlaps(o, f) for _, o, f in cases])}
    for name, model in contenders:
        table[name] = by_source(cases, style_of_continuations(model, cases, style, args.style_takes, args.seed))
    for group in table[contenders[0][0]]:
        count = len(cases) if group == "all" else sources.count(group)
        for name, rows in table.items():
            cells = " | ".join(f"{rows[group][k]:.3f}" for k in names)
            print(f"| {group} | {count} | {name} | {cells} |", flush=True)
    report["style"] = {"passages": len(cases), "by_source": table}
    if len(contenders) > 1:
        new, before = table[contenders[0][0]], table[contenders[1][0]]
        lower = [f"{g} {k}" for g in new if g != "all" for k in names if new[g][k] <= before[g][k]]
        print(
            f"\n  {'met   ' if not lower else 'MISSED'} style overlaps above {contenders[1][0]}'s on every source"
            + (f" (not: {', '.join(lower)})" if lower else "")
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=ROOT / "data" / "corpus")
    parser.add_argument("--model", type=Path, default=ROOT / "models" / "default")
    parser.add_argument(
        "--previous", default=PREVIOUS_REVISION, help="git revision of the model shipped before ('' skips)"
    )
    parser.add_argument("--takes", type=int, default=10)
    parser.add_argument("--bars", type=int, default=4)
    parser.add_argument("--openings", type=int, default=60)
    parser.add_argument("--continuous-beats", type=int, default=240, help="240 beats: 2 minutes at 120 BPM")
    parser.add_argument("--styles", default=",".join(STYLES))
    parser.add_argument("--no-markov", action="store_true", help="leave the Markov baseline out (quicker)")
    parser.add_argument(
        "--style-data",
        type=Path,
        help="a held-out data folder (prepare --held-out) whose pieces' passages are continued for the style table",
    )
    parser.add_argument("--style-passages", type=int, default=4, help="passages of each piece (8 bars each)")
    parser.add_argument("--style-takes", type=int, default=2)
    parser.add_argument("--only-style", action="store_true", help="the style table alone")
    parser.add_argument("--seed", type=int, default=1234)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--per-phrase", action="store_true", help="also print each phrase's figures")
    args = parser.parse_args()

    config = load_config(ROOT / "config.toml")
    phrases = suite()
    chordal = {p.name for p in phrases if p.chordal}
    started = time.perf_counter()
    contenders = [
        (
            "new (" + str(args.model.relative_to(ROOT) if args.model.is_relative_to(ROOT) else args.model) + ")",
            load_model(args.model),
        )
    ]
    scratch = tempfile.TemporaryDirectory()
    if args.previous:
        previous = load_model(previous_model(args.previous, Path(scratch.name)))
        contenders.append((f"shipped before ({args.previous})", previous))
    if not args.no_markov:
        markov = MarkovModel(read_split(args.data, "train").pieces(), max_order=MAX_MARKOV_ORDER)
        order, _ = choose_markov_order(markov, read_split(args.data, "validation"))
        contenders.append((f"Markov baseline, order {order}", MarkovPlayer(markov, order)))
    if args.only_style:
        style_section(contenders, args, config, report := {})
        print(f"\n{time.perf_counter() - started:.0f} s")
        if args.json:
            args.json.write_text(json.dumps(report, indent=1) + "\n")
        return
    cases = opening_cases(args.data, args.openings)
    styles = [(name, config.style(name)) for name in args.styles.split(",")]
    runs = [(name, model, style_name, style) for name, model in contenders for style_name, style in styles]
    if "balanced" in args.styles.split(","):
        # How much of "on grid" is the grid rule's: the new model without it.
        free = replace(config.style("balanced"), keep_grid=False)
        runs.insert(len(styles), (contenders[0][0], contenders[0][1], "balanced, keep_grid off", free))

    report: dict = {
        "phrases": len(phrases),
        "takes": args.takes,
        "bars": args.bars,
        "openings": len(cases),
        "continuous_beats": args.continuous_beats,
        "results": [],
    }
    print(
        f"Answers to {len(phrases)} written phrases ({len(chordal)} chordal), {args.takes} takes each, "
        f"{args.bars} bars; p10 / median / worst over the phrases (a phrase: median of its takes).\n"
    )
    header = (
        "| contender | style | in key | register distance (st) | on grid | notes/beat ratio | "
        "voices ratio (chordal) | longest copy (notes) | take difference | continuous: most repeats |"
    )
    print(header)
    print("|---" * (header.count("|") - 1) + "|")
    per_phrase_rows = []
    for name, model, style_name, style in runs:
        results = answer_phrases(model, phrases, style, args.takes, args.bars, args.seed)
        summary = summarise(results, chordal)
        repeats = [
            continuous_repeats(model, p, style, args.continuous_beats, args.seed)
            for p in phrases
            if p.name in CONTINUOUS_PHRASES
        ]
        most = max(r[0] for r in repeats)
        row = {
            "contender": name,
            "style": style_name,
            "summary": summary,
            "continuous_repeats": [list(r) for r in repeats],
            "per_phrase": [asdict(r) for r in results],
        }
        row["goals"] = goals(summary, most)
        report["results"].append(row)
        per_phrase_rows.append((name, style_name, results))

        def cell(m, worst=True, digits=2):
            if m not in summary:
                return "–"
            s = summary[m]
            text = f"{s['p10']:.{digits}f} / **{s['p50']:.{digits}f}**"
            pick = WORST[m]
            if worst and pick is not None:
                text += f" / {s['min'] if pick is min else s['max']:.{digits}f}"
            return text

        print(
            f"| {name} | {style_name} | {cell('in_key')} | {cell('register_distance', digits=1)} | "
            f"{cell('on_grid')} | {cell('density_ratio', worst=False)} ({summary['density_ratio']['min']:.2f}–"
            f"{summary['density_ratio']['max']:.2f}) | {cell('voices_ratio', worst=False)} | "
            f"{cell('longest_copy', digits=0)} | {summary['take_difference']['p50']:.2f} | "
            f"{most} ({', '.join(str(r[0]) + '×' + str(r[1]) for r in repeats)}) |",
            flush=True,
        )

    default_row = report["results"][0]
    print(f"\nGoals, {default_row['contender']}, {default_row['style']}:")
    for goal, met in default_row["goals"].items():
        print(f"  {'met   ' if met else 'MISSED'} {goal}")

    if args.per_phrase:
        for name, style_name, results in per_phrase_rows:
            if style_name != "balanced":
                continue
            print(f"\n{name}, balanced, per phrase (median of {args.takes} takes):")
            print("| phrase | in key | register | on grid | density | voices | copy | takes differ |")
            print("|---|---|---|---|---|---|---|---|")
            for r in results:
                m = r.measures
                print(
                    f"| {r.phrase} | {m['in_key']:.2f} | {m['register_distance']:.1f} | {m['on_grid']:.2f} | "
                    f"{m['density_ratio']:.2f} | {m['voices_ratio']:.2f} | {m['longest_copy']:.0f} | "
                    f"{r.take_difference:.2f} |"
                )

    # Openings of held-out pieces, against their real continuations.
    real = [
        asdict(judge.measure(following, opening, scale, CONTINUATION_BARS * BEATS_PER_BAR))
        for opening, following, scale in cases
    ]
    print(
        f"\nOpenings of {len(cases)} held-out test pieces, continued for {CONTINUATION_BARS} bars "
        f"from the bar line (median; real: p10 – p90; * outside):\n"
    )
    shown = ("in_key", "register_distance", "on_grid", "density_ratio", "voices_ratio", "longest_copy")
    print("| contender | style | " + " | ".join(shown) + " |")
    print("|---|---|" + "---|" * len(shown))
    ranges = {m: np.nanpercentile([r[m] for r in real], [10, 50, 90]) for m in shown}
    print(
        "| real continuations | – | "
        + " | ".join(f"{ranges[m][0]:.2f} – {ranges[m][2]:.2f} (median {ranges[m][1]:.2f})" for m in shown)
        + " |"
    )
    report["openings_real"] = {m: [float(x) for x in ranges[m]] for m in shown}
    report["openings_results"] = []
    for name, model, style_name, style in runs:
        got = answer_openings(model, cases, style, args.seed)
        medians = {m: float(np.nanmedian([g[m] for g in got])) for m in shown}
        inside = {m: bool(ranges[m][0] <= medians[m] <= ranges[m][2]) for m in shown}
        report["openings_results"].append(
            {"contender": name, "style": style_name, "medians": medians, "inside": inside}
        )
        print(
            f"| {name} | {style_name} | "
            + " | ".join(f"{medians[m]:.2f}{'' if inside[m] else ' *'}" for m in shown)
            + " |",
            flush=True,
        )
    if args.style_data:
        style_section(contenders, args, config, report)
    print(f"\n{time.perf_counter() - started:.0f} s")
    if args.json:
        args.json.write_text(json.dumps(report, indent=1) + "\n")


if __name__ == "__main__":
    main()
