"""Notes on the beat grid: the plain value every importer produces.

A piece's notes are one ``int32`` array of shape ``(n, 4)``, one row a note:
``onset`` and ``duration`` in grid ticks (``TICKS_PER_BEAT`` to the beat, a
beat being a quarter note as in MIDI), ``pitch`` as a MIDI note number, and
``velocity`` 1..127. An array rather than objects keeps a 10,000-file import
fast and lets the cache store notes as they are.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Sequence

import numpy as np

#: Grid resolution. 12 holds 16ths (3), eighth triplets (4) and 16th triplets (2).
TICKS_PER_BEAT = 12

ONSET, PITCH, DURATION, VELOCITY = range(4)


@dataclass(frozen=True)
class Piece:
    """One piece of music: a name for reports and its notes on the grid."""

    name: str
    notes: np.ndarray
    tempo_bpm: float = 120.0
    #: What was read other than as written (a tempo out of range), for the user.
    warnings: tuple[str, ...] = ()


def notes_array(rows: Iterable[Sequence[int]] = ()) -> np.ndarray:
    """Build a notes array from ``(onset, pitch, duration, velocity)`` rows."""
    array = np.array(list(rows), dtype=np.int32)
    return array.reshape(-1, 4)


def quantize(
    onsets_beats: np.ndarray,
    ends_beats: np.ndarray,
    pitches: np.ndarray,
    velocities: np.ndarray,
) -> np.ndarray:
    """Snap notes given in beats onto the grid.

    Onset and end are snapped separately, so a legato line stays legato. A note
    whose ends snap together (including a zero-length note) keeps one tick: it
    was played, so it sounds. Ties between equally near ticks round to even.
    """
    onsets = np.rint(np.asarray(onsets_beats, dtype=np.float64) * TICKS_PER_BEAT)
    ends = np.rint(np.asarray(ends_beats, dtype=np.float64) * TICKS_PER_BEAT)
    durations = np.maximum(ends - onsets, 1)
    notes = np.stack([onsets, np.asarray(pitches), durations, np.asarray(velocities)], axis=1).astype(np.int32)
    return sort_notes(notes.reshape(-1, 4))


def sort_notes(notes: np.ndarray) -> np.ndarray:
    """Notes in canonical order: by onset, then pitch from low to high (then duration and velocity).

    The order is total, so two readers of one file that find the same notes
    give the same array, whatever order they found them in.
    """
    order = np.lexsort((notes[:, VELOCITY], notes[:, DURATION], notes[:, PITCH], notes[:, ONSET]))
    return notes[order]
