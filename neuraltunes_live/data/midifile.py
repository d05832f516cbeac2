"""Standard MIDI files in and out: symusic reads them fast, mido where it must, and writes them.

Reading follows these rules:

- Format 0, 1 and 2 files are read track by track and the notes merged; notes
  pair up within their own track and channel, so tracks cannot steal each
  other's note-offs.
- Channel 10 (drums, channel 9 counting from 0) is left out unless asked for:
  its notes are instruments, not pitches.
- ``note_on`` with velocity 0 is a note-off (running status is mido's job).
- A note-on for a pitch already sounding on that channel ends the sounding note
  there and starts the new one; a note-off at that same tick, after the new
  note-on, is the ended note's own (a repeated note written note-on first) and
  is passed over; a note-off with no note sounding is ignored; a note never
  switched off ends at the end of its track.
- Time in a PPQ file is ``tick / ticks_per_beat`` beats, whatever the tempo
  map says (tempo changes move seconds, not beats); in an SMPTE file ticks are
  seconds, turned into beats through the file's tempo map. Then notes go onto
  the grid by ``notes.quantize``: a zero-length note keeps one tick.
- Data bytes above 127 are clipped rather than rejected; a file that ends in
  the middle of a chunk is refused as truncated.
"""

from __future__ import annotations

import functools
import io
import logging
import os
from pathlib import Path
from typing import Any, Callable, Iterable

import mido
import numpy as np
import symusic

from neuraltunes_live.core.notes import TICKS_PER_BEAT, Piece, quantize
from neuraltunes_live.core.tempo import DEFAULT_TEMPO_US, TempoMap, bpm_to_us, clamped_tempo
from neuraltunes_live.errors import ImportFailed
from neuraltunes_live.files import replace_file

logger = logging.getLogger(__name__)

DRUM_CHANNEL = 9
#: No note of a file is read past this beat (a day and more at 120 BPM): later times are damage.
MAX_BEATS = 1_000_000
MIDI_SUFFIXES = (".mid", ".midi", ".smf", ".kar")


