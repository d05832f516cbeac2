"""The phrase detector, with exact times (no clock at all)."""

import numpy as np
import pytest

from neuraltunes_live.live.phrase import PhraseDetector

from .fakes import note_off as off
from .fakes import note_on as on

SPB = 0.5  # 120 BPM


def play(detector, events, spb=SPB):
    """Feed (time, message) pairs; return every phrase completed, with its time."""
    found = []
    for t, message in events:
        phrase = detector.feed(t, message, spb) if message else detector.poll(t, spb)
        if phrase is not None:
            found.append(phrase)
    return found


def test_a_phrase_ends_a_silence_after_the_last_key_is_up():
    detector = PhraseDetector(silence_beats=1, min_notes=2)
    events = [
        (10.0, on(60)),
        (10.5, off(60)),
        (10.5, on(62, 64)),
        (11.25, off(62)),
        (11.7, None),
        (11.75, None),
        (11.8, None),
    ]
    (phrase,) = play(detector, events)
    assert phrase.started == 10.0 and phrase.decided == 11.75
    # Quarter note C, then D for a dotted quarter, on the 12-tick grid.
    np.testing.assert_array_equal(phrase.notes, [[0, 60, 12, 100], [12, 62, 18, 64]])
    assert not detector.active


def test_no_end_while_a_key_is_held():
    detector = PhraseDetector(silence_beats=1, max_phrase_beats=100)
    events = [(0.0, on(60)), (0.2, on(64)), (0.4, off(60)), (3.0, None), (5.0, None)]
    assert play(detector, events) == []
    assert detector.active
    (phrase,) = play(detector, [(5.0, off(64)), (5.49, None), (5.5, None)])
    np.testing.assert_array_equal(phrase.notes[:, 1], [60, 64])


def test_too_few_notes_are_ignored():
    detector = PhraseDetector(min_notes=3)
    assert play(detector, [(0, on(60)), (0.1, off(60)), (0.2, on(61)), (0.3, off(61)), (2, None)]) == []
    assert not detector.active


def test_a_long_phrase_is_cut_at_max_beats_with_held_keys_cut_too():
    detector = PhraseDetector(silence_beats=1, max_phrase_beats=4, min_notes=1)
    events = [(0.0, on(48)), (0.5, on(60)), (0.75, off(60)), (1.9, None), (2.0, None)]
    (phrase,) = play(detector, events)
    assert phrase.decided == 2.0
    np.testing.assert_array_equal(phrase.notes, [[0, 48, 48, 100], [12, 60, 6, 100]])
    assert play(detector, [(2.1, off(48)), (5.0, None)]) == []  # the late release is nothing new


def test_other_messages_and_channels_do_not_disturb_it():
    detector = PhraseDetector(channel=0, min_notes=2)
    junk = [
        (0xF8,),
        (0xF0, 0x7E, 0x7F, 0x06, 0x01, 0xF7),
        (0xE0, 0, 64),
        (0xD0, 50),
        (0xA0, 60, 30),
        (0xC0, 5),
        (0xB0, 64, 127),
        (0x91, 60, 100),
        (0x90, 200, 100),
        (),
    ]
    events = [(0.0, on(60))]
    events += [(0.1 + 0.01 * i, message) for i, message in enumerate(junk)]
    events += [(0.5, off(60)), (0.5, on(62)), (1.0, off(62)), (1.5, None)]
    (phrase,) = play(detector, events)
    np.testing.assert_array_equal(phrase.notes, [[0, 60, 12, 100], [12, 62, 12, 100]])


def test_velocity_zero_note_on_is_a_release_and_omni_hears_every_channel():
    detector = PhraseDetector(min_notes=2)
    events = [
        (0.0, on(60, channel=3)),
        (0.5, on(60, 0, channel=3)),
        (0.5, on(67, channel=9)),
        (1.0, off(67, channel=9)),
        (1.5, None),
    ]
    (phrase,) = play(detector, events)
    np.testing.assert_array_equal(phrase.notes[:, :3], [[0, 60, 12], [12, 67, 12]])


def test_tempo_sets_the_grid():
    detector = PhraseDetector(min_notes=2)
    events = [(0.0, on(60)), (1.0, off(60)), (1.0, on(62)), (2.0, off(62)), (3.0, None)]
    (phrase,) = play(detector, events, spb=1.0)  # 60 BPM: each note a beat
    np.testing.assert_array_equal(phrase.notes[:, [0, 2]], [[0, 12], [12, 12]])
    (fast,) = play(PhraseDetector(min_notes=2), events, spb=0.25)  # 240 BPM: four beats each
    np.testing.assert_array_equal(fast.notes[:, [0, 2]], [[0, 48], [48, 48]])


def test_restruck_key_without_release_makes_two_notes():
    detector = PhraseDetector(min_notes=2)
    events = [(0.0, on(60)), (0.25, on(60)), (0.5, off(60)), (1.5, None)]
    (phrase,) = play(detector, events)
    np.testing.assert_array_equal(phrase.notes[:, :3], [[0, 60, 6], [6, 60, 6]])


def _done(rows, spb=0.5):
    """(start beat, length in beats, pitch) rows as the detector keeps them, in seconds at ``spb``."""
    return [(b * spb, (b + n) * spb, p, 80) for b, n, p in rows]


def test_how_long_the_silence_that_ends_a_phrase_is_depends_on_how_it_ended():
    from neuraltunes_live.live.phrase import end_wait

    scale_up = [(i, 0.9, p) for i, p in enumerate([60, 62, 64, 65, 67, 69, 71])]
    assert end_wait(_done(scale_up + [(7, 0.9, 72)]), 0.0, 0.5, 1.0) == 0.5  # home on the tonic, on a beat
    assert end_wait(_done(scale_up[:4] + [(4, 2.0, 67)]), 0.0, 0.5, 1.0) == 1.0  # a held note alone: no landing
    assert end_wait(_done(scale_up[:5] + [(5, 0.4, 69)]), 0.0, 0.5, 1.0) == 1.5  # a short note: a breath
    assert end_wait(_done(scale_up[:3]), 0.0, 0.5, 1.0) == 1.0  # nothing says either: the fixed time
    assert end_wait(_done(scale_up[:6] + [(6.5, 0.9, 72)]), 0.0, 0.5, 1.0) == 1.0  # the tonic off the beat
    assert end_wait(_done([(0, 0.9, 60)]), 0.0, 0.5, 1.0) == 1.0


@pytest.mark.parametrize("adaptive, cut", [(True, False), (False, True)])
def test_a_breath_after_a_short_note_does_not_cut_the_phrase_when_the_end_adapts(adaptive, cut):
    detector = PhraseDetector(silence_beats=1.0, adaptive=adaptive)
    spb, phrases = 0.5, []
    line = [(0.0, 60, 0.45), (0.5, 62, 0.45), (1.0, 64, 0.45), (1.5, 65, 0.2)]  # the last note short ...
    line += [(2.3, 67, 0.45), (2.8, 65, 0.45)]  # ... then 1.2 beats of breath, and the line goes on
    events = sorted([(t, (0x90, p, 80)) for t, p, _ in line] + [(t + d, (0x80, p, 0)) for t, p, d in line])
    t = 0.0
    while t < 6.0:
        while events and events[0][0] <= t:
            found = detector.feed(*events.pop(0), spb)
            phrases += [found] if found else []
        found = detector.poll(t, spb)
        phrases += [found] if found else []
        t = round(t + 0.005, 3)
    assert [len(p.notes) for p in phrases] == ([4, 2] if cut else [6])
