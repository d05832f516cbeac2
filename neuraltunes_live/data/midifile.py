"""Standard MIDI files in and out, through mido (the only module that reads them).

Reading follows these rules:

- Format 0, 1 and 2 files are read track by track and the notes merged; notes
  pair up within their own track and channel, so tracks cannot steal each
  other's note-offs.
- Channel 10 (drums, channel 9 counting from 0) is left out unless asked for:
  its notes are instruments, not pitches.
- ``note_on`` with velocity 0 is a note-off (running status is mido's job).
- A note-on for a pitch already sounding on that channel ends the sounding note
  there and starts the new one; a note-off with no note sounding is ignored;
  a note never switched off ends at the end of its track.
- Time in a PPQ file is ``tick / ticks_per_beat`` beats, whatever the tempo
  map says (tempo changes move seconds, not beats); in an SMPTE file ticks are
  seconds, turned into beats through the file's tempo map. Then notes go onto
  the grid by ``notes.quantize``: a zero-length note keeps one tick.
- Data bytes above 127 are clipped rather than rejected; a file that ends in
  the middle of a chunk is refused as truncated.
"""

from __future__ import annotations

import io
import logging
import os
from pathlib import Path

import mido
import numpy as np

from neuraltunes_live.core.notes import TICKS_PER_BEAT, Piece, quantize
from neuraltunes_live.core.tempo import DEFAULT_TEMPO_US, TempoMap, bpm_to_us, clamped_tempo
from neuraltunes_live.errors import ImportFailed
from neuraltunes_live.files import replace_file

logger = logging.getLogger(__name__)

DRUM_CHANNEL = 9
MIDI_SUFFIXES = (".mid", ".midi", ".smf", ".kar")


def read_midi(path: str | os.PathLike, *, name: str | None = None, include_drums: bool = False) -> Piece:
    """Notes of a MIDI file on the grid; ImportFailed says why not."""
    path = Path(path)
    name = path.stem if name is None else name
    return piece_from_midifile(read_midifile(path), name=name, include_drums=include_drums)


def read_midifile(path: str | os.PathLike) -> "mido.MidiFile":
    """A MIDI file as mido reads it; ImportFailed says why not."""
    try:
        data = Path(path).read_bytes()
    except OSError as err:
        raise ImportFailed(f"cannot read file: {err.strerror or err}") from err
    return _midifile(data)


def _midifile(data: bytes) -> "mido.MidiFile":
    if not data:
        raise ImportFailed("empty file")
    try:
        midi = mido.MidiFile(file=io.BytesIO(data), clip=True)
    except EOFError as err:
        raise ImportFailed("truncated MIDI file: it ends in the middle of a chunk") from err
    except Exception as err:  # mido raises many kinds on garbage; all mean the same
        raise ImportFailed(f"not a MIDI file: {err or type(err).__name__}") from err
    if midi.ticks_per_beat == 0:
        raise ImportFailed("bad MIDI header: 0 ticks per beat")
    return midi


def parse_midi(data: bytes, *, name: str = "", include_drums: bool = False) -> Piece:
    """Notes of MIDI file bytes on the grid; ImportFailed says why not."""
    return piece_from_midifile(_midifile(data), name=name, include_drums=include_drums)


