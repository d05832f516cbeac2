"""The daemon's generator-thread work with a fake clock, a list for a port and a scripted model."""

import dataclasses

import numpy as np
import pytest

from neuraltunes_live.config import Config
from neuraltunes_live.core.continuation import MAX_PRIME_NOTES
from neuraltunes_live.core.encoding import DURATION_BASE, PITCH_BASE
from neuraltunes_live.live.clock import FakeClock
from neuraltunes_live.live.controls import KnobLearner
from neuraltunes_live.live.daemon import Daemon

from .fakes import ScriptedModel, log_lines, quarter_notes_of
from .fakes import note_off as off
from .fakes import note_on as on


def config(**live):
    """The default config with ``[live]`` changed; a ``bars`` given means answers of that length, as ``--bars``."""
    base = Config()
    if "bars" in live:
        live.setdefault("length", "fixed")
    return dataclasses.replace(base, live=dataclasses.replace(base.live, **live))


class Rig:
    def __init__(self, model, hear=None, **live):
        self.clock = FakeClock()
        self.sent = []
        self.log = log_lines()
        self.daemon = Daemon(
            model,
            config(**live),
            clock=self.clock,
            send=lambda m: self.sent.append((round(self.clock.now(), 6), m)),
            rng=np.random.default_rng(0),
            hear=hear,
        )

    def run(self, inputs, until, step=0.005):
        """Feed ``(time, message)`` inputs through the inbox, as the input callback would."""
        inputs = sorted(inputs, key=lambda item: item[0])
        scheduler = self.daemon.scheduler
        while self.clock.now() < until:
            while inputs and inputs[0][0] <= self.clock.now():
                self.daemon.receive(inputs.pop(0)[1])
            self.daemon.work(timeout=0)
            before = self.clock.now()
            scheduler.run_once()
            if self.clock.now() == before:
                self.clock.advance(step)

    def note_ons(self, status=0x90):
        return [(t, m[1]) for t, m in self.sent if m[0] == status and m[2] > 0]


PHRASE = [(0.0, on(60)), (0.45, off(60)), (0.5, on(62)), (0.95, off(62)), (1.0, on(64)), (1.45, off(64))]


def test_the_players_notes_reach_the_synth_input_as_played_and_nothing_else():
    heard = []
    rig = Rig(ScriptedModel(quarter_notes_of(67)), hear=heard.append, bars=1, input_channel=1)
    knob_and_other_channel = [(0.2, (0xB0, 21, 64)), (0.3, (0x91, 70, 90)), (0.35, (0x81, 70, 0))]
    rig.run(PHRASE + knob_and_other_channel, until=5.0)
    assert heard == [m for _, m in PHRASE]  # the answer goes to send, not here
    assert rig.note_ons() == [(2.0, 67), (2.5, 67), (3.0, 67), (3.5, 67)]
    with_passthrough = []  # the player's notes already go to the output (and the synth behind it) once
    Rig(ScriptedModel(quarter_notes_of(67)), hear=with_passthrough.append, passthrough=True).run(PHRASE, until=2.0)
    assert with_passthrough == []


def test_answers_on_the_output_channel_and_passes_the_players_notes_through():
    rig = Rig(ScriptedModel(quarter_notes_of(67)), bars=1, output_channel=3, passthrough=True)
    rig.run(PHRASE, until=5.0)
    assert rig.note_ons(0x92) == [(0.0, 60), (0.5, 62), (1.0, 64), (2.0, 67), (2.5, 67), (3.0, 67), (3.5, 67)]
    assert all(m[0] & 0x0F == 2 for _, m in rig.sent)
    assert rig.daemon.tracker.sounding == frozenset()


