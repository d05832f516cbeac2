"""Accompany mode: the two streams' steps, the voicings, the live accompanist on a fake clock (exact events)."""

import numpy as np
import pytest

from neuraltunes_live.config import AccompanySettings, Config, ControlSettings, LiveSettings
from neuraltunes_live.core import accompany as acc
from neuraltunes_live.live.clock import FakeClock
from neuraltunes_live.live.controls import Controls, LiveParameters
from neuraltunes_live.live.engine import Engine
from neuraltunes_live.live.notetracker import NoteTracker
from neuraltunes_live.live.scheduler import FixedTempo, Scheduler

from .conftest import notes
from .fakes import ScriptedModel, quarter_notes_of
from .fakes import note_off as off
from .fakes import note_on as on

MAJOR, MINOR = 0b10010001, 0b10001001  # {0, 4, 7}, {0, 3, 7} above the bass
SHAPES = (MAJOR, MINOR)
STYLES = {name: Config().style(name) for name in ("balanced", "creative", "structured")}


class ScriptedAccompaniment:
    """An accompaniment model that hears the step it plays on: it strikes the major chord on each note
    the player strikes there, else holds; its first step strikes the chord of the note sounding (C major
    when none does). Its state counts the steps."""

    def __init__(self, lookahead=1):
        self.arch = acc.AccompanyArchitecture(shapes=SHAPES, lookahead=lookahead, lstm_units=(1,))
        self.seen: list[list[int]] = []

    @property
    def start_token(self):
        return self.arch.vocab_size

    def initial_state(self):
        return 0

    def step(self, inputs, state):
        self.seen.append([int(i) for i in inputs])
        now = int(inputs[1])
        logits = np.zeros(self.arch.vocab_size)
        if now > acc.SPAN or (now != acc.REST and state == 0):  # struck now, or sounding when it starts
            logits[acc.chord_token(acc.player_pitch(now) % 12, 0)] = 40.0
        elif state == 0:
            logits[acc.chord_token(0, 0)] = 40.0
        else:
            logits[acc.HOLD] = 40.0
        return logits, state + 1


# --- the steps of both streams ---------------------------------------------------------------


def test_the_players_steps_strike_hold_and_rest():
    # C4 a quarter, a rest of an eighth, then E4 and G4 together (G4 is the tune), an eighth.
    line = notes((0, 60, 12, 80), (18, 64, 6, 80), (18, 67, 6, 80))
    tokens = acc.player_steps(line, 5)
    assert tokens.tolist() == [acc.struck(60), acc.held(60), acc.REST, acc.struck(67), acc.REST]
    # A key still down sounds on.
    assert acc.player_steps(notes((0, 60, 0, 80)), 3, sounding_until=18).tolist() == [
        acc.struck(60),
        acc.held(60),
        acc.held(60),
    ]
    assert acc.player_pitch(acc.struck(100)) == 88 and acc.player_pitch(acc.held(20)) == 44  # folded by octaves


def test_accompaniment_events_strike_hold_and_fall_silent():
    # A C major chord for a half note, then G alone an eighth later for a quarter.
    chords = notes((0, 48, 24, 70), (0, 64, 24, 70), (0, 67, 24, 70), (30, 55, 12, 70))
    events = acc.accompaniment_events(chords, 8)
    assert events == [(0, MAJOR), acc.HOLD, acc.HOLD, acc.HOLD, acc.SILENT, (7, 1), acc.HOLD, acc.SILENT]
    tokens = acc.accompaniment_tokens(events, SHAPES)
    assert tokens[0] == acc.chord_token(0, 0) and acc.token_chord(int(tokens[0]), SHAPES) == (0, MAJOR)
    assert acc.token_chord(int(tokens[5]), SHAPES) == (7, MAJOR)  # G alone goes to the nearest shape
    assert acc.common_shapes([events], 2) == (1, MAJOR)  # struck once each: the smaller mask first
    # The whole harmony: C and G below, the tune's E above make C major; alone they are an open fifth.
    fifth = notes((0, 48, 12, 70), (0, 55, 12, 70))
    assert acc.accompaniment_events(fifth, 1) == [(0, 0b10000001)]
    assert acc.accompaniment_events(fifth, 3, melody=notes((0, 64, 24, 80))) == [(0, MAJOR), acc.HOLD, acc.SILENT]


