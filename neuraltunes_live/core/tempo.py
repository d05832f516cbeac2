"""Tempo maps: convert between beats and seconds across tempo changes.

A tempo map is a list of segments, each starting at a beat and a second with a
constant length of beat. MIDI files give tempo changes at beat positions (PPQ
files) or at times in seconds (SMPTE files); recordings of live playing give
seconds. Both build the same map, so every path turns time into beats the
same way.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass
from typing import Iterable

DEFAULT_TEMPO_US = 500_000  # MIDI's default: 120 beats per minute


#: The tempos a file may give, in beats per minute; others are read as the nearest of these.
MIN_BPM, MAX_BPM = 10.0, 1000.0


def clamped_tempo(us_per_beat: float) -> tuple[float, str | None]:
    """A tempo from a file (microseconds per beat) kept within ``MIN_BPM``..``MAX_BPM``.

    Returns the tempo to use and, when it had to be moved, why (for a
    warning). A tempo of 0 (as fast as can be) is read as ``MAX_BPM``.
    """
    if us_per_beat > 0:
        bpm = us_to_bpm(us_per_beat)
        if MIN_BPM <= bpm <= MAX_BPM:
            return float(us_per_beat), None
        kept = min(max(bpm, MIN_BPM), MAX_BPM)
        shown = f"{bpm:.4g} BPM"
    else:
        kept, shown = MAX_BPM, f"{us_per_beat:g} µs a beat"
    return bpm_to_us(kept), f"tempo {shown} is outside {MIN_BPM:g}–{MAX_BPM:g} BPM; read as {kept:g} BPM"


def bpm_to_us(bpm: float) -> float:
    """Microseconds per beat of a tempo in beats per minute."""
    return 60_000_000.0 / bpm


def us_to_bpm(us_per_beat: float) -> float:
    """Beats per minute of a tempo in microseconds per beat."""
    return 60_000_000.0 / us_per_beat


@dataclass(frozen=True)
class TempoMap:
    """Piecewise-constant tempo; ``beats[i]``/``seconds[i]`` start segment i."""

    beats: tuple[float, ...]
    seconds: tuple[float, ...]
    us_per_beat: tuple[float, ...]

    @classmethod
    def constant(cls, bpm: float) -> "TempoMap":
        return cls((0.0,), (0.0,), (bpm_to_us(bpm),))

    @classmethod
    def from_beat_changes(cls, changes: Iterable[tuple[float, float]]) -> "TempoMap":
        """Map from ``(beat, microseconds per beat)`` changes, in any order.

        The tempo before the first change is MIDI's default of 120 bpm; of two
        changes at one beat the later in the input wins, as in a MIDI file.
        """
        beats, seconds, tempi = [0.0], [0.0], [float(DEFAULT_TEMPO_US)]
        for beat, us in sorted(changes, key=lambda change: change[0]):
            if beat <= beats[-1]:
                tempi[-1] = float(us)
                continue
            seconds.append(seconds[-1] + (beat - beats[-1]) * tempi[-1] / 1e6)
            beats.append(float(beat))
            tempi.append(float(us))
        return cls(tuple(beats), tuple(seconds), tuple(tempi))

    @classmethod
    def from_second_changes(cls, changes: Iterable[tuple[float, float]]) -> "TempoMap":
        """Map from ``(second, microseconds per beat)`` changes, in any order."""
        beats, seconds, tempi = [0.0], [0.0], [float(DEFAULT_TEMPO_US)]
        for second, us in sorted(changes, key=lambda change: change[0]):
            if second <= seconds[-1]:
                tempi[-1] = float(us)
                continue
            beats.append(beats[-1] + (second - seconds[-1]) * 1e6 / tempi[-1])
            seconds.append(float(second))
            tempi.append(float(us))
        return cls(tuple(beats), tuple(seconds), tuple(tempi))

    def beats_to_seconds(self, beat: float) -> float:
        i = max(0, bisect.bisect_right(self.beats, beat) - 1)
        return self.seconds[i] + (beat - self.beats[i]) * self.us_per_beat[i] / 1e6

    def seconds_to_beats(self, second: float) -> float:
        i = max(0, bisect.bisect_right(self.seconds, second) - 1)
        return self.beats[i] + (second - self.seconds[i]) * 1e6 / self.us_per_beat[i]

    @property
    def initial_bpm(self) -> float:
        """Tempo at the first beat, after any change made right at the start."""
        return us_to_bpm(self.us_per_beat[0])
