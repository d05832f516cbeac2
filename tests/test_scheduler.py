"""The scheduler with a fake clock: exact event lists, nothing left sounding."""

import threading

import pytest

from neuraltunes_live.live.clock import FakeClock
from neuraltunes_live.live.notetracker import NoteTracker
from neuraltunes_live.live.scheduler import FixedTempo, Scheduler


class StoppedThenRunning:
    """A timeline whose time is stopped until ``start`` is called."""

    def __init__(self):
        self.tempo = None

    def time_of(self, beat):
        return None if self.tempo is None else self.tempo.time_of(beat)


def make(clock=None, timeline=None):
    clock = clock or FakeClock()
    sent = []
    scheduler = Scheduler(
        clock, lambda m: sent.append((clock.now(), m)), NoteTracker(0), timeline or FixedTempo(origin=0.0, bpm=120)
    )
    return scheduler, sent, clock


def test_notes_go_out_at_their_beats():
    scheduler, sent, _ = make()
    scheduler.submit(1.0, 62, 0.5, 80)
    scheduler.submit(0.0, 60, 1.0, 100)
    scheduler.run_until_idle()
    assert sent == [
        (0.0, (0x90, 60, 100)),
        (0.5, (0x80, 60, 0)),
        (0.5, (0x90, 62, 80)),
        (0.75, (0x80, 62, 0)),
    ]


def test_same_pitch_repeated_back_to_back_ends_before_it_starts_again():
    scheduler, sent, _ = make()
    scheduler.submit(0.0, 60, 1.0, 90)
    scheduler.submit(1.0, 60, 1.0, 90)
    scheduler.run_until_idle()
    assert [m for _, m in sent] == [(0x90, 60, 90), (0x80, 60, 0), (0x90, 60, 90), (0x80, 60, 0)]


def test_overlapping_same_pitch_never_leaves_a_note_open():
    scheduler, sent, _ = make()
    scheduler.submit(0.0, 60, 2.0, 90)
    scheduler.submit(1.0, 60, 0.5, 70)
    scheduler.run_until_idle()
    assert [m for _, m in sent] == [(0x90, 60, 90), (0x80, 60, 0), (0x90, 60, 70), (0x80, 60, 0)]
    assert scheduler.tracker.sounding == frozenset()


def test_cancel_ends_sounding_notes_of_that_response_only():
    scheduler, sent, clock = make()
    scheduler.submit(0.0, 60, 4.0, 90, response=1)
    scheduler.submit(0.0, 48, 4.0, 90, response=2)
    scheduler.submit(1.0, 62, 1.0, 90, response=1)
    scheduler.run_once()
    scheduler.run_once()  # both note-ons out at 0.0
    clock.set(0.2)
    scheduler.cancel(response=1)
    scheduler.run_until_idle()
    assert sent == [(0.0, (0x90, 60, 90)), (0.0, (0x90, 48, 90)), (0.2, (0x80, 60, 0)), (2.0, (0x80, 48, 0))]


def test_silence_closes_everything_and_drops_the_rest():
    scheduler, sent, clock = make()
    scheduler.submit(0.0, 60, 4.0, 90)
    scheduler.submit(0.0, 64, 4.0, 90)
    scheduler.submit(3.0, 67, 1.0, 90)
    scheduler.run_once()
    scheduler.run_once()
    clock.set(1.0)
    scheduler.silence()
    assert scheduler.pending() == 0
    assert [m for _, m in sent[2:]] == [(0x80, 60, 0), (0x80, 64, 0), (0xB0, 64, 0), (0xB0, 123, 0)]


def test_waits_are_short_absolute_steps_and_follow_a_tempo_change():
    scheduler, sent, clock = make()
    scheduler.submit(4.0, 60, 1.0, 90)
    scheduler.run_once()  # waits at most max_wait toward beat 4 (2.0 s at 120 BPM)
    assert clock.now() == pytest.approx(0.005)
    scheduler.set_timeline(FixedTempo(origin=0.0, bpm=60))  # beat 4 is now at 4.0 s
    scheduler.run_until_idle()
    assert sent[0] == (4.0, (0x90, 60, 90))
    assert sent[1] == (5.0, (0x80, 60, 0))


def test_stopped_time_holds_events_until_it_runs():
    timeline = StoppedThenRunning()
    scheduler, sent, clock = make(timeline=timeline)
    scheduler.submit(0.0, 60, 1.0, 90)
    for _ in range(10):
        scheduler.run_once()
    assert sent == [] and clock.now() == pytest.approx(0.05)
    timeline.tempo = FixedTempo(origin=1.0, bpm=120)
    scheduler.run_until_idle()
    assert sent == [(1.0, (0x90, 60, 90)), (1.5, (0x80, 60, 0))]


