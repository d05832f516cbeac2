"""Reading the bytes a MIDI system delivers: one table, malformed input dropped with a reason."""

import pytest

from neuraltunes_live.live.messages import DropCounter, split


@pytest.mark.parametrize(
    "data, messages",
    [
        ((0x90, 60, 100), [(0x90, 60, 100)]),
        ((0x8F, 60, 0), [(0x8F, 60, 0)]),
        ((0xC3, 5), [(0xC3, 5)]),
        ((0xF8,), [(0xF8,)]),
        ((0xF0, 0x7E, 0x7F, 0xF7), [(0xF0, 0x7E, 0x7F, 0xF7)]),
        ((0xF2, 0x10, 0x01), [(0xF2, 0x10, 0x01)]),
        # A real-time byte inside another message is a message of its own, first.
        ((0x90, 0xF8, 60, 100), [(0xF8,), (0x90, 60, 100)]),
        ((0xB0, 21, 0xFE, 64, 0xF8), [(0xFE,), (0xF8,), (0xB0, 21, 64)]),
    ],
)
def test_well_formed_deliveries(data, messages):
    assert split(data) == (messages, None)
    assert split(bytes(data)) == (messages, None)


@pytest.mark.parametrize(
    "data, why",
    [
        ((0xF0, 0x01), "a SysEx without its end (F7)"),
        ((0xF0,), "a SysEx without its end (F7)"),
        ((0xF0, 0x01, 0x90, 0xF7), "a SysEx with a status byte inside"),
        ((60, 100), "data bytes without a status byte"),
        ((0x90,), "0 data bytes after 90, which takes 2"),
        ((0x90, 60, 100, 62, 100), "4 data bytes after 90, which takes 2"),  # running status, two notes in one
        ((0x90, 130, 300), "not bytes"),
        ((0x90, 60, 200), "a data byte above 127 after 90"),
        ((0xF4, 1), "an undefined status byte F4"),
        ((0xF7,), "an undefined status byte F7"),
        ((), "an empty message"),
    ],
)
def test_malformed_deliveries_are_dropped_whole_with_a_reason(data, why):
    assert split(data) == ([], why)


def test_real_time_bytes_survive_a_malformed_rest():
    assert split((0xF0, 0xF8, 0x01)) == ([(0xF8,)], "a SysEx without its end (F7)")


def test_drops_are_told_at_most_once_a_second_with_a_count():
    drops = DropCounter()
    drops.dropped((0xF0, 0x01), "a SysEx without its end (F7)")
    assert drops.due(0.0) == (
        "dropped a malformed MIDI message (the last: F0 01: a SysEx without its end (F7)); still listening"
    )
    for i in range(50):
        drops.dropped((0x90,), "0 data bytes after 90, which takes 2")
    assert drops.due(0.6) is None
    assert drops.due(1.0) == (
        "dropped 50 malformed MIDI messages (the last: 90: 0 data bytes after 90, which takes 2); still listening"
    )
    assert drops.due(5.0) is None and drops.total == 51


def test_channel_messages_leave_out_clock_sysex_and_junk():
    from neuraltunes_live.live.messages import channel_messages

    assert channel_messages(bytes([0xF8, 0x90, 60, 90])) == [(0x90, 60, 90)]  # a pulse inside a note-on
    assert channel_messages((0xF0, 1, 2, 0xF7)) == [] and channel_messages((0x90, 200)) == []
    assert channel_messages([0xB3, 21, 64]) == [(0xB3, 21, 64)]