def test_junk_from_the_keyboard_changes_nothing():
    junk = [
        (0.1, (0xF0, 0x7E, 0x7F, 0x09, 0x01, 0xF7)),  # sysex
        (0.2, (0xD0, 40)),  # channel aftertouch
        (0.3, (0xE0, 0, 90)),  # pitch bend
        (0.6, (0xC0, 5)),  # program change
        (0.7, (0xA0, 60, 30)),  # poly aftertouch
        (0.8, ()),
        (0.9, (0x90,)),  # truncated
        (1.2, (0xFE,)),  # active sensing
        (2.2, (0x90, 130, 300)),  # out of range data bytes
    ]
    clean = Rig(ScriptedModel(quarter_notes_of(67)), bars=1)
    clean.run(PHRASE, until=5.0)
    noisy = Rig(ScriptedModel(quarter_notes_of(67)), bars=1)
    noisy.run(PHRASE + junk, until=5.0)
    assert noisy.sent == clean.sent and len(clean.note_ons()) == 4
    assert not any("error" in line for line in noisy.log)
    # The malformed ones were dropped and said so, once a second at most.
    drops = [line for line in noisy.log if line.startswith("dropped")]
    assert drops == [
        "dropped a malformed MIDI message (the last: no bytes: an empty message); still listening",  # at 0.8 s
        "dropped a malformed MIDI message (the last: 90: 0 data bytes after 90, which takes 2); still listening",
        "dropped a malformed MIDI message (the last: 90 82 ??: not bytes); still listening",  # at 2.2 s
    ]


def test_an_unterminated_sysex_does_not_deafen_the_daemon():
    clean = Rig(ScriptedModel(quarter_notes_of(67)), bars=1)
    clean.run(PHRASE, until=5.0)
    junk = [(-0.2, (0xF0, 0x01)), (-0.1, (0x01, 0x02, 0x03))]  # a SysEx start with no end, then its "rest"
    noisy = Rig(ScriptedModel(quarter_notes_of(67)), bars=1)
    noisy.run(junk + PHRASE, until=5.0)
    assert noisy.sent == clean.sent and len(noisy.note_ons()) == 4
    assert "heard 3 notes" in " ".join(noisy.log)


def start_and_pulses(bpm, until, start=0.0):
    """MIDI Start at ``start``, then clock pulses at ``bpm`` until ``until``."""
    spb = 60.0 / bpm
    events = [(start, (0xFA,))]
    n = 0
    while start + n * spb / 24 < until:
        events.append((start + 0.0001 + n * spb / 24, (0xF8,)))
        n += 1
    return events


def test_follows_the_daws_clock_and_stop_silences():
    rig = Rig(ScriptedModel(quarter_notes_of(67)), clock="external", bars=4)
    # The DAW at 60 BPM; the phrase is played from beat 1 (1.0 s); one beat
    # of silence after the last release at 3.9 s completes it at 4.9 s.
    phrase = [(1.0, on(60)), (1.9, off(60)), (2.0, on(62)), (2.9, off(62)), (3.0, on(64)), (3.9, off(64))]
    stop = [(7.5, (0xFC,))]
    rig.run(start_and_pulses(60, 7.5) + phrase + stop, until=9.0, step=0.001)
    ons = rig.note_ons()
    # The answer starts on the DAW's next beat (5 s) and plays a quarter per beat.
    assert [p for _, p in ons] == [67, 67, 67]
    for (t, _), beat in zip(ons, (5.0, 6.0, 7.0)):
        assert abs(t - beat) < 0.005  # pulses are fed on the rig's 1 ms steps
    # Stop (at 7.5 s) ends the sounding note, then Sustain off and All Notes Off.
    assert [m for _, m in rig.sent[-3:]] == [(0x80, 67, 0), (0xB0, 64, 0), (0xB0, 123, 0)]
    assert all(7.5 <= t <= 7.502 for t, _ in rig.sent[-3:])
    assert rig.daemon.tracker.sounding == frozenset()
    assert "clock stopped: answer stopped, notes closed" in rig.log


class FailingModel(ScriptedModel):
    """Raises on its ``fail_at``-th step, once."""

    def __init__(self, follow, fail_at):
        super().__init__(follow)
        self.steps = 0
        self.fail_at = fail_at

    def step(self, token, state):
        self.steps += 1
        if self.steps == self.fail_at:
            raise FloatingPointError("overflow in the cell")
        return super().step(token, state)


