"""Fuzzing what comes from outside: MIDI bytes live, MIDI files, model folders, config files.

Property-based (Hypothesis). Each property runs ``max_examples`` cases in
every run of the suite, CI included (the counts are in the README):

- **live input**: arbitrary deliveries (truncated and unterminated SysEx,
  data bytes without status, running status, real-time bytes inside other
  messages, every status byte) at random times among a well-formed phrase:
  the answer is exactly the one given without them, nothing raises, no
  note is left open;
- **MIDI files**: mutated bytes of real files read as notes or refused with
  ``ImportFailed``, never another exception;
- **model folders** and **config files**: mutated, they load or are refused
  with the project's own one-line error.
"""

from __future__ import annotations

import io
import json
import os
import tomllib

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from neuraltunes_live.config import load_config
from neuraltunes_live.core.model import Architecture
from neuraltunes_live.core.model_files import ModelInfo, load_model, write_model_dir
from neuraltunes_live.core.notes import notes_array
from neuraltunes_live.data.midifile import midifile_from_parts, parse_midi
from neuraltunes_live.errors import ImportFailed, NeuralTunesError
from neuraltunes_live.live.messages import split

from .conftest import random_weights
from .fakes import ScriptedModel, quarter_notes_of
from .test_daemon import PHRASE, Rig

LIVE_CASES, FILE_CASES, MODEL_CASES, CONFIG_CASES = 150, 300, 150, 300
#: More cases for a deeper run: NTLIVE_FUZZ_SCALE=10 multiplies them all.
_SCALE = int(os.environ.get("NTLIVE_FUZZ_SCALE", "1"))
LIVE_CASES, FILE_CASES, MODEL_CASES, CONFIG_CASES = (
    n * _SCALE for n in (LIVE_CASES, FILE_CASES, MODEL_CASES, CONFIG_CASES)
)
FUZZ = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])

byte = st.integers(0, 255)
delivery = st.one_of(
    st.lists(byte, max_size=12),  # anything at all
    st.lists(byte, max_size=10).map(lambda body: [0xF0, *body]),  # SysEx, mostly without its F7
    st.lists(st.integers(0, 127), min_size=1, max_size=6),  # data bytes without status
    st.tuples(st.integers(0x80, 0xFF), st.lists(st.integers(0, 127), max_size=4)).map(lambda s: [s[0], *s[1]]),
    st.tuples(
        st.sampled_from([0x90, 0x80, 0xB0]), st.integers(0, 127), st.sampled_from([0xF8, 0xFE]), st.integers(0, 127)
    ).map(list),  # a real-time byte inside a message
    st.lists(st.integers(0, 127), min_size=4, max_size=8).map(lambda d: [0x90, *d]),  # running status
)


def harmless(data: list[int]) -> bool:
    """Junk that a player could not mean as music: nothing in it is a note or a knob.

    (Well-formed notes and control changes are input, not junk: they change
    the answer by design.)
    """
    return all(m[0] & 0xF0 not in (0x80, 0x90, 0xB0) for m in split(data).messages)


@settings(max_examples=LIVE_CASES, **FUZZ)
@given(st.lists(st.tuples(st.floats(-0.5, 4.5), delivery.filter(harmless)), max_size=12))
def test_junk_among_a_phrase_changes_nothing_of_the_answer(junk):
    clean = Rig(ScriptedModel(quarter_notes_of(67)), bars=1)
    clean.run(PHRASE, until=5.0)
    noisy = Rig(ScriptedModel(quarter_notes_of(67)), bars=1)
    noisy.run(PHRASE + [(t, tuple(data)) for t, data in junk], until=5.0)
    assert noisy.sent == clean.sent
    assert not any("error" in line for line in noisy.log)
    assert noisy.daemon.tracker.sounding == frozenset()


def _real_midi_files() -> list[bytes]:
    """A one-track melody and a two-track file of melody and chords, written by the project."""
    files = []
    melody = notes_array([(6 * i, 60 + (i * 5) % 12, 6, 90) for i in range(16)])
    chords = notes_array([(24 * i, p, 24, 70) for i in range(4) for p in (48, 64, 67)])
    for parts in ([("", melody)], [("melody", melody), ("chords", chords)]):
        buffer = io.BytesIO()
        midifile_from_parts(parts, tempo_bpm=97).save(file=buffer)
        files.append(buffer.getvalue())
    return files


MIDI_FILES = _real_midi_files()


