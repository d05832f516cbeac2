"""Knobs onto live parameters."""

import pytest

from neuraltunes_live.config import ControlSettings
from neuraltunes_live.live.controls import (
    Controls,
    KnobLearner,
    LiveParameters,
    bars_of,
    mode_of,
    style_of,
    temperature_of,
    texture_of,
)


def cc(controller, value, channel=0):
    return (0xB0 | channel, controller, value)


def test_temperature_curve_is_even_in_ratio_with_one_in_the_middle():
    assert temperature_of(0, 0.5, 2.0) == pytest.approx(0.5)
    assert temperature_of(127, 0.5, 2.0) == pytest.approx(2.0)
    assert temperature_of(63.5, 0.5, 2.0) == pytest.approx(1.0)


def test_bars_and_style_ranges():
    assert [bars_of(v, 16) for v in (0, 8, 64, 127)] == [1, 2, 9, 16]
    assert [style_of(v) for v in (0, 42, 43, 85, 86, 127)] == [
        "balanced",
        "balanced",
        "creative",
        "creative",
        "structured",
        "structured",
    ]


def test_each_knob_changes_its_parameter_and_says_so():
    controls = Controls(ControlSettings(), LiveParameters())
    assert controls.handle(cc(21, 127)) == "temperature"
    assert controls.current.temperature == pytest.approx(2.0)
    assert controls.handle(cc(22, 0)) == "bars" and controls.current.bars == 1
    assert controls.handle(cc(23, 100)) == "style" and controls.current.style == "structured"
    assert controls.handle(cc(24, 64)) == "mode" and controls.current.mode == "continuous"
    assert controls.handle(cc(24, 80)) is None  # no change, nothing to do
    # Thirds of the range: call 0-42, continuous 43-85, accompany 86-127.
    modes = [mode_of(v) for v in (0, 42, 43, 85, 86, 127)]
    assert modes == ["call", "call", "continuous", "continuous", "accompany", "accompany"]
    assert controls.handle(cc(29, 0)) == "activity" and controls.current.activity == pytest.approx(0.25)
    assert controls.handle(cc(29, 127)) == "activity" and controls.current.activity == pytest.approx(4.0)
    assert controls.handle(cc(30, 127)) == "register" and controls.current.register == 72
    assert controls.handle(cc(30, 0)) == "register" and controls.current.register == 36
    textures = [texture_of(v) for v in (0, 31, 32, 64, 96, 127)]
    assert textures == ["block", "block", "broken", "bass", "counter", "counter"]
    assert controls.handle(cc(31, 100)) == "texture" and controls.current.texture == "counter"


def test_panic_fires_once_per_press():
    controls = Controls(ControlSettings(), LiveParameters())
    assert [controls.handle(cc(25, v)) for v in (127, 127, 0, 100)] == ["panic", None, None, "panic"]


def test_other_messages_and_channels_are_ignored():
    controls = Controls(ControlSettings(channel=3), LiveParameters())
    before = controls.current
    for message in [cc(21, 127, channel=0), (0x90, 21, 127), (0xB2, 99, 5), (0xB2, 21), (0xB2, 21, 300), ()]:
        assert controls.handle(message) is None
    assert controls.current == before
    assert controls.handle(cc(21, 0, channel=2)) == "temperature"


def test_learning_takes_knobs_on_any_channel_or_only_on_the_chosen_one():
    chosen = KnobLearner(channel=4)  # [controls] channel = 5
    assert chosen.feed(cc(74, 10)) is None  # a knob on channel 1: passed over
    assert chosen.feed(cc(74, 10, channel=4)) == ("temperature", 74)
    assert chosen.feed(cc(71, 10, channel=3)) is None
    assert chosen.feed(cc(71, 10, channel=4)) == ("bars", 71)
    anywhere = KnobLearner()
    assert anywhere.feed(cc(74, 10, channel=9)) == ("temperature", 74)
    assert anywhere.feed(cc(71, 10)) == ("bars", 71)