def test_an_error_in_generation_silences_the_answer_and_the_next_phrase_is_answered():
    # Lookahead of one beat: the model is stepped as the answer plays, and
    # fails in its first bar.
    rig = Rig(FailingModel(quarter_notes_of(67), fail_at=12), bars=4, lookahead_beats=1.0)
    second = [(t + 8.0, m) for t, m in PHRASE]
    rig.run(PHRASE + second, until=14.0)
    assert any("FloatingPointError: overflow in the cell" in line and "still listening" in line for line in rig.log)
    # ...followed by the traceback, indented, down to the model's step that raised.
    trace = [line for line in rig.log if line.startswith("  ")]  # as the command line writes it
    assert trace[0] == "  Traceback (most recent call last):"
    assert any("in step" in line for line in trace) and trace[-1] == "  FloatingPointError: overflow in the cell"
    first = [t for t, _ in rig.note_ons() if t < 8.0]
    assert 2.0 in first and len(first) < 8  # cut short by the error
    # The next phrase is answered on its beat (the rig's 5 ms steps put its
    # first note-on, and so its grid, up to 5 ms late).
    answer = [t for t, _ in rig.note_ons() if t >= 8.0]
    assert answer[0] == pytest.approx(10.0, abs=0.006) and answer[1] - answer[0] == pytest.approx(0.5)
    ons = sum(1 for _, m in rig.sent if m[0] == 0x90)
    offs = sum(1 for _, m in rig.sent if m[0] == 0x80)
    assert ons == offs and rig.daemon.tracker.sounding == frozenset()


def test_a_swapped_model_answers_the_next_phrase():
    rig = Rig(ScriptedModel(quarter_notes_of(67)), bars=1)
    rig.run(PHRASE, until=5.0)
    rig.daemon.swap_model(ScriptedModel(quarter_notes_of(72)))
    rig.run([(t + 5.0, m) for t, m in PHRASE], until=10.0)
    assert [p for _, p in rig.note_ons()] == [67] * 4 + [72] * 4


def test_a_flood_of_notes_is_cut_to_the_models_context():
    model = ScriptedModel(quarter_notes_of(67))
    rig = Rig(model, bars=1, max_phrase_beats=32.0)
    flood = []
    for i in range(10_000):  # ten thousand notes in 10 s, two keys at a time
        flood += [(i * 0.001, on(40 + i % 50)), (i * 0.001 + 0.0005, off(40 + i % 50))]
    rig.run(flood, until=14.0)
    assert "heard 10000 notes; answering (balanced, temperature x1.00, 1 bar)" in rig.log
    notes_primed = sum(1 for t in model.primed_with if PITCH_BASE <= t < DURATION_BASE)
    assert 0 < notes_primed <= MAX_PRIME_NOTES
    assert rig.note_ons() and rig.daemon.tracker.sounding == frozenset()


def test_knob_changes_are_logged_once_the_knobs_rest():
    rig = Rig(ScriptedModel(quarter_notes_of(67)), bars=1)
    sweep = [(0.01 * i, (0xB0, 21, 64 + i)) for i in range(30)]  # temperature, turned up over 0.3 s
    rig.run(sweep + [(1.0, (0xB0, 22, 127)), (1.05, (0xB0, 23, 127))], until=2.0)
    knobs = [line for line in rig.log if line.startswith("knobs:")]
    assert knobs == ["knobs: temperature x1.38", "knobs: 16 bars, style structured"]  # CC 21 = 93


def test_a_mode_change_and_a_panic_are_logged_at_once():
    rig = Rig(ScriptedModel(quarter_notes_of(67)), bars=1)
    rig.run([(0.1, (0xB0, 24, 80)), (0.2, (0xB0, 25, 127))], until=0.25)
    assert rig.log[-2:] == ["knobs: mode continuous", "panic: answer stopped, every note closed"]


