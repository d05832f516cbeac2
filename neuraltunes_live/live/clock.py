"""Time for the live path: one small interface, a real clock and a fake one.

Everything that waits takes a clock with ``now()`` (seconds, monotonic) and
``sleep_until(deadline)``. Deadlines are absolute, so a late wake-up is not
carried into the next one and nothing drifts. ``SystemClock`` sleeps most of
the way and spins the last stretch, because an OS sleep can overshoot by a
millisecond or more; ``FakeClock`` jumps straight to each deadline, so tests
run in no time and see exact event times.
"""

from __future__ import annotations

import threading
import time
from typing import Protocol


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
