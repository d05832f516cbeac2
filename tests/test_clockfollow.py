"""Following MIDI clock: tempo, position, start/stop/continue, song position."""

import pytest

from neuraltunes_live.live.clockfollow import ClockFollower

CLOCK, START, CONTINUE, STOP = (0xF8,), (0xFA,), (0xFB,), (0xFC,)


def pulses(follower, start, count, interval):
    t = start
    for _ in range(count):
        follower.feed(t, CLOCK)
        t += interval
    return t - interval  # time of the last pulse


def test_tempo_and_position_after_start():
    follower = ClockFollower()
    assert follower.feed(0.0, START).kind == "start"
    last = pulses(follower, 0.0, 49, 0.5 / 24)  # 120 BPM, two beats and a pulse
    assert follower.bpm == pytest.approx(120)
    assert follower.beat_at(last) == pytest.approx(2.0)
    assert follower.beat_at(last + 0.5 / 48) == pytest.approx(2.0 + 1 / 48)
    assert follower.time_of(3.0) == pytest.approx(last + 0.5)


def test_position_does_not_race_ahead_when_pulses_stop():
    follower = ClockFollower()
    follower.feed(0.0, START)
    last = pulses(follower, 0.0, 25, 0.5 / 24)
    assert follower.beat_at(last + 10) == pytest.approx(1.0 + 1 / 24)


def test_tempo_change_is_followed_within_a_beat():
    follower = ClockFollower()
    follower.feed(0.0, START)
    last = pulses(follower, 0.0, 48, 0.5 / 24)
    pulses(follower, last + 0.25 / 24, 24, 0.25 / 24)  # now 240 BPM
    assert follower.bpm == pytest.approx(240)


def test_jitter_is_smoothed():
    follower = ClockFollower()
    follower.feed(0.0, START)
    t = 0.0
    for i in range(48):
        follower.feed(t + (0.001 if i % 2 else -0.001), CLOCK)
        t += 0.5 / 24
    assert follower.bpm == pytest.approx(120, rel=0.01)


def test_stop_song_position_and_continue():
    follower = ClockFollower()
    follower.feed(0.0, START)
    pulses(follower, 0.0, 30, 0.5 / 24)
    assert follower.feed(1.0, STOP).kind == "stop"
    assert follower.beat_at(1.1) is None and follower.time_of(4) is None
    follower.feed(1.2, (0xF2, 8, 0))  # 8 sixteenths: beat 2
    assert follower.feed(1.5, CONTINUE).kind == "continue"
    follower.feed(1.5, CLOCK)
    assert follower.beat_at(1.5) == pytest.approx(2.0)
    follower.feed(1.5 + 0.5 / 24, CLOCK)
    follower.feed(1.6, STOP)
    follower.feed(1.7, CONTINUE)  # no position given: go on from the next pulse
    follower.feed(1.7, CLOCK)
    assert follower.beat_at(1.7) == pytest.approx(2.0 + 2 / 24)
    follower.feed(2.0, START)
    follower.feed(2.0, CLOCK)
    assert follower.beat_at(2.0) == 0.0


def test_other_messages_are_ignored():
    follower = ClockFollower()
    for message in [(), (0x90, 60, 100), (0xF0, 1, 2, 0xF7), (0xF2, 1)]:
        assert follower.feed(0.0, message) is None
    assert not follower.running and follower.bpm is None