def test_the_player_letting_go_of_a_pitch_the_answer_took_over_does_not_cut_the_answer():
    # The answer plays 67 on every beat from 2.0 s; the player strikes 67 at
    # 2.2 s and holds it to 3.2 s. Each strike takes the key over from the
    # other; the answer's note at 3.0 s must sound until 3.5 s: the player's
    # release at 3.2 s ends nothing, since the answer struck 67 last.
    rig = Rig(ScriptedModel(quarter_notes_of(67)), bars=1, passthrough=True, on_play="overlap")
    rig.run(PHRASE + [(2.2, on(67)), (3.2, off(67))], until=5.0)
    at = lambda t: [m for when, m in rig.sent if t <= when < t + 0.01]
    assert at(2.2) == [(0x80, 67, 0), (0x90, 67, 100)]  # the player takes 67 over
    # The answer's first note no longer sounds: its own note-off is not sent;
    # its next note takes the key back.
    assert at(2.5) == [(0x80, 67, 0), (0x90, 67, 104)]
    assert at(3.2) == []
    assert at(3.5) == [(0x80, 67, 0), (0x90, 67, 104)]
    assert rig.daemon.tracker.sounding == frozenset()


def test_after_a_panic_the_players_release_sends_nothing():
    rig = Rig(ScriptedModel(quarter_notes_of(67)), bars=1, passthrough=True)
    rig.run([(0.0, on(60)), (0.2, (0xB0, 25, 127)), (0.4, off(60))], until=0.5)
    after_panic = [m for t, m in rig.sent if t >= 0.2]
    assert after_panic == [(0x80, 60, 0), (0xB0, 64, 0), (0xB0, 123, 0)]  # nothing more at 0.4 s
    assert rig.daemon.tracker.sounding == frozenset()


def test_the_daemon_gives_the_process_its_thread_switch_interval_back():
    import sys

    before = sys.getswitchinterval()
    rig = Rig(ScriptedModel(quarter_notes_of(67)), bars=1)
    rig.daemon.start()
    assert sys.getswitchinterval() < before
    rig.daemon.stop()
    assert sys.getswitchinterval() == before


def test_with_a_timed_output_the_daemon_leaves_priority_and_the_switch_interval_alone():
    import sys

    class Timed:
        lead = 0.03

        def send_at(self, t, message, tag):
            pass

        def retract(self, tag, after):
            pass

    before = sys.getswitchinterval()
    daemon = Daemon(
        ScriptedModel(quarter_notes_of(67)), config(), clock=FakeClock(), send=print, rng=np.random.default_rng(0),
        timed=Timed(),
    )  # fmt: skip
    assert daemon.realtime is False and daemon.scheduler.lead == 0.03  # JACK does the timing
    daemon.start()
    assert sys.getswitchinterval() == before
    daemon.stop()
    assert sys.getswitchinterval() == before


@pytest.mark.parametrize("offset_ms", [20.0, -20.0])
def test_the_output_offset_moves_every_answer_note_and_nothing_else(offset_ms):
    plain = Rig(ScriptedModel(quarter_notes_of(67)), bars=1, passthrough=True)
    plain.run(PHRASE, until=5.0)
    moved = Rig(ScriptedModel(quarter_notes_of(67)), bars=1, passthrough=True, output_offset_ms=offset_ms)
    moved.run(PHRASE, until=5.0)
    answer = lambda rig: [(t, m) for t, m in rig.sent if t >= 1.9]  # noqa: E731
    played = lambda rig: [(t, m) for t, m in rig.sent if t < 1.9]  # noqa: E731
    assert played(moved) == played(plain)  # the player's own notes pass through as played
    assert len(answer(moved)) == len(answer(plain)) == 8
    for (t0, m0), (t1, m1) in zip(answer(plain), answer(moved)):
        assert m1 == m0 and t1 == pytest.approx(t0 + offset_ms / 1000, abs=0.006)  # the rig steps 5 ms


def test_take_buttons_are_logged_and_a_panic_mid_loop_leaves_nothing_sounding():
    rig = Rig(ScriptedModel(quarter_notes_of(67)), bars=1)
    knobs = [(2.5, (0xB0, 27, 127)), (2.6, (0xB0, 27, 0)), (6.2, (0xB0, 26, 127)), (9.1, (0xB0, 25, 127))]
    rig.run(PHRASE + knobs, until=11.0)
    assert "again: a new take of the answer (take 2 of 2)" in rig.log
    assert "keep: the last answer loops until let go (take 2 of 2)" in rig.log
    assert "panic: answer stopped, every note closed" in rig.log
    assert [t for t, _ in rig.note_ons() if t >= 8.0] == [8.0, 8.5, 9.0]  # the loop, until the panic
    assert rig.daemon.tracker.sounding == frozenset() and rig.daemon.scheduler.pending() == 0


