"""Call and response with a fake clock and a scripted model: exact events."""

from dataclasses import replace

import numpy as np
import pytest

from neuraltunes_live.config import Config, ControlSettings, LiveSettings
from neuraltunes_live.core.notes import TICKS_PER_BEAT
from neuraltunes_live.live.clock import FakeClock
from neuraltunes_live.live.controls import Controls, LiveParameters
from neuraltunes_live.live.engine import Engine
from neuraltunes_live.live.notetracker import NoteTracker
from neuraltunes_live.live.scheduler import FixedTempo, Scheduler

from .fakes import ScriptedModel, quarter_notes_of
from .fakes import note_off as off
from .fakes import note_on as on

STYLES = {name: Config().style(name) for name in ("balanced", "creative", "structured")}


class AtTheirTimes:
    """A timed output (as JACK's): takes events ``lead`` ahead; records each at the time it is due."""

    def __init__(self, clock, sent, lead):
        self.clock, self.sent, self.lead = clock, sent, lead
        self.early: list[float] = []  # how long before its time each event was handed over

    def send_at(self, t, message, tag):
        self.sent.append((round(t, 6), message))
        self.early.append(t - self.clock.now())

    def retract(self, tag, after):
        pass


class Rig:
    def __init__(self, model, settings=LiveSettings(), live=LiveParameters(bars=1), bpm=120, styles=STYLES, lead=None):
        self.clock = FakeClock()
        self.sent = []
        self.timeline = FixedTempo(origin=0.0, bpm=bpm)
        self.scheduler = Scheduler(
            self.clock,
            lambda m: self.sent.append((round(self.clock.now(), 6), m)),
            NoteTracker(0),
            self.timeline,
            timed=None if lead is None else AtTheirTimes(self.clock, self.sent, lead),
        )
        self.controls = Controls(ControlSettings(), live)
        self.engine = Engine(
            model, self.scheduler, self.timeline, self.controls, styles, settings, np.random.default_rng(0)
        )

    def run(self, inputs, until, step=0.005):
        inputs = sorted(inputs, key=lambda item: item[0])
        while self.clock.now() < until:
            now = self.clock.now()
            while inputs and inputs[0][0] <= now:
                t, message = inputs.pop(0)
                self.engine.handle(t, message)
            self.engine.tick(now)
            before, sent = self.clock.now(), len(self.sent)
            self.scheduler.run_once()
            if self.clock.now() == before and len(self.sent) == sent:  # nothing due now: time moves on
                self.clock.advance(step)

    def notes_on(self):
        return [(t, m[1]) for t, m in self.sent if m[0] & 0xF0 == 0x90 and m[2] > 0]


# Three slightly detached quarter notes at 120 BPM; the last key is up at
# 1.45 s, so one beat of silence completes the phrase at 1.95 s.
PHRASE = [(0.0, on(60)), (0.45, off(60)), (0.5, on(62)), (0.95, off(62)), (1.0, on(64)), (1.45, off(64))]


def test_response_starts_on_the_next_beat_after_the_silence_and_keeps_tempo():
    rig = Rig(ScriptedModel(quarter_notes_of(67)), live=LiveParameters(bars=1))
    rig.run(PHRASE, until=6.0)
    # Complete at 1.95 s; the response starts on the next beat (beat 4, 2.0 s):
    # one bar of quarter notes.
    assert rig.notes_on() == [(2.0, 67), (2.5, 67), (3.0, 67), (3.5, 67)]
    assert rig.scheduler.tracker.sounding == frozenset()
    ons = sum(1 for _, m in rig.sent if m[0] == 0x90)
    offs = sum(1 for _, m in rig.sent if m[0] == 0x80)
    assert ons == offs == 4


@pytest.mark.parametrize("lead", [0.0, 0.03, 0.045])
def test_an_output_that_takes_notes_ahead_hears_the_phrase_end_that_much_sooner_and_answers_on_the_same_beat(lead):
    # The silence ends at 1.95 s; the beat it ends on is 2.0 s. Handed over 30 or 45 ms ahead, the
    # first note still makes beat 4 (the phrase was found complete at 1.92 or 1.905 s, not 1.95).
    rig = Rig(ScriptedModel(quarter_notes_of(67)), live=LiveParameters(bars=1), lead=lead)
    rig.run(PHRASE, until=6.0)
    assert rig.notes_on() == [(2.0, 67), (2.5, 67), (3.0, 67), (3.5, 67)]
    assert min(rig.scheduler.timed.early) == pytest.approx(lead)  # each handed over its lead ahead, none later


def test_start_on_the_bar_line_or_at_once():
    late = [(0.0, on(60)), (0.45, off(60)), (0.5, on(62)), (1.7, off(62))]  # complete at 2.2 s
    rig = Rig(ScriptedModel(quarter_notes_of(67)), settings=LiveSettings(start="bar"))
    rig.run(late, until=6.0)
    assert rig.notes_on()[0] == (4.0, 67)  # the next bar line: beat 8
    rig = Rig(ScriptedModel(quarter_notes_of(67)), settings=LiveSettings(start="beat"))
    rig.run(late, until=6.0)
    assert rig.notes_on()[0] == (2.5, 67)  # the next beat: beat 5
    rig = Rig(ScriptedModel(quarter_notes_of(67)), settings=LiveSettings(start="immediate"))
    rig.run(late, until=6.0)
    assert rig.notes_on()[0][0] == pytest.approx(2.2, abs=0.006)


