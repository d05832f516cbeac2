"""Accompaniment: the player's line and ours on one grid of steps, and the causal network that plays ours.

Both streams are read on a grid of eighth-note steps (``STEP_TICKS``). Per step:

- the **player's token** says what the player's line does in it: ``REST``;
  ``held(p)`` (pitch p sounds on from before); ``struck(p)`` (p starts in the
  step). With several notes, the highest (the tune) is taken. Pitches are
  kept within ``LOW..HIGH`` by octaves.
- the **accompaniment's token** says what the accompaniment does at the
  step's start: ``HOLD`` (what sounds goes on), ``SILENT`` (everything stops),
  or a chord struck: its lowest pitch class (the bass) and its *shape*, the
  pitch classes above the bass as a 12-bit mask, one of the model's shapes
  (the commonest in its training data; others go to the nearest).

The network (``AccompanyModel``) predicts the accompaniment's token of step
``s`` from the player's tokens up to step ``s`` and its own tokens up to
``s - 1``: it hears the note played on the step it plays on (live, it
listens a few milliseconds into each step before it plays, see
``live/accompanist.py``), never one the player has not played yet. With
``lookahead`` > 1 it also hears the player's next steps: the benchmark's
"hears ahead" contender, which cannot play live. The chord is then *voiced*
by a ``Voicer`` in one of the textures (``config.TEXTURES``): block chords,
broken chords, a bass line or a counter-voice, in the register asked for.

Pure NumPy; TensorFlow trains the network (``training/accompany.py``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable

import numpy as np

from neuraltunes_live.core.notes import DURATION, ONSET, PITCH, TICKS_PER_BEAT

#: Eighth notes: the accompaniment's grid, and the player's line is read on it.
STEP_TICKS = TICKS_PER_BEAT // 2
STEPS_PER_BEAT = TICKS_PER_BEAT // STEP_TICKS
#: The player's pitches are folded into this range by octaves.
LOW, HIGH = 36, 96
SPAN = HIGH - LOW + 1
REST = 0
PLAYER_TOKENS = 1 + 2 * SPAN
#: The accompaniment's first two tokens; chords follow (``2 + 12 * shape + bass``).
HOLD, SILENT = 0, 1
#: The start token fed as "the accompaniment's last step" before its first.
#: (Its index is the vocabulary's size: ``AccompanyModel.start_token``.)
MAX_BEATS_PER_BAR = 8
#: Positions in the bar the network is told: (beats per bar - 1) * 16 + step in the bar.
POSITIONS = MAX_BEATS_PER_BAR * 16


def fold(pitch: int) -> int:
    """A pitch moved by octaves into ``LOW..HIGH``."""
    while pitch < LOW:
        pitch += 12
    while pitch > HIGH:
        pitch -= 12
    return pitch


def held(pitch: int) -> int:
    return 1 + fold(pitch) - LOW


def struck(pitch: int) -> int:
    return 1 + SPAN + fold(pitch) - LOW


def player_pitch(token: int) -> int | None:
    """The pitch a player's token names (None for ``REST``)."""
    if token == REST:
        return None
    return LOW + (token - 1) % SPAN


def player_steps(notes: np.ndarray, steps: int, sounding_until: int | None = None) -> np.ndarray:
    """The player's token of each of ``steps`` steps from tick 0.

    A note started in a step strikes it (the highest of those starting there);
    else the highest still sounding is held; else ``REST``. A note whose end is
    not known yet (a key still down) sounds until ``sounding_until`` ticks.
    """
    tokens = np.zeros(steps, np.int32)
    best_struck = np.full(steps, -1)
    best_held = np.full(steps, -1)
    for onset, pitch, duration in zip(notes[:, ONSET], notes[:, PITCH], notes[:, DURATION]):
        first = int(onset) // STEP_TICKS
        end = int(onset + duration) if sounding_until is None or duration > 0 else sounding_until
        last = (max(end, int(onset) + 1) - 1) // STEP_TICKS  # the last step it sounds in
        if first < steps:
            best_struck[first] = max(best_struck[first], int(pitch))
        # Held in the steps after its first it still sounds at the start of.
        for s in range(first + 1, min(last, steps - 1) + 1):
            if s * STEP_TICKS < end:
                best_held[s] = max(best_held[s], int(pitch))
    for s in range(steps):
        if best_struck[s] >= 0:
            tokens[s] = struck(int(best_struck[s]))
        elif best_held[s] >= 0:
            tokens[s] = held(int(best_held[s]))
    return tokens


