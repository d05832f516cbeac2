"""Events: the boundary between notes and the model.

A piece becomes a sequence of integer tokens, version ``ENCODING_VERSION``:

``BOS``, then for each onset in time order: ``SHIFT(t)`` tokens that move the
clock forward ``t`` ticks (1..``MAX_SHIFT``), and for each note starting there,
from low to high, ``VELOCITY(bin)`` when its loudness bin differs from the
previous note's, then ``PITCH(p)`` and ``DURATION(d)``; ``EOS`` at the end.
A chord is several pitches with no shift between them. Time is in grid ticks
relative to the beat, so the output follows whatever tempo plays it; each note
carries its own duration, so nothing decoded can be left open.

``normalize`` states the rule for everything the vocabulary cannot hold, and
``decode(encode(notes)) == normalize(notes)`` for any input. For quantized,
in-range input (what ``normalize`` returns) that is the input itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator, Sequence

import numpy as np

from neuraltunes_live.core.notes import DURATION, ONSET, PITCH, TICKS_PER_BEAT, VELOCITY, sort_notes

ENCODING_VERSION = 1

MIN_PITCH, MAX_PITCH = 21, 108  # the piano's range, A0..C8
MAX_SHIFT = 4 * TICKS_PER_BEAT  # one shift token moves at most a 4/4 bar
MAX_GAP = 8 * TICKS_PER_BEAT  # longer silences between onsets are shortened to this
MAX_DURATION = 8 * TICKS_PER_BEAT  # longer notes are shortened to this
MAX_CHORD = 8  # most notes that may start on one tick
VELOCITY_BINS = 8

PAD, BOS, EOS = 0, 1, 2
SHIFT_BASE = 3  # SHIFT(t) = SHIFT_BASE + t - 1
PITCH_BASE = SHIFT_BASE + MAX_SHIFT
DURATION_BASE = PITCH_BASE + (MAX_PITCH - MIN_PITCH + 1)
VELOCITY_BASE = DURATION_BASE + MAX_DURATION
VOCAB_SIZE = VELOCITY_BASE + VELOCITY_BINS


def velocity_bin(velocity: int | np.ndarray) -> int | np.ndarray:
    """Loudness bin 0..VELOCITY_BINS-1 of a MIDI velocity 1..127."""
    v = np.clip(velocity, 1, 127)
    return (v - 1) * VELOCITY_BINS // 127


def _bin_representatives() -> np.ndarray:
    velocities = np.arange(1, 128)
    bins = velocity_bin(velocities)
    return np.array(
        [int(np.median(velocities[bins == b])) for b in range(VELOCITY_BINS)],
        dtype=np.int32,
    )


#: The velocity each bin decodes to: the middle of the velocities it holds.
BIN_VELOCITY = _bin_representatives()


def token_kind(token: int) -> str:
    """Name of a token's kind: pad, bos, eos, shift, pitch, duration, velocity."""
    if token == PAD:
        return "pad"
    if token == BOS:
        return "bos"
    if token == EOS:
        return "eos"
    if SHIFT_BASE <= token < PITCH_BASE:
        return "shift"
    if PITCH_BASE <= token < DURATION_BASE:
        return "pitch"
    if DURATION_BASE <= token < VELOCITY_BASE:
        return "duration"
    if VELOCITY_BASE <= token < VOCAB_SIZE:
        return "velocity"
    raise ValueError(f"token {token} is outside the vocabulary (0..{VOCAB_SIZE - 1})")


def token_name(token: int) -> str:
    """Readable form of a token, for logs and debugging: ``PITCH(60)``."""
    kind = token_kind(token)
    value = {
        "shift": token - SHIFT_BASE + 1,
        "pitch": token - PITCH_BASE + MIN_PITCH,
        "duration": token - DURATION_BASE + 1,
        "velocity": token - VELOCITY_BASE,
    }.get(kind)
    return kind.upper() if value is None else f"{kind.upper()}({value})"


