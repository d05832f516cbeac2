"""Turn-taking: how often a phrase is cut off early, and how long the player waits for the answer.

The 20 phrases of ``phrases.py`` are played at 120 BPM as a person plays them:
each note let go after 60 to 95 % of its length, every onset up to ±10 ms
off. Each is played whole, and again with a breath: at the note boundary
nearest its middle, the player stops for 0.75 to 1.25 beats more than
written, then goes on. The phrase detector hears each rendition, with the
fixed rule (always ``silence_beats`` of silence) and with the adaptive one
(``phrase.end_wait``: a landing ends sooner, a breath may last longer):

- **cut early**: the detector took the phrase as over before the player's
  last note was let go (a breath taken for the end);
- **wait**: from the player's last key-up to the decision, in beats (how
  long the player waits for the answer to begin, before the start beat).

    python benchmarks/turn_taking.py [--takes 10] [--silence 1.0]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from phrases import suite  # noqa: E402

from neuraltunes_live.core.notes import DURATION, ONSET, PITCH, TICKS_PER_BEAT  # noqa: E402
from neuraltunes_live.live.phrase import PhraseDetector  # noqa: E402

SPB = 0.5  # 120 BPM
STEP = 0.002  # the daemon's tick


def rendition(notes: np.ndarray, rng: np.random.Generator, breath: bool) -> list[tuple[float, tuple[int, int, int]]]:
    """Timed note-ons and note-offs of one playing of ``notes``."""
    onsets = notes[:, ONSET] / TICKS_PER_BEAT * SPB
    lengths = notes[:, DURATION] / TICKS_PER_BEAT * SPB
    if breath:
        boundaries = sorted(set(onsets.tolist()))[1:]
        cut = min(boundaries, key=lambda b: abs(b - (onsets.max() + lengths.max()) / 2))
        onsets = np.where(onsets >= cut, onsets + rng.uniform(0.75, 1.25) * SPB, onsets)
    events = []
    for onset, length, pitch in zip(onsets, lengths, notes[:, PITCH]):
        start = max(0.0, onset + rng.uniform(-0.01, 0.01))
        events.append((start, (0x90, int(pitch), 80)))
        events.append((start + length * rng.uniform(0.6, 0.95), (0x80, int(pitch), 0)))
    return sorted(events, key=lambda e: (e[0], e[1][0] == 0x90))


def hear(events, adaptive: bool, silence: float) -> tuple[bool, float]:
    """(cut early, wait in beats) for one rendition."""
    detector = PhraseDetector(silence_beats=silence, adaptive=adaptive, min_notes=2)
    last_up = max(t for t, m in events if m[0] == 0x80)
    pending, t = list(events), 0.0
    while True:
        while pending and pending[0][0] <= t:
            found = detector.feed(pending[0][0], pending.pop(0)[1], SPB)
            if found is not None:
                return found.decided < last_up, (found.decided - last_up) / SPB
        found = detector.poll(t, SPB)
        if found is not None:
            return found.decided < last_up, (found.decided - last_up) / SPB
        t += STEP


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--takes", type=int, default=10, help="renditions of each phrase, each way")
    parser.add_argument("--silence", type=float, default=1.0, help="silence_beats")
    args = parser.parse_args()
    phrases = suite()
    rows = []
    for breath in (False, True):
        for adaptive in (False, True):
            cuts, waits = [], []
            for index, phrase in enumerate(phrases):
                for take in range(args.takes):
                    events = rendition(phrase.notes, np.random.default_rng([index, take, breath]), breath)
                    cut, wait = hear(events, adaptive, args.silence)
                    cuts.append(cut)
                    if not cut:
                        waits.append(wait)
            rows.append((breath, adaptive, np.mean(cuts), np.percentile(waits, [10, 50, 90]) if waits else None))
    print(f"Turn-taking, {len(phrases)} phrases x {args.takes} renditions, 120 BPM, silence_beats {args.silence:g}")
    print()
    print("| played | rule | cut early | wait after the last key-up, beats: p10 / p50 / p90 |")
    print("|---|---|---|---|")
    for breath, adaptive, cut, wait in rows:
        shown = "-" if wait is None else f"{wait[0]:.2f} / {wait[1]:.2f} / {wait[2]:.2f}"
        print(
            f"| {'with a breath' if breath else 'whole'} | {'adaptive' if adaptive else 'fixed'} "
            f"| {100 * cut:.0f} % | {shown} |"
        )


if __name__ == "__main__":
    main()
