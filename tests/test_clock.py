"""Clocks: the fake one jumps to deadlines; the real one never wakes early."""

import threading

from neuraltunes_live.live.clock import FakeClock, SystemClock


def test_fake_clock_jumps_to_deadlines_and_records_them():
    clock = FakeClock(10.0)
    clock.sleep_until(10.5)
    clock.sleep_until(10.25)  # already past: no time goes back
    assert clock.now() == 10.5
    clock.advance(1.0)
    assert clock.now() == 11.5
    assert clock.sleeps == [10.5, 10.25]


def test_fake_clock_is_shared_between_threads():
    clock = FakeClock()
    seen = []
    worker = threading.Thread(target=lambda: (clock.sleep_until(2.0), seen.append(clock.now())))
    worker.start()
    worker.join(timeout=5)
    assert seen == [2.0] and clock.now() == 2.0


def test_system_clock_does_not_wake_before_the_deadline():
    clock = SystemClock()
    for delay in (0.0, 0.0005, 0.003):
        deadline = clock.now() + delay
        clock.sleep_until(deadline)
        assert clock.now() >= deadline  # never early; how late is the benchmark's business