def shape_of(pitches: Iterable[int]) -> tuple[int, int]:
    """(bass pitch class, mask of the pitch classes above it) of sounding pitches."""
    pitches = sorted(pitches)
    bass = pitches[0] % 12
    mask = 0
    for p in pitches:
        mask |= 1 << ((p - bass) % 12)
    return bass, mask


def shape_pitch_classes(bass: int, mask: int) -> list[int]:
    """The pitch classes of a chord, bass first."""
    return [(bass + i) % 12 for i in range(12) if mask >> i & 1]


def _sounding(notes: np.ndarray, lo: int, hi: int) -> np.ndarray:
    """Pitches sounding at tick ``lo`` or starting before ``hi`` (a 16th inside the step counts from its start)."""
    starts, ends = notes[:, ONSET], notes[:, ONSET] + notes[:, DURATION]
    return notes[((starts <= lo) & (ends > lo)) | ((starts > lo) & (starts < hi)), PITCH]


def accompaniment_events(
    notes: np.ndarray, steps: int, melody: np.ndarray | None = None
) -> list[tuple[int, int] | int]:
    """What the accompaniment does at each step's start: ``HOLD``, ``SILENT``, or (bass, mask) struck.

    A step where one of its notes starts strikes the chord sounding then; one
    where none of them sounds is silent; else the chord goes on. With
    ``melody`` the chord is the whole harmony: the melody's pitch classes
    sounding then count too (a chorale's alto, tenor and bass often leave the
    soprano's note to the soprano; an accompaniment plays the whole chord).
    """
    out: list[tuple[int, int] | int] = []
    starts = notes[:, ONSET]
    for s in range(steps):
        lo, hi = s * STEP_TICKS, (s + 1) * STEP_TICKS
        sounding = _sounding(notes, lo, hi)
        if len(sounding) == 0:
            out.append(SILENT)
        elif np.any((starts >= lo) & (starts < hi)):
            bass = int(sounding.min())
            above = sounding.tolist() + ([] if melody is None else _sounding(melody, lo, hi).tolist())
            out.append(shape_of([bass] + [p for p in above if p > bass]))
        else:
            out.append(HOLD)
    return out


def common_shapes(events: Iterable[list[tuple[int, int] | int]], count: int) -> tuple[int, ...]:
    """The ``count`` commonest chord shapes (masks) struck in ``events``, commonest first."""
    tally: dict[int, int] = {}
    for piece in events:
        for event in piece:
            if isinstance(event, tuple):
                tally[event[1]] = tally.get(event[1], 0) + 1
    return tuple(sorted(tally, key=lambda m: (-tally[m], m))[:count])


def nearest_shape(mask: int, shapes: tuple[int, ...]) -> int:
    """The index of the shape with the most pitch classes in common with ``mask`` (fewest others)."""
    if mask in shapes:
        return shapes.index(mask)

    def score(other: int) -> tuple[int, int]:
        return (bin(mask & other).count("1"), -bin(mask ^ other).count("1"))

    return max(range(len(shapes)), key=lambda i: score(shapes[i]))


def chord_token(bass: int, shape_index: int) -> int:
    return 2 + 12 * shape_index + bass


def token_chord(token: int, shapes: tuple[int, ...]) -> tuple[int, int] | None:
    """(bass pitch class, mask) of a chord token; None for ``HOLD`` and ``SILENT``."""
    if token < 2:
        return None
    index, bass = divmod(token - 2, 12)
    return bass, shapes[index]


def accompaniment_tokens(events: list[tuple[int, int] | int], shapes: tuple[int, ...]) -> np.ndarray:
    return np.array(
        [e if isinstance(e, int) else chord_token(e[0], nearest_shape(e[1], shapes)) for e in events], np.int32
    )