def test_transposition_moves_both_streams_alike():
    player = np.array([acc.REST, acc.struck(60), acc.held(60)], np.int32)
    assert acc.transpose_player(player, 5).tolist() == [acc.REST, acc.struck(65), acc.held(65)]
    assert acc.transpose_player(np.array([acc.struck(95)]), 3).tolist() == [acc.struck(86)]  # folded into range
    ours = np.array([acc.HOLD, acc.SILENT, acc.chord_token(11, 1)], np.int32)
    assert acc.transpose_accompaniment(ours, 2).tolist() == [acc.HOLD, acc.SILENT, acc.chord_token(1, 1)]


def test_network_inputs_see_only_the_steps_before_unless_looking_ahead():
    player = np.array([acc.struck(60), acc.held(60), acc.struck(62)], np.int32)
    ours = np.array([5, acc.HOLD, 9], np.int32)
    causal = acc.network_inputs(player, ours, 4, 0, 99)
    assert causal[:, 0].tolist() == [acc.REST, acc.struck(60), acc.held(60)]
    assert causal[:, 1].tolist() == [99, 5, acc.HOLD]
    assert causal[:, 2].tolist() == [3 * 16 + 0, 3 * 16 + 1, 3 * 16 + 2]
    ahead = acc.network_inputs(player, ours, 3, 2, 99)
    assert ahead[:, 1].tolist() == player.tolist() and ahead[:, 2].tolist() == [acc.held(60), acc.struck(62), 0]
    assert ahead[:, 4].tolist() == [2 * 16 + 0, 2 * 16 + 1, 2 * 16 + 2]


# --- voicings ------------------------------------------------------------------------------------


def test_each_texture_voices_the_chord_in_the_register():
    c_major, e_minor = acc.chord_token(0, 0), acc.chord_token(4, 1)
    knobs = acc.AccompanyKnobs(register=55)
    block = acc.Voicer(SHAPES)
    assert block.step(c_major, knobs, 72) == ([], [(36, 72), (55, 62), (64, 62)])  # C2, then G3 E4
    assert block.step(acc.HOLD, knobs, 72) == ([], [])
    assert block.step(e_minor, knobs, 72) == ([36, 55, 64], [(40, 72), (55, 62), (59, 62)])  # E2, G3 B3
    assert block.step(acc.SILENT, knobs, 72) == ([40, 55, 59], [])

    broken = acc.Voicer(SHAPES)
    knobs = acc.AccompanyKnobs(register=55, texture="broken")
    assert broken.step(c_major, knobs, None) == ([], [(36, 72)])
    assert broken.step(acc.HOLD, knobs, None) == ([], [(55, 60)])  # up the chord, an eighth a note
    assert broken.step(acc.HOLD, knobs, None) == ([55], [(64, 60)])
    assert broken.step(acc.HOLD, knobs, None) == ([64], [(55, 60)])
    assert broken.close() == [36, 55]

    bass = acc.Voicer(SHAPES)
    knobs = acc.AccompanyKnobs(register=55, texture="bass")
    assert bass.step(c_major, knobs, None) == ([], [(36, 80)])
    assert bass.step(acc.chord_token(11, 0), knobs, None) == ([36], [(35, 80)])  # B1: the nearer octave

    counter = acc.Voicer(SHAPES)
    knobs = acc.AccompanyKnobs(register=55, texture="counter")
    first = counter.step(c_major, knobs, 72)[1][0][0]
    assert first % 12 in (0, 4, 7) and 55 <= first < 72
    moved = counter.step(acc.chord_token(7, 0), knobs, 72)[1][0][0]  # G major: the nearest other chord tone
    assert moved % 12 in (7, 11, 2) and abs(moved - first) <= 4 and moved != first