def test_a_phrase_complete_just_after_a_beat_still_answers_on_it():
    on_the_beat = [(0.0, on(60)), (0.5, off(60)), (0.5, on(62)), (1.5, off(62))]  # complete at 2.0 s
    rig = Rig(ScriptedModel(quarter_notes_of(67)))
    rig.run(on_the_beat, until=4.0)
    first = rig.notes_on()[0]
    assert first[1] == 67 and 2.0 <= first[0] <= 2.0 + 0.006  # at most one tick late


def test_playing_interrupts_the_response_cleanly():
    rig = Rig(ScriptedModel(quarter_notes_of(67)), live=LiveParameters(bars=4))
    rig.run(PHRASE + [(2.7, on(72))], until=3.5)
    starts = rig.notes_on()
    assert starts == [(2.0, 67), (2.5, 67)]
    # The note started at 2.5 s is ended when the key comes in (at the next
    # engine tick, 5 ms here), and nothing more follows.
    t, message = rig.sent[-1]
    assert message == (0x80, 67, 0) and 2.7 <= t <= 2.706
    assert rig.scheduler.tracker.sounding == frozenset()


def test_panic_silences_everything():
    rig = Rig(ScriptedModel(quarter_notes_of(67)), live=LiveParameters(bars=4))
    rig.run(PHRASE + [(2.2, (0xB0, 25, 127))], until=3.0)
    assert rig.notes_on() == [(2.0, 67)]
    assert [m for _, m in rig.sent[-3:]] == [(0x80, 67, 0), (0xB0, 64, 0), (0xB0, 123, 0)]
    assert all(2.2 <= t <= 2.206 for t, _ in rig.sent[-3:])


def test_continuous_mode_keeps_playing_within_the_lookahead():
    # The loop guard off: the scripted model plays one note for ever.
    unguarded = {name: replace(style, max_repeats=0) for name, style in STYLES.items()}
    rig = Rig(
        ScriptedModel(quarter_notes_of(67)),
        settings=LiveSettings(lookahead_beats=2),
        live=LiveParameters(mode="continuous"),
        styles=unguarded,
    )
    rig.run(PHRASE, until=4.0)
    assert len(rig.notes_on()) == 4  # beats 4..7 at 2.0..3.5 s, still going
    assert rig.scheduler.last_beat() <= rig.timeline.beat_at(4.0) + 2 + 1


def test_the_temperature_knob_changes_how_varied_the_response_is():
    # A model that mildly prefers one pitch: cold keeps to it, hot wanders.
    def varied(cc_value):
        rig = Rig(ScriptedModel(quarter_notes_of(67), strength=4.0), live=LiveParameters(bars=8))
        rig.run([(-0.1, (0xB0, 21, cc_value))] + PHRASE, until=20.0)
        return len({p for _, p in rig.notes_on()})

    assert varied(0) < varied(127)


def test_junk_and_other_channels_do_not_interrupt_the_response():
    rig = Rig(ScriptedModel(quarter_notes_of(67)), settings=LiveSettings(input_channel=1), live=LiveParameters(bars=1))
    junk = [(2.2, (0x90, 200, 100)), (2.3, (0x91, 60, 100)), (2.4, (0x90, 60)), (2.6, (0xF8,))]
    rig.run(PHRASE + junk, until=6.0)
    assert rig.notes_on() == [(2.0, 67), (2.5, 67), (3.0, 67), (3.5, 67)]