def transpose_player(tokens: np.ndarray, semitones: int) -> np.ndarray:
    """Player tokens moved by ``semitones`` (pitches folded back into range)."""
    if semitones == 0:
        return tokens
    out = tokens.copy()
    sounding = tokens != REST
    pitch = LOW + (tokens[sounding] - 1) % SPAN + semitones
    pitch = np.where(pitch < LOW, pitch + 12, np.where(pitch > HIGH, pitch - 12, pitch))
    is_struck = tokens[sounding] > SPAN
    out[sounding] = 1 + pitch - LOW + np.where(is_struck, SPAN, 0)
    return out


def transpose_accompaniment(tokens: np.ndarray, semitones: int) -> np.ndarray:
    out = tokens.copy()
    chords = tokens >= 2
    index, bass = np.divmod(tokens[chords] - 2, 12)
    out[chords] = 2 + 12 * index + (bass + semitones) % 12
    return out


def positions(steps: int, beats_per_bar: int, first_step: int = 0) -> np.ndarray:
    """The position input of each step: its place in the bar, with the bar's length."""
    per_bar = STEPS_PER_BEAT * beats_per_bar
    bar_kind = min(max(beats_per_bar, 1), MAX_BEATS_PER_BAR) - 1
    return (bar_kind * 16 + np.minimum((first_step + np.arange(steps)) % per_bar, 15)).astype(np.int32)


def network_inputs(
    player: np.ndarray, accompaniment: np.ndarray, beats_per_bar: int, lookahead: int, start_token: int
) -> np.ndarray:
    """The network's input columns for every step: (player at s-1 .. s-1+lookahead, ours at s-1, position).

    Shape (steps, 3 + lookahead); a step before the first or after the last is
    ``REST`` for the player, ``start_token`` before the first for us.
    """
    steps = len(player)
    padded = np.concatenate([[REST], player, np.full(lookahead, REST, np.int32)])
    columns = [padded[k : k + steps] for k in range(lookahead + 1)]
    ours = np.concatenate([[start_token], accompaniment[:-1]]) if steps else np.zeros(0, np.int32)
    return np.stack([*columns, ours, positions(steps, beats_per_bar)], axis=1).astype(np.int32)


# --- the network, in NumPy ------------------------------------------------------