@st.composite
def mutated_midi(draw):
    data = bytearray(draw(st.sampled_from(MIDI_FILES)))
    for _ in range(draw(st.integers(1, 6))):
        how = draw(st.sampled_from(["flip", "cut", "insert", "delete"]))
        at = draw(st.integers(0, max(0, len(data) - 1)))
        if how == "flip" and data:
            data[at] = draw(byte)
        elif how == "cut":
            del data[at:]
        elif how == "insert":
            data[at:at] = bytes(draw(st.lists(byte, min_size=1, max_size=8)))
        elif data:
            del data[at : at + draw(st.integers(1, 16))]
    return bytes(data)


@settings(max_examples=FILE_CASES, **FUZZ)
@given(mutated_midi())
def test_a_mutated_midi_file_gives_notes_or_one_clean_error(data):
    try:
        piece = parse_midi(data)
    except NeuralTunesError as err:
        assert "\n" not in str(err)
        return
    assert piece.notes.ndim == 2 and piece.notes.shape[1] == 4


ARCH = Architecture(embedding_dim=4, lstm_units=(6,), relative_pitch=True, key_context=(0.7, 0.9))


@pytest.fixture(scope="module")
def model_bytes(tmp_path_factory):
    folder = tmp_path_factory.mktemp("model")
    write_model_dir(folder, ARCH, random_weights(ARCH), ModelInfo(preset="fuzz"))
    return (folder / "model.json").read_text(), (folder / "weights.npz").read_bytes()


def _json_values():
    return st.recursive(
        st.none() | st.booleans() | st.integers(-10, 10**6) | st.floats(allow_nan=True) | st.text(max_size=5),
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
        max_leaves=6,
    )


@settings(max_examples=MODEL_CASES, **FUZZ)
@given(data=st.data())
def test_a_mutated_model_folder_loads_or_gives_one_clean_error(model_bytes, tmp_path_factory, data):
    text, weights = model_bytes
    config = json.loads(text)
    target = data.draw(st.sampled_from(["architecture", "vocabulary", "piece_memory", "weights", "json"]))
    if target in ("architecture", "vocabulary"):
        key = data.draw(st.sampled_from(sorted(config[target])))
        config[target][key] = data.draw(_json_values())
        text = json.dumps(config)
    elif target == "piece_memory":
        config["piece_memory"] = data.draw(_json_values())
        text = json.dumps(config)
    elif target == "json":
        cut = data.draw(st.integers(0, len(text)))
        text = text[:cut] + data.draw(st.text(max_size=4)) + text[cut + 1 :]
    else:
        mutable = bytearray(weights)
        for _ in range(data.draw(st.integers(1, 4))):
            mutable[data.draw(st.integers(0, len(mutable) - 1))] = data.draw(byte)
        if data.draw(st.booleans()):
            del mutable[data.draw(st.integers(0, len(mutable) - 1)) :]
        weights = bytes(mutable)
    folder = tmp_path_factory.mktemp("mutated")
    (folder / "model.json").write_text(text)
    (folder / "weights.npz").write_bytes(weights)
    try:
        model = load_model(folder)
    except NeuralTunesError as err:
        assert "\n" not in str(err)
        return
    logits, _ = model.step(1, model.initial_state())
    assert logits.shape == (model.vocab_size,)


CONFIG_KEYS = {
    "live": ["tempo", "mode", "bars", "silence_beats", "max_phrase_beats", "input_channel", "style", "backend"],
    "controls": ["temperature", "bars", "panic", "channel", "max_bars", "temperature_low"],
    "style_balanced": ["temperature", "top_k", "top_p", "max_repeats", "keep_grid"],
    "generate": ["bars", "style", "key", "random_seed"],
    "prepare": ["random_seed", "workers", "validation_fraction"],
    "train": ["epochs", "preset", "batch_size"],
}
toml_value = st.one_of(
    st.integers(-(2**40), 2**40).map(str),
    st.floats(allow_nan=False, allow_infinity=False).map(repr),
    st.booleans().map(lambda b: str(b).lower()),
    st.text(max_size=6).map(json.dumps),
    st.sampled_from(["nan", "inf", "[1, 2]", "{a = 1}", "", '"balanced"', "0x10", "1979-05-27"]),
)