def test_activity_and_temperature_weigh_the_choice():
    logits = np.zeros(2 + 12 * len(SHAPES))
    logits[acc.HOLD] = 3.0
    rng = np.random.default_rng(0)
    holds = [acc.choose(logits, acc.AccompanyKnobs(), rng, False, True) == acc.HOLD for _ in range(2000)]
    busy = [acc.choose(logits, acc.AccompanyKnobs(activity=20.0), rng, False, True) == acc.HOLD for _ in range(2000)]
    # e^3 / (e^3 + 25) holds, against e^3 / (e^3 + 25 * 20) with 20 times the odds of striking.
    assert np.mean(holds) == pytest.approx(np.e**3 / (np.e**3 + 25), abs=0.04)
    assert np.mean(busy) == pytest.approx(np.e**3 / (np.e**3 + 500), abs=0.02)
    # The first step always strikes; nothing sounding cannot be held or silenced.
    assert all(acc.choose(logits, acc.AccompanyKnobs(), rng, True, False) >= 2 for _ in range(50))


# --- offline: a whole line, stepped as live --------------------------------------------------------


def test_a_line_is_accompanied_from_its_first_note_to_its_end():
    model = ScriptedAccompaniment()
    # C4 a quarter on beat 1, E4 a quarter on beat 2 (a pickup of one beat first: it starts at tick 12).
    line = notes((12, 60, 12, 80), (24, 64, 12, 80))
    got = acc.accompany_notes(model, line, acc.AccompanyKnobs(register=55), np.random.default_rng(0))
    # C major with the C (held an eighth longer), then E major from the E to the line's end (tick 36).
    assert got.tolist() == [
        [12, 36, 12, 72],
        [12, 55, 12, 62],
        [12, 64, 12, 62],
        [24, 40, 12, 72],
        [24, 56, 12, 62],
        [24, 59, 12, 62],
    ]
    # Each step heard the player's step before and the one it plays on, nothing later.
    assert [row[:2] for row in model.seen] == [
        [acc.REST, acc.struck(60)],
        [acc.struck(60), acc.held(60)],
        [acc.held(60), acc.struck(64)],
        [acc.struck(64), acc.held(64)],
    ]


# --- live, on a fake clock ------------------------------------------------------------------------