def test_thread_loop_silences_on_stop():
    scheduler, sent, clock = make()
    scheduler.submit(0.0, 60, 1000.0, 90)
    stop = threading.Event()
    worker = threading.Thread(target=scheduler.run, args=(stop,))
    first = threading.Event()
    scheduler.send = lambda m: (sent.append((clock.now(), m)), first.set())
    worker.start()
    # The fake clock never sleeps: the note-on goes out at once. Wait for it
    # to be sent (with a limit), rather than spinning for ever.
    assert first.wait(timeout=10), "the scheduler thread sent nothing"
    stop.set()
    worker.join(timeout=5)
    assert not worker.is_alive()
    assert [m for _, m in sent] == [(0x90, 60, 90), (0x80, 60, 0), (0xB0, 64, 0), (0xB0, 123, 0)]


def test_cut_ends_a_response_at_a_beat_and_leaves_the_rest():
    scheduler, sent, _ = make()
    scheduler.submit(0.0, 60, 3.0, 100, response=1)  # sounds across the cut: its note-off moves to beat 2
    scheduler.submit(1.0, 62, 0.5, 90, response=1)  # before the cut: untouched
    scheduler.submit(2.0, 64, 1.0, 80, response=1)  # at the cut: dropped
    scheduler.submit(2.5, 67, 1.0, 70, response=2)  # another response: untouched
    scheduler.cut(1, 2.0)
    scheduler.run_until_idle()
    assert sent == [
        (0.0, (0x90, 60, 100)),
        (0.5, (0x90, 62, 90)),
        (0.75, (0x80, 62, 0)),
        (1.0, (0x80, 60, 0)),
        (1.25, (0x90, 67, 70)),
        (1.75, (0x80, 67, 0)),
    ]


class TimedList:
    """A fake timed output: records what is handed over, when, with which time; and each retraction."""

    def __init__(self, clock, lead=0.03):
        self.clock = clock
        self.lead = lead
        self.log: list[tuple] = []

    def send_at(self, t, message, tag):
        self.log.append(("at", self.clock.now(), t, message, tag))

    def retract(self, tag, after):
        self.log.append(("retract", self.clock.now(), tag, after))


def make_timed(lead=0.03):
    clock = FakeClock()
    timed = TimedList(clock, lead)
    sent = []

    def send(message):
        timed.log.append(("now", clock.now(), message))
        sent.append(message)

    scheduler = Scheduler(clock, send, NoteTracker(0), FixedTempo(origin=1.0, bpm=120), timed=timed)
    return scheduler, timed, clock


def test_a_timed_output_gets_each_event_its_lead_ahead_with_its_exact_time():
    scheduler, timed, _ = make_timed(lead=0.03)
    scheduler.submit(0.0, 60, 1.0, 100, response=4)
    scheduler.submit(1.0, 62, 0.5, 80, response=4)
    scheduler.run_until_idle()
    assert timed.log == [
        ("at", pytest.approx(0.97), 1.0, (0x90, 60, 100), 4),
        ("at", pytest.approx(1.47), 1.5, (0x80, 60, 0), 4),
        ("at", pytest.approx(1.47), 1.5, (0x90, 62, 80), 4),
        ("at", pytest.approx(1.72), 1.75, (0x80, 62, 0), 4),
    ]
    assert scheduler.lead == 0.03


def test_silence_takes_back_what_was_handed_over_before_closing_every_note():
    scheduler, timed, clock = make_timed(lead=0.03)
    scheduler.submit(0.0, 60, 1.0, 100, response=1)
    scheduler.submit(0.5, 64, 1.0, 100, response=1)
    while len(timed.log) < 2:  # both note-ons handed over (waits in steps of max_wait until each one's lead)
        scheduler.run_once()
    scheduler.silence()
    kinds = [entry[0] for entry in timed.log]
    assert kinds == ["at", "at", "retract", "now", "now", "now", "now"]
    assert timed.log[2][2:] == (None, None)  # every response's unwritten note-ons, whenever due
    assert [entry[2] for entry in timed.log[3:]] == [(0x80, 60, 0), (0x80, 64, 0), (0xB0, 64, 0), (0xB0, 123, 0)]


def test_cancel_and_cut_take_back_only_that_response_and_only_from_the_cut():
    scheduler, timed, _ = make_timed()
    scheduler.submit(0.0, 60, 4.0, 100, response=1)
    scheduler.submit(0.0, 67, 4.0, 100, response=2)
    scheduler.cut(2, 2.0)  # beat 2 is 1 s after the origin
    scheduler.cancel(1)
    retractions = [entry[2:] for entry in timed.log if entry[0] == "retract"]
    assert retractions == [(2, 2.0), (1, None)]
