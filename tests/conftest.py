"""Builders for notes and MIDI files, shared by the tests."""

from __future__ import annotations

import sys
from pathlib import Path

import mido
import pytest

from neuraltunes_live.core.notes import notes_array

from .fakes import detach_log_lines

# The benchmarks' own helpers (answer measures, the Markov player) are tested
# here too, imported as the benchmark scripts import them.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))


@pytest.fixture(autouse=True)
def _log_lines_detached():
    """Whatever gathered the package's log lines in a test stops with it."""
    yield
    detach_log_lines()


def notes(*rows):
    """Notes array from ``(onset, pitch, duration, velocity)`` rows in grid ticks."""
    return notes_array(rows)


def midi_track(*events, name=None):
    """A track from ``(delta_ticks, type, **fields)`` tuples."""
    track = mido.MidiTrack()
    if name:
        track.append(mido.MetaMessage("track_name", name=name, time=0))
    for delta, kind, fields in events:
        if kind in ("set_tempo", "end_of_track", "time_signature"):
            track.append(mido.MetaMessage(kind, time=delta, **fields))
        else:
            track.append(mido.Message(kind, time=delta, **fields))
    return track


def on(delta, note, velocity=100, channel=0):
    return (delta, "note_on", {"note": note, "velocity": velocity, "channel": channel})


def off(delta, note, channel=0, velocity=0):
    """A note-off written as ``note_off``; ``on(d, n, 0)`` writes the velocity-0 form."""
    return (delta, "note_off", {"note": note, "velocity": velocity, "channel": channel})


def tempo(delta, bpm):
    return (delta, "set_tempo", {"tempo": mido.bpm2tempo(bpm)})


def save_midi(path: Path, *tracks, ticks_per_beat=480, type=1) -> Path:
    midi = mido.MidiFile(type=type, ticks_per_beat=ticks_per_beat)
    midi.tracks.extend(tracks)
    midi.save(path)
    return path


@pytest.fixture
def melody_file(tmp_path):
    """A short valid melody: C D E F as quarter notes at 480 PPQ."""

    def make(name="melody.mid", pitches=(60, 62, 64, 65)):
        events = []
        for pitch in pitches:
            events += [on(0, pitch), off(480, pitch)]
        return save_midi(tmp_path / name, midi_track(*events))

    return make


def synthetic_tune(index: int):
    """A small tune in one of 12 keys: a motif rising through the scale, with a
    chord on each bar's first beat, so a model has something to learn."""
    import numpy as np

    rng = np.random.default_rng(index)
    tonic = 55 + index % 12
    scale = [0, 2, 4, 5, 7, 9, 11, 12, 14, 16]
    rows = []
    onset = 0
    for bar in range(8):
        for pitch in (tonic - 12, tonic - 5, tonic + 4):  # chord at the bar line
            rows.append((onset, pitch, 48, 70))
        degree = int(rng.integers(0, 4))
        for beat in range(4):
            step = scale[(degree + beat + bar) % len(scale)]
            length = 12 if beat % 2 == 0 else 6
            rows.append((onset + beat * 12, tonic + step, length, 90))
            if length == 6:
                rows.append((onset + beat * 12 + 6, tonic + step + 2, 6, 90))
        onset += 48
    return notes(*rows)


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory):
    """A prepared data folder of 30 synthetic tunes (train/validation/test)."""
    from neuraltunes_live.config import PrepareSettings
    from neuraltunes_live.data.midifile import write_midi
    from neuraltunes_live.data.prepare import prepare

    root = tmp_path_factory.mktemp("tiny")
    songs = root / "songs"
    songs.mkdir()
    for i in range(30):
        write_midi(synthetic_tune(i), songs / f"tune{i:02d}.mid")
    out = root / "data"
    prepare([str(songs)], out, PrepareSettings(workers=1, validation_fraction=0.2, test_fraction=0.2), use_cache=False)
    return out


def random_weights(arch, seed=0, scale=0.3):
    import numpy as np

    rng = np.random.default_rng(seed)
    return {
        name: (rng.standard_normal(shape) * scale).astype(np.float32) for name, shape in arch.weight_shapes().items()
    }


@pytest.fixture(scope="session")
def random_model_dir(tmp_path_factory):
    """A model folder with small random weights: loads and samples, knows nothing."""
    from neuraltunes_live.core.model import Architecture
    from neuraltunes_live.core.model_files import ModelInfo, write_model_dir

    folder = tmp_path_factory.mktemp("model")
    arch = Architecture(embedding_dim=8, lstm_units=(16, 12))
    write_model_dir(folder, arch, random_weights(arch), ModelInfo(preset="random"))
    return folder


@pytest.fixture(scope="session")
def soundfont():
    """The system's General MIDI SoundFont, with FluidSynth to play it; skipped without (failed under CI)."""
    import os

    from neuraltunes_live.errors import SynthError
    from neuraltunes_live.live.synth import find_soundfont

    try:
        import fluidsynth  # noqa: F401

        return find_soundfont()
    except (ImportError, OSError, SynthError) as err:
        message = f"the synth tests need FluidSynth and a SoundFont ({err}); ./quickstart.sh test installs them"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
