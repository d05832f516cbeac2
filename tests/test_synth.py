"""The built-in synth: sound that follows the MIDI, audio files, and one line when it cannot play.

These render with FluidSynth and a General MIDI SoundFont of the system
(``./quickstart.sh test`` installs both); without them the tests skip, except
under ``CI=true``, where they fail.
"""

from __future__ import annotations

import re
import subprocess
import sys
import wave

import numpy as np
import pytest

from neuraltunes_live.errors import SynthError
from neuraltunes_live.live.synth import INSTALL_FLUIDSYNTH, SAMPLE_RATE, SoundFontSynth, find_soundfont, render_timed

#: Sound: above -50 dBFS on either channel (the synth's idle output is ±1 LSB).
AUDIBLE = 100
SILENT = 8


def levels(frames: np.ndarray) -> np.ndarray:
    return np.abs(frames.astype(np.int32)).max(axis=1)


def timed_phrase(pitches, seconds_per_note=0.5, hold=0.6):
    messages = []
    for i, pitch in enumerate(pitches):
        messages.append((i * seconds_per_note, (0x90, pitch, 100)))
        messages.append((i * seconds_per_note + hold * seconds_per_note, (0x80, pitch, 0)))
    return messages


def test_sound_starts_within_10_ms_of_each_note_on_and_ends_after_the_last_note_off(soundfont):
    messages = timed_phrase([60, 64, 67, 72, 48, 55])
    frames = render_timed(messages, soundfont, tail=2.0)
    level = levels(frames)
    ms = SAMPLE_RATE // 1000
    for t, message in messages:
        if message[0] != 0x90:
            continue
        at = round(t * SAMPLE_RATE)
        first = at + int(np.argmax(level[at:] > AUDIBLE))
        assert level[first] > AUDIBLE and first - at <= 10 * ms, (message, (first - at) / ms)
        if at:  # the note before was let go 0.2 s earlier: nothing sounded before this one began
            assert level[at - 2 * ms : at].max() < level[first : first + 20 * ms].max()
    last_off = round(max(t for t, _ in messages) * SAMPLE_RATE)
    after = level[last_off:]
    # It dies away after the last note-off (a release of at most a second) and stays silent.
    ended = last_off + int(np.flatnonzero(after > SILENT).max(initial=0))
    assert ended - last_off < SAMPLE_RATE
    assert level[ended + 1 :].max(initial=0) <= SILENT and len(level) - ended > SAMPLE_RATE // 2