@pytest.mark.parametrize(
    "start_beat, onset, start, beat",
    [
        (8.0, 0, "beat", 8.0),
        (8.0, 3 * TICKS_PER_BEAT // 2, "beat", 8.5),
        (8.0, 5 * TICKS_PER_BEAT // 2, "beat", 8.5),
        (8.25, 5 * TICKS_PER_BEAT // 2, "immediate", 8.25),
    ],
)
def test_an_answer_starts_in_its_start_beat_where_the_model_placed_it(start_beat, onset, start, beat):
    from neuraltunes_live.live.engine import answer_offset

    assert answer_offset(start_beat, onset, start) + onset / TICKS_PER_BEAT == beat


def test_an_answer_that_follows_the_call_lasts_as_many_bars_as_it(monkeypatch):
    from neuraltunes_live.live.engine import follow_bars
    from neuraltunes_live.live.phrase import Phrase

    def phrase(beats):  # quarter notes, the last let go a little early
        rows = [(i * TICKS_PER_BEAT, 60, TICKS_PER_BEAT - (2 if i == beats - 1 else 0), 80) for i in range(beats)]
        return Phrase(np.array(rows, dtype=np.int32), 0.0, 0.0)

    assert [follow_bars(phrase(n), 4, 16) for n in (1, 3, 4, 5, 8, 9)] == [1, 1, 1, 2, 2, 3]
    assert follow_bars(phrase(100), 4, 16) == 16 and follow_bars(phrase(6), 3, 16) == 2

    # Through the engine: an 8-beat call is answered for two bars, and the bars knob fixes the length.
    rig = Rig(ScriptedModel(quarter_notes_of(67)), live=LiveParameters(length="follow", bars=1))
    call = [(i * 0.5, on(60 + i)) for i in range(8)] + [(i * 0.5 + 0.4, off(60 + i)) for i in range(8)]
    rig.run(call, until=4.0 + 0.5 + 4.0 + 1.0)
    ons = [t for t, m in rig.sent if m[0] == 0x90 and m[2] > 0]
    assert len(ons) == 8 and ons[0] == pytest.approx(4.5) and ons[-1] == pytest.approx(8.0)  # 2 bars at 120 BPM
    assert rig.controls.handle((0xB0, 22, 0)) == "bars"
    assert rig.controls.current.length == "fixed" and rig.controls.current.bars == 1


def test_again_undo_and_keep_play_takes_on_the_bar_lines_and_leave_nothing_sounding():
    """1-bar answers at 120 BPM to a phrase answered from beat 4 (2.0 s): bar lines every 2 s from there."""
    from neuraltunes_live.config import ControlSettings

    knobs = ControlSettings()
    rig = Rig(ScriptedModel(quarter_notes_of(67), strength=2.0), live=LiveParameters(bars=1))
    press = lambda t, cc, v=127: (t, (0xB0, cc, v))  # noqa: E731
    rig.run(
        PHRASE
        + [press(2.6, knobs.again), press(2.7, knobs.again, 0)]  # in take 1: take 2 from the next bar (4.0 s)
        + [press(6.5, knobs.undo), press(6.6, knobs.undo, 0)]  # after take 2: take 1 again at 8.0 s
        + [press(10.5, knobs.keep)]  # held: take 1 round and round from 12.0 s ...
        + [press(15.2, knobs.keep, 0)],  # ... until let go: the loop stops at 16.0 s
        until=20.0,
    )

    def bar(start):  # note-ons in the 2 s from ``start``, as (seconds into the bar, pitch)
        return [(round(t - start, 6), p) for t, p in rig.notes_on() if start <= t < start + 2.0]

    take1, take2 = bar(2.0), bar(4.0)
    assert take1 and take2 and take2 != take1  # a new take sampled, not a copy
    assert bar(6.0) == []  # take 2 was one bar; undo waited for the bar line
    assert bar(8.0) == take1  # undo: take 1 played again as it was
    assert bar(10.0) == []
    assert bar(12.0) == take1 and bar(14.0) == take1  # keep: two rounds before it was let go
    assert bar(16.0) == [] and bar(18.0) == []
    assert rig.engine.takes and rig.engine.take_index == 0
    assert all(t <= 16.0 for t, m in rig.sent if m[0] & 0xF0 == 0x80 and t > 14.0)  # the last round ends by 16.0
    assert rig.scheduler.tracker.sounding == frozenset() and rig.scheduler.pending() == 0


def test_playing_over_a_kept_loop_neither_stops_it_nor_is_answered():
    from neuraltunes_live.config import ControlSettings

    keep = ControlSettings().keep
    skipped = []
    rig = Rig(ScriptedModel(quarter_notes_of(67)), live=LiveParameters(bars=1))
    rig.engine.on_skip = lambda phrase, why: skipped.append(why)
    solo = [(t, on(72)) for t in (4.1, 4.6, 5.1)] + [(t + 0.3, off(72)) for t in (4.1, 4.6, 5.1)]
    rig.run(PHRASE + [(3.0, (0xB0, keep, 127))] + solo + [(7.1, (0xB0, keep, 0))], until=10.0)
    answers = [t for t, p in rig.notes_on() if p == 67]
    assert answers == [2.0, 2.5, 3.0, 3.5, 4.0, 4.5, 5.0, 5.5, 6.0, 6.5, 7.0, 7.5]  # the answer, then two rounds
    assert skipped == ["keep is held, so that was a solo over the loop"]
    assert rig.scheduler.tracker.sounding == frozenset()


def test_in_continuous_mode_undo_plays_the_first_bars_of_the_take_before_once():
    from neuraltunes_live.config import ControlSettings

    knobs = ControlSettings()
    rig = Rig(ScriptedModel(quarter_notes_of(67), strength=2.0), live=LiveParameters(bars=1, mode="continuous"))
    press = lambda t, cc: [(t, (0xB0, cc, 127)), (t + 0.1, (0xB0, cc, 0))]  # noqa: E731
    rig.run(PHRASE + press(5.0, knobs.again) + press(9.0, knobs.undo), until=16.0)
    first = [(round(t - 2.0, 6), p) for t, p in rig.notes_on() if 2.0 <= t < 4.0]
    undone = [(round(t - 10.0, 6), p) for t, p in rig.notes_on() if 10.0 <= t < 12.0]
    assert first and undone == first  # the first take's first bar, once ...
    assert not [t for t, _ in rig.notes_on() if t >= 12.0]  # ... then nothing: undo does not go on playing
    assert rig.scheduler.tracker.sounding == frozenset()