@settings(max_examples=CONFIG_CASES, **FUZZ)
@given(st.lists(st.tuples(st.sampled_from(sorted(CONFIG_KEYS)), st.data()), max_size=4), st.text(max_size=20))
def test_a_mutated_config_file_loads_or_gives_one_clean_error(tmp_path_factory, entries, noise):
    lines = []
    for section, data in entries:
        key = data.draw(st.sampled_from(CONFIG_KEYS[section]))
        lines += [f"[{section}]", f"{key} = {data.draw(toml_value)}"]
    if noise:
        lines.append(noise)
    path = tmp_path_factory.mktemp("config") / "config.toml"
    text = "\n".join(lines)
    path.write_text(text, encoding="utf-8")
    try:
        parsed = tomllib.loads(text)
    except tomllib.TOMLDecodeError:
        parsed = None
    try:
        config = load_config(path, env={})
    except NeuralTunesError as err:
        message = str(err)
        assert "\n" not in message  # one line
        if parsed is None:
            assert message.startswith(f"{path}: not valid TOML"), message
        else:  # it names a setting the file gives (or the section of knobs that clash)
            named = [f"{section}.{key}" for section, values in parsed.items() for key in values]
            assert any(name in message for name in named) or message.startswith("[controls]"), message
        return
    assert parsed is not None, "a file that is not TOML was read"
    for section, values in parsed.items():  # every value the file gives is the one the config holds
        for key, value in values.items():
            assert getattr(getattr(config, section), key) == value


def _mido_piece(data: bytes, include_drums: bool):
    from neuraltunes_live.data.midifile import _midifile, piece_from_midifile

    try:
        return piece_from_midifile(_midifile(data), include_drums=include_drums)
    except ImportFailed as err:
        return str(err)


def _same(fast, slow) -> None:
    assert not isinstance(slow, str), slow  # symusic read a file mido's path refuses
    np.testing.assert_array_equal(fast.notes, slow.notes)
    assert (fast.tempo_bpm, fast.warnings) == (slow.tempo_bpm, slow.warnings)


event = st.one_of(
    st.tuples(st.just("note_on"), st.integers(0, 15), st.integers(0, 127), st.integers(0, 127)),
    st.tuples(st.just("note_off"), st.integers(0, 15), st.integers(0, 127), st.integers(0, 127)),
    st.tuples(st.just("set_tempo"), st.just(0), st.integers(0, 3_000_000), st.just(0)),
    st.tuples(st.just("program_change"), st.integers(0, 15), st.integers(0, 127), st.just(0)),
)


@st.composite
def random_midi(draw):
    """A file of random note, tempo and program events on a few channels and pitches (so keys collide)."""
    import mido

    midi = mido.MidiFile(type=draw(st.sampled_from([0, 1, 2])), ticks_per_beat=draw(st.sampled_from([96, 480, 7])))
    channels, pitches = draw(st.sampled_from([[0], [0, 1], [0, 9], list(range(16))])), [60, 62, draw(byte) % 128]
    for _ in range(1 if midi.type == 0 else draw(st.integers(1, 3))):
        track = mido.MidiTrack()
        for kind, channel, value, velocity in draw(st.lists(event, max_size=30)):
            time = draw(st.sampled_from([0, 0, 1, 5, 120, 480]))
            if kind == "set_tempo":
                track.append(mido.MetaMessage("set_tempo", tempo=value, time=time))
            elif kind == "program_change":
                track.append(mido.Message(kind, channel=channels[channel % len(channels)], program=value, time=time))
            else:
                pitch = pitches[value % len(pitches)]
                track.append(
                    mido.Message(
                        kind, channel=channels[channel % len(channels)], note=pitch, velocity=velocity, time=time
                    )
                )
        midi.tracks.append(track)
    buffer = io.BytesIO()
    midi.save(file=buffer)
    return buffer.getvalue()


@settings(max_examples=FILE_CASES, **FUZZ)
@given(random_midi(), st.booleans())
def test_the_fast_reader_gives_exactly_what_the_rules_give(data, include_drums):
    from neuraltunes_live.data.midifile import fast_piece

    fast = fast_piece(data, include_drums=include_drums)
    if fast is not None:
        _same(fast, _mido_piece(data, include_drums))


@settings(max_examples=FILE_CASES, **FUZZ)
@given(mutated_midi())
def test_the_fast_reader_on_a_mutated_file_agrees_or_leaves_it_to_mido(data):
    from neuraltunes_live.data.midifile import fast_piece

    fast = fast_piece(data)
    if fast is not None:
        _same(fast, _mido_piece(data, False))


def test_the_fast_reader_reads_ordinary_files_itself():
    from neuraltunes_live.data.midifile import fast_piece

    read = [fast_piece(data) is not None for data in MIDI_FILES]
    assert all(read), read  # real pieces (chorale parts, tunes, a melody with chords) never need mido
