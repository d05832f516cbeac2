"""Keys: the pitch classes of major and minor keys, their names, and the key some notes are in.

The one home of key theory: the key mask of sampling, the key a phrase is
answered in, the scales ``evaluate`` and the answers benchmark measure against.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

MAJOR = (0, 2, 4, 5, 7, 9, 11)
MINOR = (0, 2, 3, 5, 7, 8, 10, 11)  # natural minor with the raised (leading) seventh
NOTE_NAMES = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")
_NAME_TO_PC = {
    "C": 0, "B#": 0, "C#": 1, "DB": 1, "D": 2, "D#": 3, "EB": 3, "E": 4, "FB": 4, "F": 5,
    "E#": 5, "F#": 6, "GB": 6, "G": 7, "G#": 8, "AB": 8, "A": 9, "A#": 10, "BB": 10, "B": 11, "CB": 11,
}  # fmt: skip

# Krumhansl–Kessler key profiles (probe-tone ratings), C major and C minor.
_MAJOR_PROFILE = np.array([6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88])
_MINOR_PROFILE = np.array([6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17])


@dataclass(frozen=True)
class Key:
    tonic: int  # pitch class 0..11
    minor: bool

    @property
    def pitch_classes(self) -> frozenset[int]:
        return scale(self.tonic, MINOR if self.minor else MAJOR)

    def __str__(self) -> str:
        return f"{NOTE_NAMES[self.tonic]} {'minor' if self.minor else 'major'}"


def parse_key(text: str) -> Key:
    """``"D minor"``, ``"f# major"``, ``"Bb"`` (major), ``"Am"``; ValueError otherwise."""
    match = re.fullmatch(r"\s*([A-Ga-g])\s*([#b]?)\s*(major|minor|maj|min|m|)\s*", text)
    if not match:
        raise ValueError(f"unknown key {text!r}; write it like 'D minor', 'F# major' or 'Bb'")
    name = (match.group(1) + match.group(2)).upper()
    return Key(_NAME_TO_PC[name], match.group(3).lower() in ("minor", "min", "m"))


def estimate_key(pitches: np.ndarray, weights: np.ndarray | None = None) -> Key | None:
    """The key whose Krumhansl–Kessler profile best matches the pitch classes.

    ``weights`` (e.g. durations) weigh each note; None when there are no notes.
    """
    pitches = np.asarray(pitches, dtype=np.int64)
    if len(pitches) == 0:
        return None
    weights = np.ones(len(pitches)) if weights is None else np.asarray(weights, dtype=np.float64)
    histogram = np.bincount(pitches % 12, weights=weights, minlength=12)
    if not np.any(histogram):
        return None
    best, best_score = None, -np.inf
    for minor, profile in ((False, _MAJOR_PROFILE), (True, _MINOR_PROFILE)):
        for tonic in range(12):
            score = np.corrcoef(histogram, np.roll(profile, tonic))[0, 1]
            if np.isfinite(score) and score > best_score:
                best, best_score = Key(tonic, minor), score
    return best


def pitch_class(name: str) -> int:
    """``"C"`` → 0, ``"F#"`` → 6, ``"Bb"`` → 10 (any case); ValueError for anything else."""
    try:
        return _NAME_TO_PC[name.strip().upper()]
    except KeyError as err:
        raise ValueError(f"unknown note name {name!r}") from err


def scale(tonic: int, steps: tuple[int, ...]) -> frozenset[int]:
    """The pitch classes of ``steps`` above ``tonic``."""
    return frozenset((tonic + step) % 12 for step in steps)


#: The 12 major scales; the natural minor scales are the relative majors' pitch classes.
DIATONIC_SCALES = tuple(scale(tonic, MAJOR) for tonic in range(12))