@dataclass(frozen=True)
class AccompanyArchitecture:
    """The accompaniment network's shape."""

    shapes: tuple[int, ...]  # chord shapes (masks), the output's chord tokens
    lookahead: int = 0  # player steps seen ahead (0: causal, as live)
    player_dim: int = 32
    ours_dim: int = 32
    position_dim: int = 8
    lstm_units: tuple[int, ...] = (256,)

    @property
    def vocab_size(self) -> int:
        return 2 + 12 * len(self.shapes)

    @property
    def input_dim(self) -> int:
        return (self.lookahead + 1) * self.player_dim + self.ours_dim + self.position_dim

    def weight_shapes(self) -> dict[str, tuple[int, ...]]:
        shapes: dict[str, tuple[int, ...]] = {
            "player_embedding": (PLAYER_TOKENS, self.player_dim),
            "ours_embedding": (self.vocab_size + 1, self.ours_dim),
            "position_embedding": (POSITIONS, self.position_dim),
        }
        width = self.input_dim
        for i, units in enumerate(self.lstm_units):
            shapes[f"lstm{i}_kernel"] = (width, 4 * units)
            shapes[f"lstm{i}_recurrent"] = (units, 4 * units)
            shapes[f"lstm{i}_bias"] = (4 * units,)
            width = units
        shapes["output_kernel"] = (width, self.vocab_size)
        shapes["output_bias"] = (self.vocab_size,)
        return shapes

    def parameter_count(self) -> int:
        return int(sum(np.prod(s) for s in self.weight_shapes().values()))

    def to_json(self) -> dict[str, Any]:
        return {
            "shapes": list(self.shapes),
            "lookahead": self.lookahead,
            "player_dim": self.player_dim,
            "ours_dim": self.ours_dim,
            "position_dim": self.position_dim,
            "lstm_units": list(self.lstm_units),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "AccompanyArchitecture":
        return cls(
            shapes=tuple(int(m) for m in data["shapes"]),
            lookahead=int(data.get("lookahead", 0)),
            player_dim=int(data["player_dim"]),
            ours_dim=int(data["ours_dim"]),
            position_dim=int(data["position_dim"]),
            lstm_units=tuple(int(u) for u in data["lstm_units"]),
        )


class AccompanyModel:
    """The accompaniment network with its weights: one step at a time, or a whole piece at once.

    The first layer's input product is a sum of table rows made once here
    (each embedding times its rows of the kernel, the bias in the position
    table), so a step costs the recurrent products and the output only.
    """

    def __init__(self, arch: AccompanyArchitecture, weights: dict[str, np.ndarray], info: Any = None):
        self.arch = arch
        self.info = info
        self.weights = {k: np.asarray(v, np.float32) for k, v in weights.items()}
        w = self.weights
        kernel = w["lstm0_kernel"]
        at, tables = 0, []
        for k in range(arch.lookahead + 1):
            tables.append(w["player_embedding"] @ kernel[at : at + arch.player_dim])
            at += arch.player_dim
        tables.append(w["ours_embedding"] @ kernel[at : at + arch.ours_dim])
        at += arch.ours_dim
        tables.append(w["position_embedding"] @ kernel[at : at + arch.position_dim] + w["lstm0_bias"])
        self._tables = [np.ascontiguousarray(t, np.float32) for t in tables]
        self._layers = [
            (np.zeros((0, 0), np.float32), w["lstm0_recurrent"], np.zeros(0, np.float32), arch.lstm_units[0])
        ]
        for i, units in enumerate(arch.lstm_units[1:], start=1):
            self._layers.append((w[f"lstm{i}_kernel"], w[f"lstm{i}_recurrent"], w[f"lstm{i}_bias"], units))

    @property
    def start_token(self) -> int:
        return self.arch.vocab_size

    def initial_state(self) -> tuple[tuple[np.ndarray, np.ndarray], ...]:
        return tuple((np.zeros(u, np.float32), np.zeros(u, np.float32)) for u in self.arch.lstm_units)

    def _first_input(self, inputs: np.ndarray) -> np.ndarray:
        return sum(table[inputs[..., k]] for k, table in enumerate(self._tables))

    @staticmethod
    def _cell(z: np.ndarray, c: np.ndarray, units: int) -> tuple[np.ndarray, np.ndarray]:
        # Keras's gate order (i, f, c, o); sigmoid(x) = 0.5·tanh(x/2) + 0.5.
        gates = np.tanh(z * np.float32(0.5)) * np.float32(0.5) + np.float32(0.5)
        c = gates[..., units : 2 * units] * c + gates[..., :units] * np.tanh(z[..., 2 * units : 3 * units])
        return gates[..., 3 * units :] * np.tanh(c), c

    def step(self, inputs: np.ndarray, state) -> tuple[np.ndarray, tuple]:
        """Logits of one step's token from its input columns (``network_inputs``' row), and the new state."""
        x = self._first_input(np.asarray(inputs))
        new = []
        for i, ((kernel, recurrent, bias, units), (h, c)) in enumerate(zip(self._layers, state)):
            z = x + h @ recurrent if i == 0 else x @ kernel + h @ recurrent + bias
            h, c = self._cell(z, c, units)
            new.append((h, c))
            x = h
        w = self.weights
        return x @ w["output_kernel"] + w["output_bias"], tuple(new)

    def sequence_logits(self, inputs: np.ndarray) -> np.ndarray:
        """Logits of every step of a piece (inputs of shape (steps, columns)), one pass."""
        projected = self._first_input(inputs)
        x = projected
        for i, (kernel, recurrent, bias, units) in enumerate(self._layers):
            if i > 0:
                projected = x @ kernel + bias
            h, c = np.zeros(units, np.float32), np.zeros(units, np.float32)
            x = np.empty((len(projected), units), np.float32)
            for t in range(len(projected)):
                h, c = self._cell(projected[t] + h @ recurrent, c, units)
                x[t] = h
        w = self.weights
        return x @ w["output_kernel"] + w["output_bias"]


# --- voicing: a chord token into notes ------------------------------------------------


@dataclass(frozen=True)
class AccompanyKnobs:
    """What the player turns while it plays."""

    temperature: float = 1.0
    activity: float = 1.0  # the odds of striking a chord on a step, times this
    register: int = 55  # the lowest pitch of the upper voices (the bass goes below it)
    texture: str = "block"


def choose(logits: np.ndarray, knobs: AccompanyKnobs, rng: np.random.Generator, first: bool, sounding: bool) -> int:
    """One accompaniment token: tempered by ``temperature``, strikes weighted by ``activity``.

    The first step strikes a chord (nothing sounds to hold); ``SILENT`` is
    only chosen while something sounds.
    """
    z = logits.astype(np.float64) / max(knobs.temperature, 1e-3)
    z[2:] += np.log(max(knobs.activity, 1e-3))
    if first or not sounding:
        z[HOLD] = -np.inf
    if not sounding:
        z[SILENT] = -np.inf
    z -= z.max()
    p = np.exp(z)
    cumulative = p.cumsum()
    return int(min(cumulative.searchsorted(rng.random() * cumulative[-1], side="right"), len(p) - 1))


@dataclass
class Voicer:
    """Turns chord tokens into notes in one texture; remembers what sounds."""

    shapes: tuple[int, ...]
    sounding: list[int] = field(default_factory=list)
    chord: tuple[int, int] | None = None
    bass: int | None = None
    voice: int | None = None  # the counter-voice's last pitch
    arpeggio: int = 0

    def _bass_pitch(self, pc: int, register: int) -> int:
        low = register - 19  # the bass sits below the upper voices, an octave and a half lower
        options = [p for p in range(low, low + 12) if p % 12 == pc]
        last = self.bass
        if last is not None:  # the nearest octave to the last bass note, within reach
            options += [p for p in (options[0] - 12, options[0] + 12) if low - 5 <= p <= low + 16]
            return min(options, key=lambda p: (abs(p - last), p))
        return options[0]

    def _upper(self, bass: int, mask: int, register: int) -> list[int]:
        pcs = shape_pitch_classes(bass, mask)
        upper = pcs[1:] or pcs
        return sorted(register + (pc - register) % 12 for pc in upper)

    def step(self, token: int, knobs: AccompanyKnobs, melody: int | None) -> tuple[list[int], list[tuple[int, int]]]:
        """The notes that end and the (pitch, velocity) that start at this step."""
        chord = token_chord(token, self.shapes)
        texture = knobs.texture
        if token == SILENT:
            ended, self.sounding, self.chord = self.sounding, [], None
            return ended, []
        if chord is None:  # HOLD: block, bass and counter hold; broken chords go on up the chord
            if texture != "broken" or self.chord is None:
                return [], []
            upper = self._upper(*self.chord, knobs.register)
            self.arpeggio += 1
            pitch = upper[(self.arpeggio - 1) % len(upper)]
            ended = [p for p in self.sounding if p != self.bass]
            self.sounding = [p for p in self.sounding if p == self.bass] + [pitch]
            return ended, [(pitch, 60)]
        self.chord, self.arpeggio = chord, 0
        bass_pc, mask = chord
        bass = self._bass_pitch(bass_pc, knobs.register)
        self.bass = bass
        if texture == "block":
            notes = [(bass, 72)] + [(p, 62) for p in self._upper(bass_pc, mask, knobs.register)]
        elif texture == "broken":
            notes = [(bass, 72)]
        elif texture == "bass":
            notes = [(bass, 80)]
        else:  # counter: the chord tone nearest the voice's last note, a step away where it can
            top = knobs.register + 16 if melody is None else min(knobs.register + 16, melody - 1)
            pcs = shape_pitch_classes(bass_pc, mask)
            candidates = [p for p in range(knobs.register, max(top, knobs.register) + 1) if p % 12 in pcs]
            candidates = candidates or [knobs.register + (pcs[0] - knobs.register) % 12]
            last = self.voice if self.voice is not None else candidates[len(candidates) // 2]
            moving = [p for p in candidates if p != last] or candidates
            self.voice = min(moving, key=lambda p: (abs(p - last), p))
            notes = [(self.voice, 70)]
        ended, self.sounding = self.sounding, [p for p, _ in notes]
        return ended, notes

    def close(self) -> list[int]:
        """Every note still sounding, to end; nothing sounds after."""
        ended, self.sounding, self.chord = self.sounding, [], None
        return ended


# --- stepping through a line, as live and offline both do --------------------------------------


@dataclass
class Accompanist:
    """The accompaniment, one step at a time: the network's choice, then its voicing.

    ``next_step(player_tokens)`` is given the player's tokens of the steps
    heard so far (the last one is the step before this one); offline and live
    call it the same way.
    """

    model: AccompanyModel
    rng: np.random.Generator
    beats_per_bar: int = 4
    first_step: int = 0  # the step it starts on (its place in the bar)
    state: Any = None
    last: int | None = None
    steps: int = 0
    voicer: Voicer | None = None

    def __post_init__(self) -> None:
        self.state = self.model.initial_state()
        self.voicer = Voicer(self.model.arch.shapes)
        self.steps = self.first_step

    def next_step(
        self, heard: int, knobs: AccompanyKnobs, ahead: np.ndarray | None = None
    ) -> tuple[int, list[int], list[tuple[int, int]]]:
        """(token, pitches ended, (pitch, velocity) started) at step ``self.steps``.

        ``heard``: the player's token of the step before (``REST`` before the
        first); ``ahead``: the ``lookahead`` steps from this one on (this
        step's token first: what the player plays on it).
        """
        look = self.model.arch.lookahead
        seen = [int(heard)] + ([] if ahead is None else [int(a) for a in ahead])
        seen = (seen + [REST] * (look + 1))[: look + 1]
        position = positions(1, self.beats_per_bar, self.steps)[0]
        ours = self.model.start_token if self.last is None else self.last
        logits, self.state = self.model.step(np.array([*seen, ours, position]), self.state)
        assert self.voicer is not None
        token = choose(logits, knobs, self.rng, self.last is None, bool(self.voicer.sounding))
        self.last = token
        self.steps += 1
        melody = player_pitch(seen[1] if look and seen[1] != REST else int(heard))
        ended, started = self.voicer.step(token, knobs, melody)
        return token, ended, started

    def close(self) -> list[int]:
        assert self.voicer is not None
        return self.voicer.close()


def accompany_notes(
    model: AccompanyModel,
    melody: np.ndarray,
    knobs: AccompanyKnobs,
    rng: np.random.Generator,
    beats_per_bar: int = 4,
    steps: int | None = None,
) -> np.ndarray:
    """The accompaniment of a whole line, stepped as live play steps it (notes array).

    It starts on the step of the line's first note (a model that cannot hear
    the step it plays on: the step after) and plays to the end of the line's
    last (or for ``steps`` steps from tick 0). Live, each step sounds a
    moment after its time (``live/accompanist.py``); here on it.
    """
    if len(melody) == 0:
        return np.zeros((0, 4), np.int32)
    end = int((melody[:, ONSET] + melody[:, DURATION]).max())
    total = steps if steps is not None else -(-end // STEP_TICKS)
    look = model.arch.lookahead
    player = player_steps(melody, total + look)
    first = int(melody[:, ONSET].min()) // STEP_TICKS + (0 if look else 1)
    accompanist = Accompanist(model, rng, beats_per_bar, first_step=first)
    open_notes: dict[int, tuple[int, int]] = {}
    rows: list[tuple[int, int, int, int]] = []

    def end_note(pitch: int, tick: int) -> None:
        start, velocity = open_notes.pop(pitch)
        rows.append((start, pitch, max(tick - start, 1), velocity))

    for s in range(first, total):
        heard = player[s - 1] if s > 0 else REST
        ahead = player[s : s + look] if look else None
        _, ended, started = accompanist.next_step(int(heard), knobs, ahead)
        tick = s * STEP_TICKS
        for pitch in ended:
            if pitch in open_notes:
                end_note(pitch, tick)
        for pitch, velocity in started:
            if pitch in open_notes:
                end_note(pitch, tick)
            open_notes[pitch] = (tick, velocity)
    for pitch in list(open_notes):
        end_note(pitch, total * STEP_TICKS)
    rows.sort(key=lambda r: (r[0], r[1]))
    return np.array(rows, np.int32).reshape(-1, 4)
