"""Clocks: the fake one jumps to deadlines; the real one never wakes early."""

import threading

import pytest

from neuraltunes_live.live.clock import FakeClock, FrameClock, SystemClock


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


class FakeServer:
    """A JACK server's 32-bit frame counter, moved by hand (or by each sleep)."""

    def __init__(self, frame: int, frames_per_sleep: int = 0):
        self.frame = frame
        self.frames_per_sleep = frames_per_sleep
        self.slept: list[float] = []

    def read(self) -> int:
        return self.frame % (1 << 32)

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.frame += self.frames_per_sleep


def test_frame_clock_time_is_frames_over_the_nominal_rate():
    server = FakeServer(96_000)
    clock = FrameClock(server.read, 48_000)
    assert clock.now() == 2.0
    server.frame += 24_000
    assert clock.now() == 2.5 and clock.frame_of(clock.now()) == 120_000
    assert clock.time_of_frame(120_000 + 480) == 2.51  # a frame the process callback reads


def test_frame_clock_unwraps_the_32_bit_counter_both_ways():
    wrap = 1 << 32
    server = FakeServer(wrap - 1_000)
    clock = FrameClock(server.read, 48_000)
    assert clock.frame(server.read()) == wrap - 1_000
    server.frame = wrap + 500  # the counter wrapped: it reads 500
    assert server.read() == 500 and clock.frame(500) == wrap + 500
    assert clock.frame(wrap - 200) == wrap - 200  # a cycle's start read a little after the wrap: not a day on
    assert clock.frame(800) == wrap + 800


def test_frame_clock_sleeps_for_the_frames_to_come_and_asks_the_server_again():
    # The card runs 1 % slow: each 10 ms wait brings 475 frames, not 480; the clock waits on until they are there.
    server = FakeServer(0, frames_per_sleep=475)
    clock = FrameClock(server.read, 48_000, sleep=server.sleep)
    clock.frame(0)
    clock.sleep_until(0.02)
    assert server.frame == 3 * 475 and 2 * 475 < 960  # woke only once frame 960 had come
    assert server.slept == pytest.approx([0.02, 485 / 48_000, 10 / 48_000])
