"""The note tracker: every note-on gets its note-off."""

import pytest

from neuraltunes_live.live.notetracker import PLAYER, NoteTracker


def test_start_and_stop():
    tracker = NoteTracker(channel=2)
    assert tracker.start(60, 100) == [(0x92, 60, 100)]
    assert tracker.sounding == {60}
    assert tracker.stop(60) == [(0x82, 60, 0)]
    assert tracker.stop(60) == []  # nothing to end twice
    assert tracker.sounding == frozenset()


def test_restarting_a_sounding_pitch_ends_it_first():
    tracker = NoteTracker()
    tracker.start(64, 90)
    assert tracker.start(64, 70) == [(0x80, 64, 0), (0x90, 64, 70)]
    assert tracker.stop(64) == [(0x80, 64, 0)]
    assert tracker.sounding == frozenset()


def test_close_all_ends_every_open_note_then_sustain_and_all_notes_off():
    tracker = NoteTracker(channel=1)
    for pitch in (67, 60, 64):
        tracker.start(pitch, 80)
    tracker.stop(64)
    assert tracker.close_all() == [(0x81, 60, 0), (0x81, 67, 0), (0xB1, 64, 0), (0xB1, 123, 0)]
    assert tracker.sounding == frozenset()
    assert tracker.close_all() == [(0xB1, 64, 0), (0xB1, 123, 0)]


def test_velocity_is_kept_in_range_and_channel_checked():
    tracker = NoteTracker()
    assert tracker.start(60, 0) == [(0x90, 60, 1)]  # velocity 0 would be a note-off
    assert tracker.start(61, 300) == [(0x90, 61, 127)]
    with pytest.raises(ValueError, match="0..15"):
        NoteTracker(channel=16)


def test_a_note_off_ends_only_the_note_its_owner_struck():
    tracker = NoteTracker(0)
    assert tracker.start(67, 100, PLAYER) == [(0x90, 67, 100)]
    assert tracker.start(67, 90) == [(0x80, 67, 0), (0x90, 67, 90)]  # the answer takes the key over
    assert tracker.stop(67, PLAYER) == []  # the player letting go ends nothing
    assert tracker.stop(67) == [(0x80, 67, 0)]
    assert tracker.start(60, 90) == [(0x90, 60, 90)]
    assert tracker.start(60, 100, PLAYER) == [(0x80, 60, 0), (0x90, 60, 100)]
    assert tracker.stop(60) == []  # the answer's note-off does not cut the player's note
    assert tracker.stop(60, PLAYER) == [(0x80, 60, 0)] and tracker.sounding == frozenset()