class Rig:
    """The engine with an accompanist between a fake clock and a list; 120 BPM, a step is 0.25 s."""

    def __init__(self, mode="accompany", settings=AccompanySettings(stop_beats=2.0), live=LiveSettings()):
        from neuraltunes_live.live.accompanist import LiveAccompanist

        self.clock = FakeClock()
        self.sent = []
        self.timeline = FixedTempo(origin=0.0, bpm=120)
        self.tracker = NoteTracker(0)
        self.scheduler = Scheduler(
            self.clock, lambda m: self.sent.append((round(self.clock.now(), 6), m)), self.tracker, self.timeline
        )
        self.controls = Controls(ControlSettings(), LiveParameters(bars=1, mode=mode, register=55))
        self.model = ScriptedAccompaniment()
        self.stops: list[tuple[float, str]] = []
        self.engine: Engine | None = None
        accompanist = LiveAccompanist(
            self.model,
            self.scheduler,
            self.timeline,
            self.controls,
            settings,
            live,
            np.random.default_rng(0),
            number=lambda: self.engine.next_number(),
            on_stop=lambda beat, why: self.stops.append((beat, why)),
        )
        self.engine = Engine(
            ScriptedModel(quarter_notes_of(67)),
            self.scheduler,
            self.timeline,
            self.controls,
            STYLES,
            live,
            np.random.default_rng(0),
            accompanist=accompanist,
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
            if self.clock.now() == before and len(self.sent) == sent:
                self.clock.advance(step)

    def channel(self, channel):
        """(time, 'on'/'off', pitch) of the notes sent on a channel (0-based)."""
        out = []
        for t, m in self.sent:
            if m[0] & 0x0F == channel and m[0] & 0xF0 in (0x80, 0x90):
                out.append((t, "on" if m[0] & 0xF0 == 0x90 and m[2] > 0 else "off", m[1]))
        return out


ACC = 1  # the accompaniment's channel, [accompany] channel = 2
# C4 on beat 0 for a beat, E4 on beat 1 for a beat, then nothing: the player stops at 1.0 s (beat 2).
LINE = [(0.0, on(60)), (0.5, off(60)), (0.5, on(64)), (1.0, off(64))]


LATE = 0.025  # listen_ms (20) and the time to choose (5 ms): each step's notes start this long after it


def test_it_starts_with_the_first_note_follows_the_player_and_stops_after_the_silence():
    rig = Rig()
    rig.run(LINE, until=4.0)
    assert rig.channel(ACC) == [
        # Step 0: it heard C4 struck on it: C major, LATE after the step.
        (LATE, "on", 36),
        (LATE, "on", 55),
        (LATE, "on", 64),
        # Step 1 heard C4 held: it holds. Step 2 (0.5 s) heard E4 struck on it: E major.
        (0.5 + LATE, "off", 36),
        (0.5 + LATE, "off", 55),
        (0.5 + LATE, "off", 64),
        (0.5 + LATE, "on", 40),
        (0.5 + LATE, "on", 56),
        (0.5 + LATE, "on", 59),
        # The player let go at beat 2; two beats of silence later (beat 4, 2.0 s) it stops, notes ended.
        (2.0 + LATE, "off", 40),
        (2.0 + LATE, "off", 56),
        (2.0 + LATE, "off", 59),
    ]
    assert rig.stops == [(4.0, "the player stopped")]
    assert rig.tracker.sounding_on(ACC) == frozenset()
    # Nothing of the answering mode played: no phrase was answered on channel 1.
    assert rig.channel(0) == []


def test_it_starts_again_with_the_players_next_note():
    rig = Rig()
    rig.run(LINE + [(3.0, on(67)), (3.5, off(67))], until=6.5)
    ons = [(t, p) for t, kind, p in rig.channel(ACC) if kind == "on"]
    # G4 at 3.0 s: G major with it: G2, B3, D4.
    assert ons[-3:] == [(3.0 + LATE, 43), (3.0 + LATE, 59), (3.0 + LATE, 62)]
    assert rig.tracker.sounding_on(ACC) == frozenset()  # and it stopped again two beats after 3.5 s
    assert rig.stops[-1] == (9.0, "the player stopped")


def test_a_count_in_starts_it_without_the_player():
    rig = Rig(settings=AccompanySettings(count_in_beats=2, stop_beats=2.0))
    rig.run([], until=1.2)
    assert rig.channel(ACC) == [(1.0 + LATE, "on", 36), (1.0 + LATE, "on", 55), (1.0 + LATE, "on", 64)]  # beat 2


@pytest.mark.parametrize("how", ["panic", "clock stop", "mode knob"])
def test_every_stop_path_closes_every_note(how):
    rig = Rig()
    stop = {"panic": (1.3, (0xB0, 25, 127)), "mode knob": (1.3, (0xB0, 24, 0))}
    events = [(0.0, on(60)), (0.5, on(64))]  # both keys held: it plays on
    if how == "clock stop":
        rig.run(events, until=1.3)
        rig.engine.halt()  # what the daemon does on the DAW's Stop
        rig.run([], until=3.0)
    else:
        rig.run(events + [stop[how]], until=3.0)
    sounding = set()
    for _, kind, pitch in rig.channel(ACC):
        (sounding.add if kind == "on" else sounding.discard)(pitch)
    assert sounding == set() and rig.tracker.sounding_on(ACC) == frozenset()
    last_on = max(t for t, kind, _ in rig.channel(ACC) if kind == "on")
    last_off = [t for t, kind, _ in rig.channel(ACC) if kind == "off"][-1]
    if how == "mode knob":  # it plays to the next bar line of its grid (beat 4, 2.0 s), then stops
        assert last_off == 2.0 + LATE and last_on < 2.0
    else:  # at once
        assert last_on < 1.3 and 1.3 <= last_off <= 1.31  # (the rig's clock moves 5 ms at a time)


def test_switching_into_accompany_takes_effect_at_the_bar_line():
    rig = Rig(mode="call")
    phrase = [(0.0, on(60)), (0.45, off(60)), (0.5, on(62)), (0.95, off(62))]
    # The phrase is answered from beat 3 (1.5 s); at 1.6 s the knob turns to accompany while the player
    # holds F4: the answer ends at its bar line (beat 7, 3.5 s), where the accompaniment starts.
    rig.run(phrase + [(1.6, (0xB0, 24, 127)), (1.7, on(65)), (4.0, off(65))], until=4.5)
    answer = rig.channel(0)
    assert answer[0] == (1.5, "on", 67) and answer[-1] == (3.5, "off", 67)
    assert all(t <= 3.5 for t, _, _ in answer)
    # Its first step, on the bar line, heard F4 sounding: F major (F2, A3, C4).
    first = [e for e in rig.channel(ACC) if e[1] == "on"][:3]
    assert first == [(3.5 + LATE, "on", 41), (3.5 + LATE, "on", 57), (3.5 + LATE, "on", 60)]
    # And back: the knob to call at 4.1 s ends the accompaniment at its next bar line (beat 11, 5.5 s).
    rig.run([(4.1, (0xB0, 24, 0))], until=6.0)
    assert rig.channel(ACC)[-1][0] == 5.5 + LATE and rig.tracker.sounding_on(ACC) == frozenset()
    assert rig.engine.controls.current.mode == "call" and not rig.engine.accompanying


# --- the network: NumPy as Keras computes it; pairs; the command line -----------------------------


def test_numpy_runtime_matches_keras():
    pytest.importorskip("tensorflow")
    import keras

    from neuraltunes_live.training.accompany import build, export_weights

    from .floats import assert_close

    for lookahead in (0, 2):
        arch = acc.AccompanyArchitecture(shapes=SHAPES, lookahead=lookahead, lstm_units=(16, 8))
        keras.utils.set_random_seed(1)
        net = build(arch)
        rng = np.random.default_rng(2)
        net.set_weights([w * 3 if np.any(w) else rng.normal(0, 0.5, w.shape) for w in net.get_weights()])
        runtime = acc.AccompanyModel(arch, export_weights(net, arch))
        player = rng.integers(0, acc.PLAYER_TOKENS, 30).astype(np.int32)
        ours = rng.integers(0, arch.vocab_size, 30).astype(np.int32)
        inputs = acc.network_inputs(player, ours, 3, lookahead, runtime.start_token)
        expected = np.asarray(net(inputs[None], training=False))[0]
        assert_close(runtime.sequence_logits(inputs), expected)
        state = runtime.initial_state()
        for t in range(len(inputs)):
            logits, state = runtime.step(inputs[t], state)
            assert_close(logits, expected[t])


def _two_track_file(path, melody, chords, channels=(0, 1)):
    from neuraltunes_live.data.midifile import midifile_from_parts

    midi = midifile_from_parts([("tune", melody), ("chords", chords)])
    for track, channel in zip(midi.tracks, channels):
        for i, message in enumerate(track):
            if message.type in ("note_on", "note_off"):
                track[i] = message.copy(channel=channel)
    midi.save(path)


def test_prepare_pairs_splits_each_file_by_its_player_and_skips_the_bad(tmp_path):
    from neuraltunes_live.config import PrepareSettings
    from neuraltunes_live.data.pairs import prepare_pairs, read_pair_split

    songs = tmp_path / "songs"
    songs.mkdir()
    for i in range(6):
        melody = notes(*[(12 * b, 60 + (b * (i + 1)) % 12, 12, 80) for b in range(16)])
        chords = notes(*[(48 * b, p + i, 48, 70) for b in range(4) for p in (48, 52, 55)])
        _two_track_file(songs / f"song{i}.mid", melody, chords)
    (songs / "broken.mid").write_bytes(b"MThd not really")
    settings = PrepareSettings(validation_fraction=0.2, test_fraction=0.2)
    by_track = prepare_pairs([str(songs)], tmp_path / "pairs", "part:1", settings)
    assert by_track.pieces_found == 6 and set(by_track.files_skipped) == {str(songs / "broken.mid")}
    train = read_pair_split(tmp_path / "pairs", "train")
    kept = sum(len(names) for names in by_track.pieces.values())
    assert kept == 6 and len(train) >= 2
    assert all(p[:, 2].tolist() == [12] * 16 and len(a) == 12 for p, a in zip(train.player, train.accompaniment))
    # The same files by channel: channel 1 is the tune's; channel 2's notes, the chords, as the player.
    by_channel = prepare_pairs([str(songs)], tmp_path / "by-channel", "channel:2", settings)
    chords_first = read_pair_split(tmp_path / "by-channel", "train")
    assert by_channel.player == "channel:2" and all(len(p) == 12 for p in chords_first.player)
    with pytest.raises(Exception, match="part:N"):
        prepare_pairs([str(songs)], tmp_path / "x", "voice 1", settings)


def test_generate_accompany_writes_the_melody_and_its_accompaniment(tmp_path):
    from click.testing import CliRunner

    from neuraltunes_live.cli import main
    from neuraltunes_live.core.model_files import AccompanyInfo, write_accompany_dir
    from neuraltunes_live.data.midifile import read_midifile, write_midi

    arch = acc.AccompanyArchitecture(shapes=SHAPES, lstm_units=(4,))
    rng = np.random.default_rng(0)
    weights = {k: rng.normal(0, 0.3, s).astype(np.float32) for k, s in arch.weight_shapes().items()}
    folder = tmp_path / "model"
    folder.mkdir()
    write_accompany_dir(folder, arch, weights, AccompanyInfo("accompany", "", 0, "", acc.STEP_TICKS, {}, {}, {}))
    melody = tmp_path / "tune.mid"
    write_midi(notes(*[(12 * b, 60 + 2 * (b % 4), 12, 80) for b in range(8)]), melody)
    out = tmp_path / "both.mid"
    args = ["generate", "--accompany", str(melody), "--out", str(out), "--accompaniment-model", str(folder)]
    result = CliRunner().invoke(main, [*args, "--random-seed", "3", "--texture", "bass"])
    assert result.exit_code == 0, result.output
    midi = read_midifile(out)
    names = [next(m.name for m in t if m.type == "track_name") for t in midi.tracks]
    assert names == ["melody", "accompaniment"]
    bass = [m.note for m in midi.tracks[1] if m.type == "note_on" and m.velocity > 0]
    assert bass and all(28 <= p < 52 for p in bass)  # a bass line, below the register
    again = CliRunner().invoke(
        main, [*args[:4], str(tmp_path / "again.mid"), *args[5:], "--random-seed", "3", "--texture", "bass"]
    )
    assert again.exit_code == 0 and (tmp_path / "again.mid").read_bytes() == out.read_bytes()  # one seed, one take
    wrong = CliRunner().invoke(
        main, ["generate", "--accompany", str(melody), "--out", str(out), "--accompaniment-model", str(tmp_path)]
    )
    assert wrong.exit_code == 1 and "not a model folder" in wrong.output and "Traceback" not in wrong.output
    both = CliRunner().invoke(
        main, ["generate", "--accompany", str(melody), "--phrase", str(melody), "--out", str(out)]
    )
    assert both.exit_code == 2 and "--phrase FILE" in both.output
