"""Tempo maps: beats and seconds across tempo changes."""

import pytest

from neuraltunes_live.core.tempo import TempoMap, bpm_to_us


def test_constant_tempo():
    tempo = TempoMap.constant(90)
    assert tempo.beats_to_seconds(3) == pytest.approx(2.0)
    assert tempo.seconds_to_beats(2.0) == pytest.approx(3.0)


def test_changes_in_beats_accumulate_seconds():
    # 4 beats at 120 (2 s), then 60 bpm.
    tempo = TempoMap.from_beat_changes([(4, bpm_to_us(60)), (0, bpm_to_us(120))])
    assert tempo.beats_to_seconds(4) == pytest.approx(2.0)
    assert tempo.beats_to_seconds(6) == pytest.approx(4.0)
    assert tempo.seconds_to_beats(3.0) == pytest.approx(5.0)
    assert tempo.initial_bpm == pytest.approx(120)


def test_default_before_first_change_is_120_bpm():
    tempo = TempoMap.from_beat_changes([(2, bpm_to_us(60))])
    assert tempo.beats_to_seconds(2) == pytest.approx(1.0)
    assert tempo.beats_to_seconds(3) == pytest.approx(2.0)


def test_later_change_at_same_position_wins():
    tempo = TempoMap.from_beat_changes([(0, bpm_to_us(100)), (0, bpm_to_us(150))])
    assert tempo.initial_bpm == pytest.approx(150)


def test_changes_in_seconds_match_the_same_changes_in_beats():
    in_beats = TempoMap.from_beat_changes([(4, bpm_to_us(60)), (8, bpm_to_us(180))])
    in_seconds = TempoMap.from_second_changes([(2.0, bpm_to_us(60)), (6.0, bpm_to_us(180))])
    for beat in [0, 1.5, 4, 7, 8, 11.25]:
        assert in_seconds.beats_to_seconds(beat) == pytest.approx(in_beats.beats_to_seconds(beat))
        second = in_beats.beats_to_seconds(beat)
        assert in_seconds.seconds_to_beats(second) == pytest.approx(beat)
