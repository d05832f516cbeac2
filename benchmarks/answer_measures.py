"""How an answer relates to the phrase it answers: the measures of the answers benchmark.

Pure functions of notes arrays (``notes.py``). Each compares an answer with
its phrase the way a musician hears it: does it stay in the phrase's key and
register, keep its rhythmic grid (straight, swung, triplet, 16ths), its
density and its texture (a line or chords), and does it play something of its
own rather than copy the phrase or circle on one figure.

The phrase's rhythmic grid is ``rhythm.phrase_grid``.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations
from typing import Iterable

import numpy as np

from neuraltunes_live.core.notes import DURATION, ONSET, PITCH, TICKS_PER_BEAT, sort_notes
from neuraltunes_live.core.rhythm import on_grid_share, phrase_grid


def in_key_share(notes: np.ndarray, scale: Iterable[int]) -> float:
    """Share of the notes whose pitch class is in ``scale`` (pitch classes 0..11)."""
    if len(notes) == 0:
        return 0.0
    return float(np.isin(notes[:, PITCH] % 12, list(scale)).mean())


def register_distance(answer: np.ndarray, phrase: np.ndarray) -> float:
    """Semitones between the median pitch of the answer and of the phrase."""
    if len(answer) == 0 or len(phrase) == 0:
        return float("nan")
    return float(abs(np.median(answer[:, PITCH]) - np.median(phrase[:, PITCH])))


def span_beats(notes: np.ndarray) -> float:
    """Beats from the first onset to the end of the last note to end."""
    if len(notes) == 0:
        return 0.0
    return float((notes[:, ONSET] + notes[:, DURATION]).max() - notes[:, ONSET].min()) / TICKS_PER_BEAT


def notes_per_beat(notes: np.ndarray, beats: float | None = None) -> float:
    """Notes per beat over ``beats`` (default: the notes' own span)."""
    beats = span_beats(notes) if beats is None else beats
    return len(notes) / beats if beats > 0 else 0.0


def voices(notes: np.ndarray) -> float:
    """Mean number of notes sounding at each onset: 1 for a line, 3 or 4 for block chords."""
    if len(notes) == 0:
        return 0.0
    onsets = np.unique(notes[:, ONSET])
    starts, ends = notes[:, ONSET], notes[:, ONSET] + notes[:, DURATION]
    sounding = (starts[None, :] <= onsets[:, None]) & (ends[None, :] > onsets[:, None])
    return float(sounding.sum(axis=1).mean())


def _figure_items(notes: np.ndarray) -> list[tuple[int, int]]:
    """Each note as (pitch, ticks since the previous onset), in order; a chord's notes have 0."""
    ordered = sort_notes(notes)
    onsets = ordered[:, ONSET]
    gaps = np.diff(onsets, prepend=onsets[:1]) if len(onsets) else onsets
    return list(zip(ordered[:, PITCH].tolist(), gaps.tolist()))


def longest_copy(answer: np.ndarray, phrase: np.ndarray) -> int:
    """The most notes in a row the answer plays exactly as the phrase did (pitch and rhythm).

    The first note of a stretch matches on pitch alone (what came before it differs).
    """
    a, p = _figure_items(answer), _figure_items(phrase)
    if not a or not p:
        return 0
    best = 0
    previous = [0] * (len(p) + 1)
    for i in range(len(a)):
        current = [0] * (len(p) + 1)
        for j in range(len(p)):
            if a[i][0] == p[j][0]:
                same_rhythm = a[i][1] == p[j][1]
                current[j + 1] = previous[j] + 1 if same_rhythm and previous[j] else 1
                best = max(best, current[j + 1])
        previous = current
    return best


def take_difference(takes: list[np.ndarray]) -> float:
    """How different takes of one answer are: mean over pairs of 1 − Jaccard of their (onset, pitch) sets.

    0: all the same; 1: no note in common.
    """
    sets = [set(zip(t[:, ONSET].tolist(), t[:, PITCH].tolist())) for t in takes]
    pairs = [(x, y) for x, y in combinations(sets, 2) if x or y]
    if not pairs:
        return 0.0
    return float(np.mean([1 - len(x & y) / len(x | y) for x, y in pairs]))


#: Longest figure, in notes, that ``most_repeats`` looks for (two bars of 16th-note triads).
MAX_FIGURE_NOTES = 96


def most_repeats(notes: np.ndarray, max_ticks: int) -> tuple[int, int]:
    """The most times a figure spanning at most ``max_ticks`` is played in a row, and its length in notes.

    A figure is a run of notes, each as (pitch, ticks since the previous
    onset); played k times in a row means k·p notes made of one figure of p
    notes, the first note of each repeat matched on pitch and on the gap before
    it (the first repeat's own first gap aside). A melody that never repeats
    itself scores 1.
    """
    items = _figure_items(notes)
    n = len(items)
    if n == 0:
        return 0, 0
    # elapsed[i]: ticks from the first onset to note i's; a figure of p notes
    # ending at i lasts elapsed[i] − elapsed[i − p] ticks (its period in time).
    pitches, gaps = [p for p, _ in items], [g for _, g in items]
    elapsed = np.cumsum(gaps).tolist()
    best, best_period = 1, 1
    for period in range(1, min(n // 2, MAX_FIGURE_NOTES) + 1):
        run = 0
        for i in range(period, n):
            if (
                pitches[i] == pitches[i - period]
                and (run == 0 or gaps[i] == gaps[i - period])  # the first repeat's own first gap aside
                and elapsed[i] - elapsed[i - period] <= max_ticks
            ):
                run += 1
                times = (run + period) // period
                if times > best:
                    best, best_period = times, period
            else:
                run = 0
    return best, best_period


@dataclass(frozen=True)
class AnswerMeasures:
    """One answer measured against its phrase."""

    in_key: float
    register_distance: float
    on_grid: float
    density_ratio: float
    voices_ratio: float
    longest_copy: int


def measure(answer: np.ndarray, phrase: np.ndarray, scale: Iterable[int], answer_beats: float) -> AnswerMeasures:
    """All per-answer measures; the phrase's density is over its own span, the answer's over ``answer_beats``."""
    _, grid = phrase_grid(phrase)
    phrase_density = notes_per_beat(phrase)
    phrase_voices = voices(phrase)
    return AnswerMeasures(
        in_key=in_key_share(answer, scale),
        register_distance=register_distance(answer, phrase),
        on_grid=on_grid_share(answer, grid),
        density_ratio=notes_per_beat(answer, answer_beats) / phrase_density if phrase_density else float("nan"),
        voices_ratio=voices(answer) / phrase_voices if phrase_voices else float("nan"),
        longest_copy=longest_copy(answer, phrase),
    )


# --- style: how close continued bars are to the bars that really follow ------

#: Melodic intervals counted up to an octave either way; wider ones fall in the end bins.
MAX_INTERVAL = 12
#: Notes sounding at once, counted up to this many (more fall in the last bin).
MAX_TEXTURE = 8


def histogram_overlap(p: np.ndarray, q: np.ndarray) -> float:
    """Σ min of the two histograms, each scaled to sum 1: 1 the same shape, 0 nothing in common.

    NaN when either is empty (nothing to compare).
    """
    p_total, q_total = float(p.sum()), float(q.sum())
    if p_total == 0 or q_total == 0:
        return float("nan")
    return float(np.minimum(p / p_total, q / q_total).sum())


def pitch_class_histogram(notes: np.ndarray) -> np.ndarray:
    """Notes of each pitch class (C = 0)."""
    return np.bincount(notes[:, PITCH] % 12, minlength=12).astype(np.float64)


def _top_line(notes: np.ndarray) -> np.ndarray:
    """The highest pitch starting at each onset, in time order: the tune of a texture."""
    onsets, first = np.unique(notes[:, ONSET], return_inverse=True)
    top = np.full(len(onsets), -1)
    np.maximum.at(top, first, notes[:, PITCH])
    return top


def interval_histogram(notes: np.ndarray) -> np.ndarray:
    """Steps of the top line in semitones, −12..+12 (wider leaps in the end bins)."""
    if len(notes) < 2:
        return np.zeros(2 * MAX_INTERVAL + 1)
    steps = np.clip(np.diff(_top_line(notes)), -MAX_INTERVAL, MAX_INTERVAL) + MAX_INTERVAL
    return np.bincount(steps, minlength=2 * MAX_INTERVAL + 1).astype(np.float64)


def onset_in_beat_histogram(notes: np.ndarray) -> np.ndarray:
    """Onsets at each tick of the beat (``TICKS_PER_BEAT`` bins): where in the beat notes start."""
    onsets = np.unique(notes[:, ONSET])
    return np.bincount(onsets % TICKS_PER_BEAT, minlength=TICKS_PER_BEAT).astype(np.float64)


def texture_histogram(notes: np.ndarray) -> np.ndarray:
    """Onsets by the notes sounding there (1 .. ``MAX_TEXTURE``+): a line, two voices, chords."""
    if len(notes) == 0:
        return np.zeros(MAX_TEXTURE)
    onsets = np.unique(notes[:, ONSET])
    starts, ends = notes[:, ONSET], notes[:, ONSET] + notes[:, DURATION]
    sounding = ((starts[None, :] <= onsets[:, None]) & (ends[None, :] > onsets[:, None])).sum(axis=1)
    return np.bincount(np.clip(sounding, 1, MAX_TEXTURE) - 1, minlength=MAX_TEXTURE).astype(np.float64)


#: The style histograms, by name.
STYLE_HISTOGRAMS = {
    "pitch_classes": pitch_class_histogram,
    "intervals": interval_histogram,
    "onsets_in_beat": onset_in_beat_histogram,
    "texture": texture_histogram,
}


def style_overlaps(answer: np.ndarray, real: np.ndarray) -> dict[str, float]:
    """Each style histogram's overlap between an answer and the real bars in its place."""
    return {name: histogram_overlap(of(answer), of(real)) for name, of in STYLE_HISTOGRAMS.items()}