def test_all_notes_off_and_silence_end_the_sound(soundfont):
    from neuraltunes_live.live.synth import SoundFontSynth

    with SoundFontSynth(soundfont) as synth:
        synth.send((0x90, 60, 100))
        synth.send((0x91, 64, 100))
        assert levels(synth.render(SAMPLE_RATE // 10)).max() > AUDIBLE
        synth.send((0xB0, 123, 0))  # All Notes Off on channel 1: channel 2 still sounds
        synth.render(SAMPLE_RATE)
        assert levels(synth.render(SAMPLE_RATE // 10)).max() > AUDIBLE
        synth.silence()  # every channel, at once
        assert levels(synth.render(SAMPLE_RATE // 10))[SAMPLE_RATE // 100 :].max() <= SILENT
        synth.send((0x90, 60, 100))  # malformed and foreign messages are ignored, never raise
        for junk in [(), (0x90,), (0xF8,), (0xF0, 1, 0xF7), (0xE0, 0, 64)]:
            synth.send(junk)
    synth.close()  # again: nothing happens
    synth.send((0x90, 60, 100))  # after close: ignored


def test_generate_wav_renders_the_written_file(soundfont, random_model_dir, tmp_path):
    from click.testing import CliRunner

    from neuraltunes_live.cli import main
    from neuraltunes_live.data.midifile import timed_messages

    from .conftest import midi_track, off, on, save_midi

    phrase = save_midi(tmp_path / "phrase.mid", midi_track(on(0, 60), off(480, 60), on(0, 64), off(480, 64)))
    out, wav_path = tmp_path / "answer.mid", tmp_path / "answer.wav"
    result = CliRunner().invoke(
        main,
        [
            "generate",
            "--phrase",
            str(phrase),
            "--out",
            str(out),
            "--model",
            str(random_model_dir),
            "--bars",
            "2",
            "--random-seed",
            "4",
            "--wav",
            str(wav_path),
        ],
    )
    assert result.exit_code == 0, result.output
    with wave.open(str(wav_path)) as wav:
        assert (wav.getnchannels(), wav.getsampwidth(), wav.getframerate()) == (2, 2, SAMPLE_RATE)
        frames = np.frombuffer(wav.readframes(wav.getnframes()), "<i2").reshape(-1, 2)
    messages = timed_messages(out)
    last = max(t for t, _ in messages)
    assert len(frames) == round(last * SAMPLE_RATE) + SAMPLE_RATE  # one second after the last event
    np.testing.assert_array_equal(frames, render_timed(messages, soundfont))  # the same file, the same audio
    starts = [round(t * SAMPLE_RATE) for t, m in messages if m[0] & 0xF0 == 0x90 and m[2] > 0]
    assert all(levels(frames[s : s + SAMPLE_RATE // 100]).max() > AUDIBLE for s in starts)


def test_no_soundfont_is_one_line_naming_what_to_install(tmp_path):
    with pytest.raises(SynthError, match=r"apt-get install timgm6mb-soundfont.* or pass --soundfont FILE.sf2"):
        find_soundfont(places=[str(tmp_path / "none.sf2")])
    with pytest.raises(SynthError, match="nothere.sf2 does not exist"):
        find_soundfont(tmp_path / "nothere.sf2")
    bad = tmp_path / "bad.sf2"
    bad.write_bytes(b"RIFF junk")
    from neuraltunes_live.live.synth import SoundFontSynth

    try:
        import fluidsynth  # noqa: F401  (pyfluidsynth loads the library as it is imported)
    except (ImportError, OSError):
        expected = re.escape(INSTALL_FLUIDSYNTH)  # without the library, that is the one line
    else:
        expected = f"{re.escape(str(bad))} is not a SoundFont FluidSynth can read"
    with pytest.raises(SynthError, match=expected):
        SoundFontSynth(bad).close()


def test_generate_wav_with_a_file_that_is_no_soundfont_stops_before_writing_anything(soundfont, tmp_path):
    from click.testing import CliRunner

    from neuraltunes_live.cli import main

    from .conftest import midi_track, off, on, save_midi

    phrase = save_midi(tmp_path / "phrase.mid", midi_track(on(0, 60), off(480, 60), on(0, 64), off(480, 64)))
    bad = tmp_path / "bad.sf2"
    bad.write_bytes(b"RIFF junk")
    args = ["generate", "--phrase", str(phrase), "--out", str(tmp_path / "answer.mid"), "--wav"]
    result = CliRunner().invoke(main, [*args, str(tmp_path / "answer.wav"), "--soundfont", str(bad)])
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [f"Error: {bad} is not a SoundFont FluidSynth can read"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.sf2", "phrase.mid"]  # no answer written


def test_serve_plays_midi_only_when_the_synth_cannot_start(monkeypatch):
    import dataclasses

    from neuraltunes_live.config import Config
    from neuraltunes_live.live import serve

    from .fakes import log_lines

    def broken(*args, **kwargs):
        raise SynthError("no audio output could be opened (alsa); the MIDI output keeps playing")

    monkeypatch.setattr(serve, "SoundFontSynth", broken)
    lines = log_lines()
    config = Config()
    with serve._synth_for(
        dataclasses.replace(config, live=dataclasses.replace(config.live, synth=True)), "alsa", None
    ) as s:
        assert s is None
    assert lines == [
        "warning: no audio output could be opened (alsa); the MIDI output keeps playing; playing MIDI only"
    ]
    with serve._synth_for(config, "alsa", None) as s:  # not asked for: nothing opened
        assert s is None


def test_the_synth_loads_without_tensorflow_or_music21(soundfont):
    code = (
        "import sys; import neuraltunes_live.live.serve, neuraltunes_live.offline.generate;"
        "from neuraltunes_live.live.synth import SoundFontSynth; SoundFontSynth().close();"
        "print(sorted(m for m in ('tensorflow', 'keras', 'music21', 'matplotlib') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_rendering_into_float_buffers_is_the_16_bit_rendering_without_its_dither(soundfont):
    import numpy as np

    with SoundFontSynth(soundfont) as sixteen, SoundFontSynth(soundfont) as floats:
        left, right = np.zeros(4800, np.float32), np.zeros(4800, np.float32)
        floats.render_into(left, right, 0, 2400)
        assert not left[:2400].any() and not right[:2400].any()  # silence is 0.0, not a least bit of noise
        sixteen.render(2400)  # both at the same point of the synth's blocks
        for synth in (sixteen, floats):
            synth.send((0x90, 60, 100))
        reference = sixteen.render(4800) / 32768.0
        floats.render_into(left, right, 0, 4800)
        assert np.abs(left).max() > 0.01
        assert np.abs(left - reference[:, 0]).max() <= 3 / 32768 and np.abs(right - reference[:, 1]).max() <= 3 / 32768