def normalize(notes: np.ndarray) -> np.ndarray:
    """Bring any notes into what the vocabulary holds, by these rules, in order.

    1. Pitches outside MIN_PITCH..MAX_PITCH move by whole octaves into range.
    2. Velocities are clamped to 1..127 and set to their bin's representative.
    3. Negative onsets move to 0.
    4. Two notes of one pitch starting together become one: the longer, at the
       louder velocity.
    5. More than MAX_CHORD notes starting together: the lowest and the highest
       MAX_CHORD-1 are kept (bass and melody matter most).
    6. A silence longer than MAX_GAP between consecutive onsets is shortened to
       MAX_GAP; everything after it moves earlier by the difference.
    7. Durations are clamped to 1..MAX_DURATION.
    8. A note still sounding when the same pitch starts again ends there, as it
       must on a MIDI channel.

    The result is sorted by onset, then pitch, and ``normalize`` of it is itself.
    """
    notes = np.array(notes, dtype=np.int32).reshape(-1, 4)
    if len(notes) == 0:
        return notes
    pitch = notes[:, PITCH]
    low_octaves = np.maximum(0, -((pitch - MIN_PITCH) // 12))
    high_octaves = np.maximum(0, (pitch - MAX_PITCH + 11) // 12)
    notes[:, PITCH] = pitch + 12 * low_octaves - 12 * high_octaves
    notes[:, VELOCITY] = BIN_VELOCITY[velocity_bin(notes[:, VELOCITY])]
    notes[:, ONSET] = np.maximum(notes[:, ONSET], 0)
    notes[:, DURATION] = np.maximum(notes[:, DURATION], 1)

    # Rule 4: sort so the longest, loudest note of an (onset, pitch) comes first.
    order = np.lexsort((-notes[:, VELOCITY], -notes[:, DURATION], notes[:, PITCH], notes[:, ONSET]))
    notes = notes[order]
    same = (np.diff(notes[:, ONSET]) == 0) & (np.diff(notes[:, PITCH]) == 0)
    notes = notes[np.concatenate([[True], ~same])]

    # Rule 5: within each onset, keep the lowest and the top MAX_CHORD-1.
    starts = np.flatnonzero(np.concatenate([[True], np.diff(notes[:, ONSET]) != 0]))
    ends = np.append(starts[1:], len(notes))
    if np.any(ends - starts > MAX_CHORD):
        keep = np.ones(len(notes), dtype=bool)
        for start, end in zip(starts, ends):
            if end - start > MAX_CHORD:
                keep[start + 1 : end - (MAX_CHORD - 1)] = False
        notes = notes[keep]

    # Rule 6: shorten long silences between onsets.
    onsets = notes[:, ONSET].astype(np.int64)
    gaps = np.diff(onsets, prepend=0)
    notes[:, ONSET] = np.cumsum(np.minimum(gaps, MAX_GAP))

    # Rule 7, then rule 8 (which only shortens, and never below one tick,
    # because two notes of one pitch no longer share an onset).
    notes[:, DURATION] = np.clip(notes[:, DURATION], 1, MAX_DURATION)
    by_pitch = np.lexsort((notes[:, ONSET], notes[:, PITCH]))
    p, o = notes[by_pitch, PITCH], notes[by_pitch, ONSET]
    next_same = np.flatnonzero(p[1:] == p[:-1])
    cut = by_pitch[next_same]
    room = o[next_same + 1] - o[next_same]
    notes[cut, DURATION] = np.minimum(notes[cut, DURATION], room)
    return sort_notes(notes)


def encode(notes: np.ndarray, *, bos_eos: bool = True) -> np.ndarray:
    """Tokens of ``normalize(notes)``, as ``int16``."""
    notes = normalize(notes)
    tokens: list[int] = [BOS] if bos_eos else []
    clock = 0
    current_bin = -1
    for onset, pitch, duration, velocity in notes.tolist():
        gap = onset - clock
        while gap > 0:
            step = min(gap, MAX_SHIFT)
            tokens.append(SHIFT_BASE + step - 1)
            gap -= step
        clock = onset
        bin_ = int(velocity_bin(velocity))
        if bin_ != current_bin:
            tokens.append(VELOCITY_BASE + bin_)
            current_bin = bin_
        tokens.append(PITCH_BASE + pitch - MIN_PITCH)
        tokens.append(DURATION_BASE + duration - 1)
    if bos_eos:
        tokens.append(EOS)
    return np.array(tokens, dtype=np.int16)


@dataclass
class Decoder:
    """Turns tokens into notes one token at a time, as they are sampled.

    A pitch waits for its duration; ``feed`` returns the finished note then.
    Tokens out of grammar are dropped by rule, never raised: a duration with no
    pitch before it is ignored, and a pitch followed by anything but a
    duration is dropped. ``BOS`` and ``EOS`` reset the clock and loudness.
    """

    clock: int = 0
    velocity: int = int(BIN_VELOCITY[velocity_bin(80)])
    pending_pitch: int | None = None

    def feed(self, token: int) -> tuple[int, int, int, int] | None:
        """Take one token; return ``(onset, pitch, duration, velocity)`` or None."""
        token = int(token)
        if DURATION_BASE <= token < VELOCITY_BASE:
            pitch, self.pending_pitch = self.pending_pitch, None
            if pitch is None:
                return None
            return (self.clock, pitch, token - DURATION_BASE + 1, self.velocity)
        self.pending_pitch = None
        if SHIFT_BASE <= token < PITCH_BASE:
            self.clock += token - SHIFT_BASE + 1
        elif PITCH_BASE <= token < DURATION_BASE:
            self.pending_pitch = token - PITCH_BASE + MIN_PITCH
        elif VELOCITY_BASE <= token < VOCAB_SIZE:
            self.velocity = int(BIN_VELOCITY[token - VELOCITY_BASE])
        elif token in (BOS, EOS):
            self.clock = 0
            self.velocity = Decoder.velocity
        elif token != PAD:
            token_kind(token)  # raises with the allowed range
        return None

    def feed_all(self, tokens: Sequence[int] | np.ndarray) -> Iterator[tuple[int, int, int, int]]:
        """Feed every token; yield each note as it completes."""
        for token in tokens:
            note = self.feed(token)
            if note is not None:
                yield note


def decode(tokens: Sequence[int] | np.ndarray) -> np.ndarray:
    """Notes of a token sequence, sorted by onset, then pitch."""
    rows = list(Decoder().feed_all(tokens))
    return sort_notes(np.array(rows, dtype=np.int32).reshape(-1, 4))


def pitch_tokens(tokens: np.ndarray) -> np.ndarray:
    """Boolean mask of the pitch tokens in ``tokens``."""
    return (tokens >= PITCH_BASE) & (tokens < DURATION_BASE)


def transposition_range(tokens: np.ndarray) -> tuple[int, int]:
    """The semitone shifts ``(lowest, highest)`` that keep every pitch in range."""
    pitches = tokens[pitch_tokens(tokens)].astype(np.int64) - PITCH_BASE + MIN_PITCH
    if len(pitches) == 0:
        return (-127, 127)
    return (MIN_PITCH - int(pitches.min()), MAX_PITCH - int(pitches.max()))


def transpose(tokens: np.ndarray, semitones: int) -> np.ndarray:
    """Tokens moved by ``semitones``; ValueError if a pitch would leave the range."""
    low, high = transposition_range(tokens)
    if not low <= semitones <= high:
        raise ValueError(f"cannot transpose by {semitones}: pitches allow {low}..{high} semitones")
    out = np.array(tokens, copy=True)
    mask = pitch_tokens(out)
    out[mask] = out[mask] + semitones
    return out


def note_count(tokens: np.ndarray) -> int:
    """Number of notes in a token sequence (its duration tokens)."""
    return int(np.count_nonzero((tokens >= DURATION_BASE) & (tokens < VELOCITY_BASE)))