def read_midi(path: str | os.PathLike, *, name: str | None = None, include_drums: bool = False) -> Piece:
    """Notes of a MIDI file on the grid; ImportFailed says why not."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as err:
        raise ImportFailed(f"cannot read file: {err.strerror or err}") from err
    return parse_midi(data, name=path.stem if name is None else name, include_drums=include_drums)


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
    """Notes of MIDI file bytes on the grid; ImportFailed says why not.

    symusic's C++ parser reads the file when ``fast_piece`` can vouch that its
    notes are the ones the rules give; otherwise (and for every error) mido does.
    """
    piece = fast_piece(data, name=name, include_drums=include_drums)
    if piece is not None:
        return piece
    return piece_from_midifile(_midifile(data), name=name, include_drums=include_drums)


# --- the fast path: symusic ----------------------------------------------------
#
# symusic pairs a note-off with the earliest sounding note of its key (first in,
# first out) and drops a note never switched off; the rules above end a note
# at the next note-on of its key, and at the end of its track. So before
# symusic reads a file, every track gets two note-offs for every key at its
# very end (after End of Track's delta time): a note never switched off ends
# there. After it, a key whose notes overlap within a track (where first in,
# first out and the rules part) sends the file to mido, and so does a key with
# two notes ending on one tick: a third note left sounding at the end, which
# symusic would drop, always leaves two that end on the track's last tick. A repeated note (one ending on the tick
# the next begins) reads the same both ways, in either order of its events. What symusic cannot
# tell (SMPTE time, odd chunk structure, two tempos at the start, drums-only
# files, a channel's program changing mid-track) goes to mido as well, and so
# does every error, so its message is the one mido's path gives.


@functools.lru_cache(maxsize=64)
def _end_offs(channels: int) -> bytes:
    """Two note-offs for every key of the channels given (a bit each), then End of Track.

    The first event takes the delta time of the End of Track they replace.
    """
    events = b"".join(
        bytes((0, 0x80 | channel, pitch, 0))
        for _ in range(2)
        for channel in range(16)
        if channels >> channel & 1
        for pitch in range(128)
    )
    return (events + b"\x00\xff\x2f\x00")[1:]


_END_OF_TRACK = b"\xff\x2f\x00"
#: Data bytes after each channel status byte (0 for the others).
_DATA_BYTES = [0] * 128 + [2] * 64 + [1] * 32 + [2] * 16 + [0] * 16
#: The payload lengths mido decodes each meta event of fixed size with; another length it reads otherwise.
_META_LENGTHS = {0x00: (0, 2), 0x20: (1,), 0x21: (1,), 0x2F: (0,), 0x51: (3,), 0x58: (4,), 0x59: (2,)}
#: Meta events both parsers read alike: those above, texts and sequencer-specific data.
_PLAIN_METAS = frozenset(_META_LENGTHS) | frozenset(range(0x01, 0x10)) | {0x7F}


def _plain_track(body: bytes) -> int | None:
    """The channels a track's messages use (a bit each) if its events fill it exactly, each one read
    alike by mido and symusic; None if not.

    A walk over the events, reading nothing into objects: delta times of up to
    four bytes, channel messages with data bytes below 128 (running status too,
    but not straight after a meta event, where parsers differ), meta events of
    the sizes mido expects, and nothing else. SysEx, system messages, an End
    of Track before the end, or an event running past the chunk leave the file
    to mido.
    """
    i, end, running, data_bytes, channels, status, kind = 0, len(body), 0, _DATA_BYTES, 0, 0, 0
    try:
        while i < end:
            if body[i] & 0x80:  # a delta time of more than one byte
                start = i
                while body[i] & 0x80:
                    i += 1
                if i - start > 3:
                    return None  # longer than the standard's four bytes: the parsers differ
            i += 1
            status = body[i]
            if status < 0xF0:
                if status & 0x80:
                    running = status
                    channels |= 1 << (status & 0x0F)
                    i += 1
                elif running <= 0:
                    return None  # running status with none set, or straight after a meta event
                count = data_bytes[running]
                if body[i] & 0x80 or count == 2 and body[i + 1] & 0x80:
                    return None  # a data byte above 127
                i += count
            elif status == 0xFF:
                kind, i = body[i + 1], i + 2
                length, start = 0, i
                while body[i] & 0x80:
                    length = (length << 7) | (body[i] & 0x7F)
                    i += 1
                length = (length << 7) | body[i]
                if i - start > 3 or kind not in _PLAIN_METAS:
                    return None
                i += 1 + length
                running = -abs(running)  # kept by mido, dropped by others: not used before a new status
                if kind in _META_LENGTHS and (
                    length not in _META_LENGTHS[kind]
                    or kind == 0x2F
                    and i != end
                    or kind == 0x59
                    and (8 <= body[i - 2] <= 0xF8 or body[i - 1] > 1)  # a key mido cannot name
                ):
                    return None
            else:
                return None
    except IndexError:
        return None
    # The last event read must be the End of Track that the end offs replace.
    return channels if i == end and status == 0xFF and kind == 0x2F else None


def _with_end_offs(data: bytes) -> bytes | None:
    """The file with two note-offs for every key at the end of every track; None where mido should read it."""
    if len(data) < 14 or data[:4] != b"MThd":
        return None
    header = int.from_bytes(data[4:8], "big")
    if header < 6 or len(data) < 8 + header:
        return None
    fmt, count, division = (int.from_bytes(data[8 + 2 * i : 10 + 2 * i], "big") for i in range(3))
    if fmt > 2 or division == 0 or division & 0x8000:
        return None
    parts, position, tracks = [data[: 8 + header]], 8 + header, 0
    while position < len(data):
        if position + 8 > len(data):
            return None
        kind, length = data[position : position + 4], int.from_bytes(data[position + 4 : position + 8], "big")
        end = position + 8 + length
        if end > len(data):
            return None
        body = data[position + 8 : end]
        channels = _plain_track(body) if kind == b"MTrk" and body.endswith(_END_OF_TRACK) else None
        if channels is None:
            return None  # another kind of chunk, or a track to read event by event
        body = body[:-3] + _end_offs(channels)
        tracks += 1
        parts.append(kind + len(body).to_bytes(4, "big") + body)
        position = end
    return b"".join(parts) if tracks == count and tracks > 0 else None


def fast_piece(data: bytes, *, name: str = "", include_drums: bool = False) -> Piece | None:
    """The notes by symusic, or None when the file is for mido to read (see above)."""
    ended = _with_end_offs(data)
    if ended is None:
        return None
    try:
        score: Any = symusic.Score.from_midi(ended, ttype="tick", sanitize_data=True)  # its stubs lack .tracks
    except Exception:  # symusic refuses it: mido's path says why
        return None
    seen: dict[tuple[str, bool], int] = {}
    columns: list[dict[str, np.ndarray]] = []
    for track in score.tracks:
        if seen.setdefault((track.name, track.is_drum), track.program) != track.program:
            return None  # a program change split a channel's notes in two
        if not track.is_drum or include_drums:
            columns.append(track.notes.numpy())
    if not columns or not sum(len(c["time"]) for c in columns):
        return None  # no notes (or only drums): mido's path words the error
    time = np.concatenate([c["time"] for c in columns]).astype(np.int64)
    end = time + np.concatenate([c["duration"] for c in columns])
    pitch = np.concatenate([c["pitch"] for c in columns]).astype(np.int64)
    velocity = np.concatenate([c["velocity"] for c in columns]).astype(np.int64)
    # One key: a pitch in one of symusic's tracks (a track's channel).
    key = np.repeat(np.arange(len(columns)), [len(c["time"]) for c in columns]) * 128 + pitch
    order = np.lexsort((time, key))
    same = key[order][1:] == key[order][:-1]
    if np.any(same & (time[order][1:] < end[order][:-1])):
        return None  # overlapping notes of one key: first in, first out is not the rule
    order = np.lexsort((end, key))
    if np.any((key[order][1:] == key[order][:-1]) & (end[order][1:] == end[order][:-1])):
        return None  # two notes of one key ending together (both end note-offs taken: a third may be dropped)
    tempos = score.tempos.numpy()
    if np.count_nonzero(tempos["time"] == 0) > 1 and len(set(tempos["mspq"][tempos["time"] == 0].tolist())) > 1:
        return None
    division = int.from_bytes(data[12:14], "big")  # ticks per beat; _with_end_offs let no other kind through
    changes, warnings = _clamped_tempos(zip(tempos["time"].tolist(), tempos["mspq"].tolist()))
    if len(warnings) > 1:
        return None  # their order is the file's, which symusic does not keep
    tempo = TempoMap.from_beat_changes((tick / division, us) for tick, us in changes)
    if end.max() / division > MAX_BEATS or time.min() < 0:
        return None  # a damaged time (symusic keeps ticks in 32 bits): mido's path says what is wrong
    notes = quantize(time / division, end / division, pitch, velocity)
    return Piece(name=name, notes=notes, tempo_bpm=round(tempo.initial_bpm, 3), warnings=tuple(warnings))


def _clamped_tempos(changes: Iterable[tuple[int, float]]) -> tuple[list[tuple[int, float]], list[str]]:
    """Tempo changes (tick, µs a beat) as they are read (``tempo.clamped_tempo``), and why any was
    moved: each reason once, in the order met."""
    kept: list[tuple[int, float]] = []
    warnings: list[str] = []
    for tick, us in changes:
        clamped, why = clamped_tempo(us)
        if why and why not in warnings:
            warnings.append(why)
        kept.append((tick, clamped))
    return kept, warnings


def piece_from_midifile(
    midi: "mido.MidiFile",
    *,
    name: str = "",
    include_drums: bool = False,
    select: Callable[[int, int], bool] | None = None,
    empty_ok: bool = False,
) -> Piece:
    """The notes of a MIDI file; ``select(track, channel)`` keeps only some (both counted from 0).

    ImportFailed when there are none, unless ``empty_ok``.
    """
    division = midi.ticks_per_beat  # never 0: ``_midifile`` refuses that header

    rows: list[tuple[int, int, int, int]] = []  # start tick, end tick, pitch, velocity
    tempo_changes: list[tuple[int, float]] = []  # as written
    drums_skipped = 0
    for track_index, track in enumerate(midi.tracks):
        tick = 0
        sounding: dict[tuple[int, int], tuple[int, int]] = {}
        struck_again: dict[tuple[int, int], int] = {}  # key -> tick where a note-on ended its sounding note
        for msg in track:
            tick += msg.time
            kind = msg.type
            if kind == "note_on" or kind == "note_off":
                if msg.channel == DRUM_CHANNEL and not include_drums:
                    drums_skipped += kind == "note_on"
                    continue
                if select is not None and not select(track_index, msg.channel):
                    continue
                key = (msg.channel, msg.note)
                pressed = kind == "note_on" and msg.velocity > 0
                if not pressed and struck_again.pop(key, None) == tick:
                    continue  # the earlier note's note-off, written after the repeat's note-on at its tick
                started = sounding.pop(key, None)
                if started is not None:
                    rows.append((started[0], tick, msg.note, started[1]))
                    if pressed:
                        struck_again[key] = tick
                if pressed:
                    sounding[key] = (tick, msg.velocity)
            elif kind == "set_tempo":
                tempo_changes.append((tick, msg.tempo))
        for (_, pitch), (start, velocity) in sounding.items():
            rows.append((start, tick, pitch, velocity))

    if not rows and empty_ok:
        return Piece(name=name, notes=np.zeros((0, 4), np.int32))
    if not rows:
        detail = f" (only {drums_skipped} drum notes on channel 10)" if drums_skipped else ""
        raise ImportFailed(f"no notes{detail}")
    tempo_changes, warnings = _clamped_tempos(tempo_changes)
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
    if len(ends) and not ends.max() <= MAX_BEATS:
        raise ImportFailed(f"a note lies past beat {MAX_BEATS:,} (a damaged time value?)")
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
    write_timed_tracks(path, [("", messages)])


def write_timed_tracks(
    path: str | os.PathLike, tracks: list[tuple[str, list[tuple[float, tuple[int, ...]]]]], tempo_bpm: float = 120.0
) -> None:
    """Named tracks of channel messages, times in seconds from 0, as one MIDI file at ``tempo_bpm``.

    Written whole (a temporary file, then renamed); malformed messages are left out.
    """
    ticks_per_beat, tempo = 480, round(bpm_to_us(tempo_bpm))
    written = []
    for index, (name, messages) in enumerate(tracks):
        track = mido.MidiTrack([mido.MetaMessage("track_name", name=name, time=0)] if name else [])
        if index == 0:
            track.insert(0, mido.MetaMessage("set_tempo", tempo=tempo, time=0))
        last = 0
        for t, message in sorted(messages, key=lambda item: item[0]):
            tick = round(max(0.0, t) * ticks_per_beat * 1_000_000 / tempo)
            try:
                msg = mido.Message.from_bytes(list(message))
            except ValueError:
                continue
            track.append(msg.copy(time=max(0, tick - last)))
            last = max(last, tick)
        written.append(track)
    save_midifile(mido.MidiFile(type=1, tracks=written, ticks_per_beat=ticks_per_beat), path)


__all__ = [
    "read_midi",
    "read_midifile",
    "parse_midi",
    "write_midi",
    "save_midifile",
    "timed_messages",
    "write_timed_messages",
    "write_timed_tracks",
    "midifile_from_notes",
    "midifile_from_parts",
    "MIDI_SUFFIXES",
]
