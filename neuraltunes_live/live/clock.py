"""Time for the live path: one small interface, a real clock and a fake one.

Everything that waits takes a clock with ``now()`` (seconds, monotonic) and
``sleep_until(deadline)``. Deadlines are absolute, so a late wake-up is not
carried into the next one and nothing drifts. ``SystemClock`` sleeps most of
the way and spins the last stretch, because an OS sleep can overshoot by a
millisecond or more; ``FakeClock`` jumps straight to each deadline, so tests
run in no time and see exact event times. ``FrameClock`` is a JACK server's
timeline: its seconds are frames at the nominal rate, so a time the daemon
plans is an exact frame and a time it hears is the frame an event came in at.
"""

from __future__ import annotations

import threading
import time
from typing import Callable, Protocol


class Clock(Protocol):
    def now(self) -> float: ...

    def sleep_until(self, deadline: float) -> None: ...


class SystemClock:
    """``time.perf_counter``; sleeps, then spins the last ``spin`` seconds."""

    def __init__(self, spin: float = 0.0015):
        self.spin = spin

    def now(self) -> float:
        return time.perf_counter()

    def sleep_until(self, deadline: float) -> None:
        remaining = deadline - time.perf_counter()
        if remaining > self.spin:
            time.sleep(remaining - self.spin)
        while time.perf_counter() < deadline:
            pass


class FakeClock:
    """A clock that moves only when told to, or when someone sleeps on it.

    Thread-safe: several threads may sleep on it; ``advance`` wakes those
    whose deadline has come.
    """

    def __init__(self, start: float = 0.0):
        self._now = start
        self._changed = threading.Condition()
        self.sleeps: list[float] = []  # every deadline slept until, in order

    def now(self) -> float:
        with self._changed:
            return self._now

    def sleep_until(self, deadline: float) -> None:
        with self._changed:
            self.sleeps.append(deadline)
            if deadline > self._now:
                self._now = deadline
                self._changed.notify_all()

    def advance(self, seconds: float) -> None:
        with self._changed:
            self._now += seconds
            self._changed.notify_all()

    def set(self, when: float) -> None:
        with self._changed:
            self._now = max(self._now, when)
            self._changed.notify_all()


class FrameClock:
    """Time as a JACK server counts it: ``now()`` is its current frame over its nominal rate.

    On JACK the daemon runs on this clock, so beats become frames with no
    conversion in between: an answer planned at a steady tempo is a steady
    grid of frames however far the sound card's crystal is from the system's,
    and an input event's time is the frame it arrived at. ``read_frame``
    gives the server's estimate of the current frame (``jack_frame_time``, a
    32-bit counter that wraps after a day at 48 kHz); ``frame`` unwraps it
    and every other 32-bit frame (the process callback's cycle start) against
    the latest frame seen. ``sleep_until`` waits on the system clock for the
    frames still to come, asking the server again after each wait, since only
    it knows how fast its frames go; it never waits much longer than the
    system clock says, so a server that stops counting cannot hold a thread.

    A server that comes back counts from 0 again, maybe at another rate:
    ``follow`` moves the clock onto it with time going on from where it was.
    """

    WRAP = 1 << 32

    def __init__(self, read_frame: Callable[[], int], rate: float, sleep: Callable[[float], None] = time.sleep):
        self._sleep = sleep
        self._lock = threading.Lock()  # held for a few operations: the process callback takes it too
        self.use(read_frame, rate)

    def use(self, read_frame: Callable[[], int], rate: float) -> None:
        """Count time from ``read_frame``'s frame 0 (a server's first start)."""
        with self._lock:
            self._read, self.rate = read_frame, float(rate)
            self._last_raw: int | None = None
            self._last = 0  # the unwrapped frame of _last_raw
            self._base_frame, self._base_seconds = 0, 0.0

    def follow(self, read_frame: Callable[[], int], rate: float) -> None:
        """Go on on another server's frames from the time it is now (a server that came back)."""
        began = self.now()
        raw = read_frame()
        with self._lock:
            self._read, self.rate = read_frame, float(rate)
            self._last_raw, self._last = raw, raw
            self._base_frame, self._base_seconds = raw, began

    def frame(self, raw: int) -> int:
        """The unwrapped frame of a 32-bit one (within half a wrap of the latest seen)."""
        with self._lock:
            if self._last_raw is None:
                self._last_raw, self._last = raw, raw
                return raw
            ahead = (raw - self._last_raw + self.WRAP // 2) % self.WRAP - self.WRAP // 2
            full = self._last + ahead
            if ahead > 0:
                self._last_raw, self._last = raw, full
            return full

    def time_of_frame(self, raw: int) -> float:
        return self._base_seconds + (self.frame(raw) - self._base_frame) / self.rate

    def frame_of(self, t: float) -> int:
        """The (unwrapped) frame of clock time ``t``."""
        return self._base_frame + round((t - self._base_seconds) * self.rate)

    def now(self) -> float:
        return self.time_of_frame(self._read())

    def sleep_until(self, deadline: float) -> None:
        remaining = deadline - self.now()
        give_up = time.monotonic() + remaining + 0.1  # a server that stopped counting
        while remaining > 0 and time.monotonic() < give_up:
            self._sleep(min(remaining, 0.05))
            remaining = deadline - self.now()