def piece_from_midifile(midi: "mido.MidiFile", *, name: str = "", include_drums: bool = False) -> Piece:
    division = midi.ticks_per_beat  # never 0: ``_midifile`` refuses that header

    rows: list[tuple[int, int, int, int]] = []  # start tick, end tick, pitch, velocity
    tempo_changes: list[tuple[int, float]] = []
    warnings: list[str] = []
    drums_skipped = 0
    for track in midi.tracks:
        tick = 0
        sounding: dict[tuple[int, int], tuple[int, int]] = {}
        for msg in track:
            tick += msg.time
            kind = msg.type
            if kind == "note_on" or kind == "note_off":
                if msg.channel == DRUM_CHANNEL and not include_drums:
                    drums_skipped += kind == "note_on"
                    continue
                key = (msg.channel, msg.note)
                started = sounding.pop(key, None)
                if started is not None:
                    rows.append((started[0], tick, msg.note, started[1]))
                if kind == "note_on" and msg.velocity > 0:
                    sounding[key] = (tick, msg.velocity)
            elif kind == "set_tempo":
                us, why = clamped_tempo(msg.tempo)
                if why and why not in warnings:
                    warnings.append(why)
                tempo_changes.append((tick, us))
        for (_, pitch), (start, velocity) in sounding.items():
            rows.append((start, tick, pitch, velocity))

    if not rows:
        detail = f" (only {drums_skipped} drum notes on channel 10)" if drums_skipped else ""
        raise ImportFailed(f"no notes{detail}")
    table = np.array(rows, dtype=np.float64)
    if division > 0:
        tempo = TempoMap.from_beat_changes((t / division, us) for t, us in tempo_changes)
        starts, ends = table[:, 0] / division, table[:, 1] / division
    else:
        seconds_per_tick = _smpte_seconds_per_tick(division)
        tempo = TempoMap.from_second_changes((t * seconds_per_tick, us) for t, us in tempo_changes)
        to_beats = np.vectorize(tempo.seconds_to_beats, otypes=[np.float64])
        starts = to_beats(table[:, 0] * seconds_per_tick)
        ends = to_beats(table[:, 1] * seconds_per_tick)
    notes = quantize(starts, ends, table[:, 2], table[:, 3])
    return Piece(name=name, notes=notes, tempo_bpm=round(tempo.initial_bpm, 3), warnings=tuple(warnings))


def _smpte_seconds_per_tick(division: int) -> float:
    # The header's high byte is minus the frame rate, the low byte ticks per frame.
    frames = -(division >> 8)
    ticks_per_frame = division & 0xFF
    if frames not in (24, 25, 29, 30) or ticks_per_frame == 0:
        raise ImportFailed(f"bad MIDI header: SMPTE division {division:#06x}")
    rate = 29.97 if frames == 29 else float(frames)
    return 1.0 / (rate * ticks_per_frame)


def _track(notes: np.ndarray, channel: int, scale: int) -> "mido.MidiTrack":
    events: list[tuple[int, int, int, int]] = []  # tick, on?, pitch, velocity
    for onset, pitch, duration, velocity in np.asarray(notes).reshape(-1, 4).tolist():
        events.append((onset * scale, 1, pitch, velocity))
        events.append(((onset + duration) * scale, 0, pitch, 0))
    events.sort(key=lambda event: (event[0], event[1], event[2]))
    track = mido.MidiTrack()
    last = 0
    for tick, on, pitch, velocity in events:
        kind = "note_on" if on else "note_off"
        track.append(mido.Message(kind, channel=channel, note=pitch, velocity=velocity, time=tick - last))
        last = tick
    track.append(mido.MetaMessage("end_of_track", time=0))
    return track


def midifile_from_notes(
    notes: np.ndarray, *, tempo_bpm: float = 120.0, channel: int = 0, ticks_per_beat: int = 480
) -> "mido.MidiFile":
    """A one-track MIDI file playing ``notes`` (grid ticks) at ``tempo_bpm``.

    At one tick, note-offs go before note-ons, so a repeated note sounds again.
    """
    return midifile_from_parts([("", notes)], tempo_bpm=tempo_bpm, channel=channel, ticks_per_beat=ticks_per_beat)


