"""Builders for notes and MIDI files, shared by the tests."""

from __future__ import annotations

from pathlib import Path

import mido
import pytest

from neuraltunes_live.notes import notes_array


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
