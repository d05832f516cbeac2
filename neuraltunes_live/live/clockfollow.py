"""Following a DAW's MIDI clock: 24 pulses a quarter note, Start/Stop/Continue, SPP.

The follower turns clock messages, with the time each arrived, into a beat
position and a tempo. The tempo is the mean pulse interval over the last beat
(24 pulses): MIDI clock jitters by a millisecond or more per pulse on a busy
machine, and a beat's worth of smoothing keeps the estimate steady while still
following a tempo change within one beat. Song Position Pointer sets the
position in 16ths while stopped; Continue resumes from it, Start from zero.

It is a ``Timeline`` for the scheduler and the engine, and thread-safe: the
generator thread feeds it while the scheduler thread asks it for deadlines.
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass

from neuraltunes_live.live.messages import Message

PULSES_PER_BEAT = 24
CLOCK, START, CONTINUE, STOP, SONG_POSITION = 0xF8, 0xFA, 0xFB, 0xFC, 0xF2


@dataclass(frozen=True)
class ClockEvent:
    kind: str  # "start", "continue", "stop"
    time: float


class ClockFollower:
    """State of the external clock; feed it every message, ``beat_at`` answers."""

    def __init__(self, smoothing_pulses: int = PULSES_PER_BEAT):
        self.running = False
        self._pulses = -1  # position of the last pulse, in pulses from zero
        self._last_pulse_time: float | None = None
        self._intervals: deque[float] = deque(maxlen=smoothing_pulses)
        self._lock = threading.Lock()

    def feed(self, t: float, message: Message) -> ClockEvent | None:
        """Take one message at time ``t``; a ClockEvent on start, continue and stop."""
        if not message:
            return None
        with self._lock:
            return self._feed(t, message)

    def _feed(self, t: float, message: Message) -> ClockEvent | None:
        status = message[0]
        if status == CLOCK:
            if self.running:
                if self._last_pulse_time is not None:
                    interval = t - self._last_pulse_time
                    if 0 < interval < 1.0:  # a gap of a second is a pause, not a tempo
                        self._intervals.append(interval)
                self._pulses += 1
                self._last_pulse_time = t
            return None
        if status == START:
            self._pulses = -1  # the first pulse after Start is beat 0
            return self._run(t, "start")
        if status == CONTINUE:
            return self._run(t, "continue")
        if status == STOP:
            self.running = False
            self._last_pulse_time = None
            return ClockEvent("stop", t)
        if status == SONG_POSITION and len(message) >= 3 and not self.running:
            sixteenths = (message[1] & 0x7F) | ((message[2] & 0x7F) << 7)
            self._pulses = sixteenths * 6 - 1  # the next pulse is at the position
        return None

    def _run(self, t: float, kind: str) -> ClockEvent:
        self.running = True
        self._last_pulse_time = None
        return ClockEvent(kind, t)

    @property
    def seconds_per_beat(self) -> float | None:
        """Smoothed tempo, or None before two pulses have arrived."""
        with self._lock:
            return self._seconds_per_beat()

    def _seconds_per_beat(self) -> float | None:
        if not self._intervals:
            return None
        return PULSES_PER_BEAT * sum(self._intervals) / len(self._intervals)

    @property
    def bpm(self) -> float | None:
        spb = self.seconds_per_beat
        return None if spb is None else 60.0 / spb

    def beat_at(self, t: float) -> float | None:
        """The beat position at time ``t``, extrapolated from the last pulse."""
        with self._lock:
            return self._beat_at(t)

    def _beat_at(self, t: float) -> float | None:
        if not self.running or self._last_pulse_time is None:
            return None
        beat = self._pulses / PULSES_PER_BEAT
        spb = self._seconds_per_beat()
        if spb is None:
            return beat
        # Never run more than a pulse past the last one: if pulses stop coming,
        # time stops too, rather than racing ahead on a guess.
        ahead = min((t - self._last_pulse_time) / spb, 1 / PULSES_PER_BEAT)
        return beat + max(0.0, ahead)

    def time_of(self, beat: float) -> float | None:
        """When ``beat`` will come at the current tempo (None if stopped or unknown)."""
        with self._lock:
            spb = self._seconds_per_beat()
            if not self.running or self._last_pulse_time is None or spb is None:
                return None
            return self._last_pulse_time + (beat - self._pulses / PULSES_PER_BEAT) * spb