def midifile_from_parts(
    parts: list[tuple[str, np.ndarray]],
    *,
    tempo_bpm: float = 120.0,
    channel: int = 0,
    ticks_per_beat: int = 480,
) -> "mido.MidiFile":
    """A MIDI file with one named track per part, all on ``channel``.

    One unnamed part gives a format 0 file; several give format 1, the tempo
    in the first track, so a DAW opens each part on its own track.
    """
    if ticks_per_beat % TICKS_PER_BEAT:
        raise ValueError(f"ticks_per_beat must be a multiple of {TICKS_PER_BEAT}")
    scale = ticks_per_beat // TICKS_PER_BEAT
    single = len(parts) == 1 and not parts[0][0]
    midi = mido.MidiFile(type=0 if single else 1, ticks_per_beat=ticks_per_beat)
    for index, (name, notes) in enumerate(parts):
        track = _track(notes, channel, scale)
        header = [mido.MetaMessage("track_name", name=name, time=0)] if name else []
        if index == 0:
            header.append(mido.MetaMessage("set_tempo", tempo=round(bpm_to_us(tempo_bpm)), time=0))
        track[0:0] = header
        midi.tracks.append(track)
    return midi


def write_midi(
    notes: np.ndarray | list[tuple[str, np.ndarray]],
    path: str | os.PathLike,
    *,
    tempo_bpm: float = 120.0,
    channel: int = 0,
) -> None:
    """Write notes (or named parts) to a MIDI file, all or nothing (a temporary file, renamed)."""
    parts = notes if isinstance(notes, list) else [("", notes)]
    save_midifile(midifile_from_parts(parts, tempo_bpm=tempo_bpm, channel=channel), path)


def save_midifile(midi: "mido.MidiFile", path: str | os.PathLike) -> None:
    """Save all or nothing: a temporary file beside ``path``, renamed onto it."""
    replace_file(path, lambda out: midi.save(file=out))


def timed_messages(path: Path, tempo_bpm: float | None = None) -> list[tuple[float, tuple[int, ...]]]:
    """The channel messages of a MIDI file with their times in seconds.

    With ``tempo_bpm`` the file is played at that tempo (its own tempo changes
    scaled to match); meta and sysex events are left out. The file's tempos
    are read as ``read_midi`` reads them (``tempo.clamped_tempo``), with a
    warning logged for each one that had to be moved.
    """
    try:
        midi = read_midifile(path)
    except ImportFailed as err:
        raise ImportFailed(f"{path}: {err}") from err
    merged = list(mido.merge_tracks(midi.tracks))
    scale = 1.0
    if tempo_bpm is not None:
        first = next((m.tempo for m in merged if m.type == "set_tempo"), DEFAULT_TEMPO_US)
        scale = bpm_to_us(tempo_bpm) / clamped_tempo(first)[0]
    out, t, us, warned = [], 0.0, float(DEFAULT_TEMPO_US), set()
    for message in merged:
        t += message.time * us / 1e6 / midi.ticks_per_beat * scale
        if message.type == "set_tempo":
            us, why = clamped_tempo(message.tempo)
            if why and why not in warned:
                warned.add(why)
                logger.warning(f"{path}: {why}")
        elif not message.is_meta and message.type != "sysex":
            out.append((t, tuple(message.bytes())))
    return out


def write_timed_messages(path: str | os.PathLike, messages: list[tuple[float, tuple[int, ...]]]) -> None:
    """Channel messages with their times in seconds (from 0) as a MIDI file at 120 BPM; malformed ones left out."""
    ticks_per_beat, tempo = 480, 500_000  # 120 BPM: one second is 960 ticks
    track = mido.MidiTrack([mido.MetaMessage("set_tempo", tempo=tempo, time=0)])
    last = 0
    for t, message in messages:
        tick = round(t * ticks_per_beat * 1_000_000 / tempo)
        try:
            msg = mido.Message.from_bytes(list(message))
        except ValueError:
            continue
        track.append(msg.copy(time=max(0, tick - last)))
        last = max(last, tick)
    save_midifile(mido.MidiFile(tracks=[track], ticks_per_beat=ticks_per_beat), path)


__all__ = [
    "read_midi",
    "read_midifile",
    "parse_midi",
    "write_midi",
    "save_midifile",
    "timed_messages",
    "write_timed_messages",
    "midifile_from_notes",
    "midifile_from_parts",
    "MIDI_SUFFIXES",
]