def test_learn_assigns_each_control_in_turn_and_the_knobs_then_follow_the_new_map():
    written = []
    rig = Rig(ScriptedModel(quarter_notes_of(67)), bars=1)
    rig.daemon.learner, rig.daemon.learned = KnobLearner(), written.append
    moves = [(0.1 * i, (0xB0, cc, 10)) for i, cc in enumerate([74, 74, 71, 0x90, 25, 76, 77, 78, 79, 80, 81, 82, 83])]
    # 74 again is the knob just learned, still turning; 0x90 is no control change: neither counts
    rig.run(moves + [(1.5, (0xB0, 20, 127))], until=2.0)
    assert written == [
        {
            "temperature": 74,
            "bars": 71,
            "style": 25,
            "mode": 76,
            "panic": 77,
            "keep": 78,
            "again": 79,
            "undo": 80,
            "activity": 81,
            "register": 82,
            "texture": 83,
        }
    ]
    assert "learn: temperature knob is CC 74" in rig.log and "learn: move the answer-length knob (2 of 11)" in rig.log
    assert rig.daemon.learner is None and rig.daemon.controls.map.panic == 77
    assert rig.daemon.controls.current.temperature == 1.0  # learning moved no parameter
    rig.run([(2.1, (0xB0, 74, 127))], until=2.5)  # now CC 74 is the temperature knob
    assert rig.daemon.controls.current.temperature == pytest.approx(2.0)


@pytest.mark.parametrize("stop", ["panic", "mode change", "clock stop", "shutdown"])
def test_every_stop_path_during_a_kept_loop_leaves_nothing_sounding(stop):
    """A 1-bar answer (2-4 s) kept from 3.0 s goes round from 4.0 s; at 9.1 s, mid-note, it is stopped."""
    external = stop == "clock stop"
    rig = Rig(ScriptedModel(quarter_notes_of(67)), bars=1, **({"clock": "external"} if external else {}))
    stopping = {
        "panic": [(9.1, (0xB0, 25, 127))],
        "mode change": [(9.1, (0xB0, 24, 80))],  # to continuous: it waits for a phrase
        "clock stop": [(9.1, (0xFC,))],
        "shutdown": [],
    }[stop]
    pulses = start_and_pulses(120, 9.1) if external else []
    rig.run(PHRASE + pulses + [(3.0, (0xB0, 26, 127))], until=9.1, step=0.001)
    assert [round(t, 2) for t, _ in rig.note_ons() if t >= 4.0][-3:] == [8.0, 8.5, 9.0]  # the loop's third round
    assert rig.daemon.tracker.sounding == frozenset({67})  # a note of the loop sounds
    if stop == "shutdown":
        rig.daemon.stop()
    else:
        rig.run(stopping, until=12.0, step=0.001)
    after = [(t, m) for t, m in rig.sent if t >= 9.1]
    assert [m for _, m in after] == [(0x80, 67, 0), (0xB0, 64, 0), (0xB0, 123, 0)]  # closed, and nothing more
    assert all(t < 9.11 for t, _ in after), after  # at once (the external clock's rig runs a few ms behind)
    assert rig.daemon.tracker.sounding == frozenset() and rig.daemon.scheduler.pending() == 0
    if stop != "shutdown":
        assert not rig.daemon.engine.keep  # let go: the next answer does not loop


def test_learning_reads_the_knobs_channel_from_the_config():
    base = Config()
    chosen = dataclasses.replace(base, controls=dataclasses.replace(base.controls, channel=5))
    daemon = Daemon(
        ScriptedModel(quarter_notes_of(67)),
        chosen,
        clock=FakeClock(),
        send=print,
        rng=np.random.default_rng(0),
        learned=print,
    )
    assert daemon.learner is not None and daemon.learner.channel == 4
