"""The trained network, run in NumPy: prime, step.

TensorFlow is never imported here: the daemon starts in well under a second
and each step is a few small matrix products. Model folders (the weights and
their description on disk) are read and written in ``model_files``.

The network is the one ``training`` builds in Keras: an embedding, stacked
LSTMs (Keras's gate order: input, forget, cell, output), optional dense ReLU
layers, and an output layer of logits over the event vocabulary. A model
with ``relative_pitch`` also scores every interval from the last pitch played
(−87..+87 semitones) and adds each interval's score to the logit of the pitch
it leads to, so what it learns about melodic steps holds in every key.

A model with a ``key_context`` hears the key and register of what it has
heard so far. Before each event it keeps, for a few decay rates, a decayed
count of the pitch classes played (``KeyContext``: each note weighs
``decay`` times less after every later note) and a decayed mean pitch. The
first LSTM reads the pitch-class profiles turned so the last pitch's class
comes first (where the last note sits in the key), and how far the last
pitch and the mean lie from middle C; the output adds to every pitch a score
of its pitch class against the profiles (the same weights in every key, as a
key-finding profile is). All of it comes from the events before the one
predicted, as in live play, where only the phrase is known.

A model may also carry ``piece_memory`` settings (``memory.py``), fitted on
held-out pieces after training: what the piece itself played after the same
few events is then blended into the network's prediction.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Iterator, NamedTuple

import numpy as np

from neuraltunes_live.core.encoding import DURATION_BASE, MAX_PITCH, MIN_PITCH, PAD, PITCH_BASE, VOCAB_SIZE
from neuraltunes_live.core.memory import MemorySettings

if TYPE_CHECKING:
    from neuraltunes_live.core.model_files import ModelInfo

PITCHES = MAX_PITCH - MIN_PITCH + 1
INTERVALS = 2 * PITCHES - 1  # −87..+87 semitones


class State(NamedTuple):
    """Where the network is after a sequence; the caller keeps it and passes it back."""

    #: (h, c) of each LSTM layer, each of shape (units,) or (batch, units).
    layers: tuple[tuple[np.ndarray, np.ndarray], ...]
    #: The last pitch fed (0..PITCHES-1 from MIN_PITCH), −1 before any; () or (batch,).
    last_pitch: np.ndarray
    #: The key context after it (``KeyContext``); empty for a model without one.
    context: "KeyContext"
    #: For one stream, what ``step`` made of the context (see ``LSTMModel._context_input``).
    drive: np.ndarray | None = None
    key_matrix: np.ndarray | None = None


#: 12 pitch classes turned by every amount: ``ROTATIONS[c, j] = (c + j) % 12``.
ROTATIONS = (np.arange(12)[:, None] + np.arange(12)) % 12
#: The pitch class of every pitch 0..PITCHES-1 (from MIN_PITCH).
PITCH_CLASS = (np.arange(PITCHES) + MIN_PITCH) % 12
#: The pitch that register features measure from (middle C) and their unit (an octave).
REGISTER_CENTRE, REGISTER_UNIT = 60.0, 12.0
#: What a normalised profile divides by at least: a profile of nothing stays zero.
_TINY = 1e-6


class KeyContext(NamedTuple):
    """Decayed counts of what has been played so far, for each decay rate.

    ``profiles[..., k, c]`` sums ``decay[k] ** (notes since)`` over the notes
    of pitch class ``c``; ``register[..., 0]`` sums the same weights (at the
    register decay) times the MIDI pitch and ``register[..., 1]`` the weights,
    so their ratio is the decayed mean pitch. Leading axes: () or (batch,).
    """

    profiles: np.ndarray
    register: np.ndarray

    @staticmethod
    def empty(decays: int, batch: int | None = None) -> "KeyContext":
        lead = () if batch is None else (batch,)
        return KeyContext(np.zeros(lead + (decays, 12), np.float32), np.zeros(lead + (2,), np.float32))

    def played(self, pitch: np.ndarray, played: np.ndarray, decays: np.ndarray, register_decay: float) -> "KeyContext":
        """After ``pitch`` (0..PITCHES-1) where ``played`` is true; unchanged elsewhere."""
        played = np.asarray(played)
        pitch = np.where(played, pitch, 0)
        weight = played[..., None, None].astype(np.float32)
        decay = np.where(weight > 0, decays[:, None], 1.0).astype(np.float32)
        onehot = (PITCH_CLASS[pitch][..., None, None] == np.arange(12)).astype(np.float32)
        profiles = self.profiles * decay + weight * onehot
        midi = (pitch + MIN_PITCH).astype(np.float32)
        keep = np.where(played, register_decay, 1.0).astype(np.float32)[..., None]
        register = self.register * keep + played[..., None] * np.stack([midi, np.ones_like(midi)], axis=-1).astype(
            np.float32
        )
        return KeyContext(profiles.astype(np.float32), register.astype(np.float32))

    def normalised(self) -> np.ndarray:
        """Each profile divided by its total: (..., decays, 12)."""
        total = self.profiles.sum(axis=-1, keepdims=True)
        return self.profiles / np.maximum(total, _TINY)

    def features(self, last: np.ndarray) -> np.ndarray:
        """What the first LSTM reads: profiles from the last pitch's class, then register.

        ``(..., 12·decays + 2)``: each normalised profile turned so that the
        last pitch's class comes first, then (last − mean) and (mean − C4) in
        octaves; zeros before any pitch.
        """
        last = np.asarray(last)
        profiles = self.normalised()
        turned = np.take_along_axis(profiles, ROTATIONS[PITCH_CLASS[np.maximum(last, 0)]][..., None, :], axis=-1)
        weight = self.register[..., 1]
        heard = weight > 0
        mean = np.where(heard, self.register[..., 0] / np.maximum(weight, _TINY), REGISTER_CENTRE)
        midi = np.maximum(last, 0) + MIN_PITCH
        from_last = np.where(heard, (midi - mean) / REGISTER_UNIT, 0.0)
        from_centre = np.where(heard, (mean - REGISTER_CENTRE) / REGISTER_UNIT, 0.0)
        register = np.stack([from_last, from_centre], axis=-1)
        flat = turned.reshape(turned.shape[:-2] + (-1,))
        return np.concatenate([flat, register.astype(np.float32)], axis=-1).astype(np.float32)


def _key_matrix(normalised: np.ndarray) -> np.ndarray:
    """One stream's normalised profiles (decays, 12) as the (12, 12·decays) matrix that
    ``key_scores`` amounts to: ``matrix @ weights.ravel()`` scores the 12 pitch classes."""
    return np.ascontiguousarray(normalised[:, ROTATIONS].transpose(1, 0, 2).reshape(12, -1))


def key_scores(weights: np.ndarray, profiles: np.ndarray) -> np.ndarray:
    """Scores of the 12 pitch classes against normalised profiles.

    ``weights`` and ``profiles`` are (..., decays, 12); the score of class
    ``c`` is ``Σ_k Σ_j weights[k, j] · profiles[k, (c + j) % 12]``: the same
    weights, read from each candidate class, so it means the same in every key.
    """
    scores = np.zeros(profiles.shape[:-2] + (12,), np.float32)
    for j in range(12):  # a shift at a time: (..., decays, 12) arrays, never (..., 12, 12)
        scores += np.einsum("...kc,...k->...c", np.roll(profiles, -j, axis=-1), weights[..., j])
    return scores


@dataclass(frozen=True)
class Architecture:
    """The shape of the network; the same description builds it in Keras."""

    embedding_dim: int
    lstm_units: tuple[int, ...]
    dense_units: tuple[int, ...] = ()
    one_hot: bool = False  # the embedding is the identity: the one-hot input of the earlier note-string projects
    vocab_size: int = VOCAB_SIZE
    relative_pitch: bool = False  # interval scores added to the pitch logits
    #: Decay per note of each pitch-class profile of the key context; () for none.
    key_context: tuple[float, ...] = ()
    #: Decay per note of the mean pitch the register features measure from.
    register_decay: float = 0.9

    @property
    def context_features(self) -> int:
        """How many key-context features the first LSTM reads besides the embedding."""
        return 12 * len(self.key_context) + 2 if self.key_context else 0

    def to_json(self) -> dict[str, Any]:
        data = {
            "embedding_dim": self.embedding_dim,
            "lstm_units": list(self.lstm_units),
            "dense_units": list(self.dense_units),
            "one_hot": self.one_hot,
            "vocab_size": self.vocab_size,
            "relative_pitch": self.relative_pitch,
        }
        if self.key_context:
            data.update(key_context=list(self.key_context), register_decay=self.register_decay)
        return data

    @classmethod
    def from_json(cls, data: Any) -> "Architecture":
        try:
            arch = cls(
                embedding_dim=_positive(data["embedding_dim"]),
                lstm_units=tuple(_positive(u) for u in data["lstm_units"]),
                dense_units=tuple(_positive(u) for u in data.get("dense_units", [])),
                one_hot=bool(data.get("one_hot", False)),
                vocab_size=_positive(data["vocab_size"]),
                relative_pitch=bool(data.get("relative_pitch", False)),
                key_context=tuple(_decay(d) for d in data.get("key_context", [])),
                register_decay=_decay(data.get("register_decay", 0.9)),
            )
        except (KeyError, TypeError, ValueError) as err:
            raise ValueError(f"bad architecture ({err})") from err
        if not arch.lstm_units:
            raise ValueError("bad architecture (no LSTM layer)")
        return arch

    def weight_shapes(self) -> dict[str, tuple[int, ...]]:
        """Name and shape of every array in ``weights.npz``."""
        shapes: dict[str, tuple[int, ...]] = {"embedding": (self.vocab_size, self.embedding_dim)}
        width = self.embedding_dim + self.context_features
        for i, units in enumerate(self.lstm_units):
            shapes[f"lstm{i}_kernel"] = (width, 4 * units)
            shapes[f"lstm{i}_recurrent"] = (units, 4 * units)
            shapes[f"lstm{i}_bias"] = (4 * units,)
            width = units
        for i, units in enumerate(self.dense_units):
            shapes[f"dense{i}_kernel"] = (width, units)
            shapes[f"dense{i}_bias"] = (units,)
            width = units
        shapes["output_kernel"] = (width, self.vocab_size)
        shapes["output_bias"] = (self.vocab_size,)
        if self.relative_pitch:
            shapes["relative_kernel"] = (width, INTERVALS)
            shapes["relative_bias"] = (INTERVALS,)
        if self.key_context:
            shapes["key_kernel"] = (width, 12 * len(self.key_context))
            shapes["key_bias"] = (12 * len(self.key_context),)
        return shapes

    def parameter_count(self) -> int:
        return sum(int(np.prod(shape)) for shape in self.weight_shapes().values())


def _decay(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < 1:
        raise ValueError(f"{value!r} is not a decay between 0 and 1")
    return float(value)


def _positive(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(f"{value!r} is not a positive whole number")
    return value


class LSTMModel:
    """The network with its weights, stepping one token at a time.

    ``prime`` runs a whole phrase in one pass and returns the state after it;
    ``step`` then feeds one token and returns the logits for the next one.
    States are plain arrays the caller keeps, so one model serves any number
    of independent streams.
    """

    def __init__(
        self,
        arch: Architecture,
        weights: dict[str, np.ndarray],
        info: ModelInfo | None = None,
        memory: MemorySettings | None = None,
    ):
        """The network ``arch`` with ``weights`` (name to array, Keras's layout, as ``Architecture.weight_shapes``).

        ``info`` is what its model folder says of it (None for a network made
        in memory); ``memory``, when given, blends the piece's own past into
        each prediction. The weights are copied to float32 and rearranged for
        stepping here, once.
        """
        self.arch = arch
        self.info = info
        #: How the piece's own past is blended in (see ``memory.py``); None: the network alone.
        self.memory = memory
        #: The weights as exported (Keras's layout), for tools that rebuild the network.
        self.weights = {name: np.asarray(array, dtype=np.float32) for name, array in weights.items()}
        w = self.weights
        # Gates are reordered from Keras's (i, f, c, o) to (i, f, o, c) so the
        # three sigmoid gates are one contiguous slice, and their columns are
        # halved: sigmoid(x) = 0.5·tanh(x/2) + 0.5, so one tanh over the whole
        # product serves gates and candidate alike (see ``_cell``). Halving is
        # exact in floating point.
        self._layers: list[tuple[np.ndarray, np.ndarray, int]] = []
        self._decays = np.asarray(arch.key_context, np.float32)
        self._decays_column = self._decays[:, None]
        self._context_kernel: np.ndarray | None = None  # rows of the key context's features, if any
        for i, units in enumerate(arch.lstm_units):
            perm = np.concatenate(
                [np.arange(0, 2 * units), np.arange(3 * units, 4 * units), np.arange(2 * units, 3 * units)]
            )
            scale = np.where(np.arange(4 * units) < 3 * units, 0.5, 1.0).astype(np.float32)
            kernel = w[f"lstm{i}_kernel"][:, perm] * scale
            recurrent = w[f"lstm{i}_recurrent"][:, perm] * scale
            bias = w[f"lstm{i}_bias"][perm] * scale
            if i == 0:
                # The first layer's input projection of the token is a table
                # lookup: embedding @ kernel + bias, made here. The key
                # context's features have their own rows of the kernel.
                embedded = kernel[: arch.embedding_dim]
                self._first_input = np.ascontiguousarray(w["embedding"] @ embedded + bias, dtype=np.float32)
                if arch.key_context:
                    self._context_kernel = np.ascontiguousarray(kernel[arch.embedding_dim :], dtype=np.float32)
                self._layers.append((np.ascontiguousarray(recurrent), np.zeros(0, np.float32), units))
            else:
                # Input and recurrent products fused: [x, h] @ [[kernel], [recurrent]].
                fused = np.ascontiguousarray(np.vstack([kernel, recurrent]))
                self._layers.append((fused, bias.astype(np.float32), units))
        self._dense = [(w[f"dense{i}_kernel"], w[f"dense{i}_bias"]) for i in range(len(arch.dense_units))]
        # Output, interval scores and key weights in one product:
        # [logits | interval scores | key weights].
        parts = [("output_kernel", "output_bias")]
        if arch.relative_pitch:
            parts.append(("relative_kernel", "relative_bias"))
        if arch.key_context:
            parts.append(("key_kernel", "key_bias"))
        self._output = (
            np.ascontiguousarray(np.hstack([w[k] for k, _ in parts])),
            np.concatenate([w[b] for _, b in parts]),
        )
        self._relative = (arch.vocab_size, arch.vocab_size + INTERVALS) if arch.relative_pitch else None
        self._key = arch.vocab_size + (INTERVALS if arch.relative_pitch else 0) if arch.key_context else None

    @property
    def vocab_size(self) -> int:
        return self.arch.vocab_size

    def initial_state(self, batch: int | None = None) -> State:
        shape = (lambda u: (u,)) if batch is None else (lambda u: (batch, u))
        layers = tuple((np.zeros(shape(u), np.float32), np.zeros(shape(u), np.float32)) for u in self.arch.lstm_units)
        last = np.full(() if batch is None else (batch,), -1, np.int64)
        return State(layers, last, KeyContext.empty(len(self.arch.key_context), batch))

    @staticmethod
    def _cell(z: np.ndarray, c: np.ndarray, units: int) -> tuple[np.ndarray, np.ndarray]:
        # In place on ``z`` (a fresh product each call), whose gate columns
        # hold x/2: one tanh over everything, then 0.5·tanh + 0.5 on the gates.
        np.tanh(z, out=z)
        gates = z[..., : 3 * units]
        gates *= 0.5
        gates += 0.5
        candidate = z[..., 3 * units :]
        candidate *= gates[..., :units]
        c = gates[..., units : 2 * units] * c
        c += candidate
        h = np.tanh(c)
        h *= gates[..., 2 * units :]
        return h, c

    def _head(self, h: np.ndarray, last: np.ndarray | int, profiles: np.ndarray | None = None) -> np.ndarray:
        """Logits from the top LSTM's output.

        ``last`` is the last pitch (−1: none); ``profiles`` the normalised key
        context, (..., decays, 12), or for one step the (12, 12·decays) matrix
        ``_key_matrix`` makes of it.
        """
        for kernel, bias in self._dense:
            h = np.maximum(h @ kernel + bias, 0)
        kernel, bias = self._output
        out = h @ kernel
        out += bias
        logits = out[..., : self.arch.vocab_size]
        if self._key is not None:
            weights = out[..., self._key :]
            assert profiles is not None, "a model with a key context is stepped with its profiles"
            if h.ndim == 1:
                by_class = profiles @ weights
            else:
                by_class = key_scores(weights.reshape(weights.shape[:-1] + (-1, 12)), profiles)
            logits[..., PITCH_BASE:DURATION_BASE] += by_class[..., PITCH_CLASS]
        if self._relative is None:
            return logits
        scores = out[..., self._relative[0] : self._relative[1]]  # scores by interval, −87..+87
        if isinstance(last, int):
            if last >= 0:
                logits[PITCH_BASE:DURATION_BASE] += scores[PITCHES - 1 - last : 2 * PITCHES - 1 - last]
            return logits
        where = (PITCHES - 1 - np.maximum(last, 0))[..., None] + np.arange(PITCHES)
        added = np.take_along_axis(scores, where, axis=-1)
        logits[..., PITCH_BASE:DURATION_BASE] += np.where(last[..., None] >= 0, added, 0)
        return logits

    def _context_input(self, context: KeyContext, last: int) -> tuple[np.ndarray, np.ndarray]:
        """For one stream: the first LSTM's input from the key context, and the head's key matrix.

        Both change only when a pitch is played, so ``step`` keeps them in the state.
        """
        drive = context.features(np.asarray(last)) @ self._context_kernel
        return drive, _key_matrix(context.normalised())

    def _play(self, context: KeyContext, pitch: int) -> tuple[KeyContext, np.ndarray, np.ndarray]:
        """``KeyContext.played`` then ``_context_input`` for one stream and one pitch, in few NumPy calls.

        The same arithmetic as ``KeyContext.played`` and ``features`` (the
        parity tests step and prime the same network); this runs for every
        note played live.
        """
        pc = PITCH_CLASS[pitch]
        profiles = context.profiles * self._decays_column
        profiles[:, pc] += 1.0
        decay = np.float32(self.arch.register_decay)
        weighted, weight = context.register * decay
        midi = np.float32(pitch + MIN_PITCH)
        register = np.array([weighted + midi, weight + 1.0], np.float32)
        normalised = profiles / profiles.sum(axis=1, keepdims=True)
        mean = register[0] / register[1]
        features = np.empty(self.arch.context_features, np.float32)
        features[:-2] = normalised[:, ROTATIONS[pc]].ravel()
        features[-2] = (midi - mean) / REGISTER_UNIT
        features[-1] = (mean - REGISTER_CENTRE) / REGISTER_UNIT
        assert self._context_kernel is not None, "called for models with a key context only"
        return KeyContext(profiles, register), features @ self._context_kernel, _key_matrix(normalised)

    def step(self, token: int, state: State) -> tuple[np.ndarray, State]:
        """Feed one token; return the next token's logits and the new state."""
        layers = state.layers
        recurrent, _, units = self._layers[0]
        h, c = layers[0]
        is_pitch = PITCH_BASE <= token < DURATION_BASE
        last = token - PITCH_BASE if is_pitch else int(state.last_pitch)
        z = self._first_input[token] + h @ recurrent
        context, drive, matrix = state.context, state.drive, state.key_matrix
        if self._context_kernel is not None:
            if is_pitch:
                context, drive, matrix = self._play(context, last)
            elif drive is None:
                drive, matrix = self._context_input(context, last)
            z += drive
        h, c = self._cell(z, c, units)
        new_layers = [(h, c)]
        below = h
        for (fused, bias, units), (h, c) in zip(self._layers[1:], layers[1:]):
            z = np.concatenate([below, h]) @ fused + bias
            h, c = self._cell(z, c, units)
            new_layers.append((h, c))
            below = h
        return self._head(below, last, matrix), State(tuple(new_layers), np.array(last), context, drive, matrix)

    def prime(self, tokens: np.ndarray, state: State | None = None) -> tuple[np.ndarray, State]:
        """Run a sequence (``(T,)`` or ``(batch, T)``) in one pass.

        Returns the logits after every token, ``(T, V)`` or ``(batch, T, V)``,
        and the state after the last. Each layer's input projection is one
        matrix product over all steps; only the recurrence loops.
        """
        tokens = np.asarray(tokens, dtype=np.int64)
        batched = tokens.ndim == 2
        seq = tokens if batched else tokens[None, :]
        if state is None:
            state = self.initial_state(seq.shape[0])
        elif not batched:
            state = State(
                tuple((h[None, :], c[None, :]) for h, c in state.layers),
                np.asarray(state.last_pitch)[None],
                KeyContext(state.context.profiles[None], state.context.register[None]),
            )
        xs = self._first_input[seq]  # (batch, T, 4u): input projections of layer 0
        last = last_pitches(seq, state.last_pitch)
        context = state.context
        profiles = None
        if self._context_kernel is not None:
            contexts = key_contexts(seq, context, self._decays, self.arch.register_decay)
            xs = xs + contexts.features(last) @ self._context_kernel
            profiles = contexts.normalised()
            if seq.shape[1]:
                context = KeyContext(contexts.profiles[:, -1], contexts.register[:, -1])
        new_state = []
        below_width = 0
        outputs = xs  # each layer's outputs are the next one's inputs
        for i, ((weights, bias, units), (h, c)) in enumerate(zip(self._layers, state.layers)):
            if i == 0:
                recurrent = weights
            else:
                # Split the fused matrix back: all steps' inputs in one product.
                xs = outputs @ weights[:below_width] + bias
                recurrent = weights[below_width:]
            outputs = np.empty(xs.shape[:2] + (units,), np.float32)
            for t in range(seq.shape[1]):
                h, c = self._cell(xs[:, t] + h @ recurrent, c, units)
                outputs[:, t] = h
            new_state.append((h, c))
            below_width = units
        logits = self._head(outputs, last, profiles)
        final = State(tuple(new_state), last[:, -1] if seq.shape[1] else np.asarray(state.last_pitch), context)
        if not batched:
            one = KeyContext(context.profiles[0], context.register[0])
            return logits[0], State(tuple((h[0], c[0]) for h, c in final.layers), final.last_pitch[0], one)
        return logits, final


def key_contexts(tokens: np.ndarray, before: KeyContext, decays: np.ndarray, register_decay: float) -> KeyContext:
    """The key context after each position of ``tokens`` (batch, T), from ``before`` (batch, ...)."""
    batch, steps = tokens.shape
    profiles = np.empty((batch, steps) + before.profiles.shape[1:], np.float32)
    register = np.empty((batch, steps, 2), np.float32)
    is_pitch = (tokens >= PITCH_BASE) & (tokens < DURATION_BASE)
    pitches = tokens - PITCH_BASE
    context = before
    for t in range(steps):
        if is_pitch[:, t].any():
            context = context.played(pitches[:, t], is_pitch[:, t], decays, register_decay)
        profiles[:, t] = context.profiles
        register[:, t] = context.register
    return KeyContext(profiles, register)


def _log2_softmax(logits: np.ndarray) -> np.ndarray:
    logits = logits.astype(np.float64)
    shifted = logits - logits.max(axis=-1, keepdims=True)
    return (shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))) / np.log(2)


def network_log2p(model: LSTMModel, pieces: list[np.ndarray], batch: int = 32) -> Iterator[tuple[int, np.ndarray]]:
    """For each piece (by index): log2 of the network's distribution before each event after the first.

    Pieces are run in batches of similar length, padded after the end.
    """
    order = np.argsort([len(p) for p in pieces], kind="stable")
    for first in range(0, len(pieces), batch):
        members = order[first : first + batch]
        group = [pieces[i] for i in members]
        length = max(len(p) for p in group)
        tokens = np.full((len(group), length), PAD, np.int64)
        for row, piece in enumerate(group):
            tokens[row, : len(piece)] = piece
        logits, _ = model.prime(tokens[:, :-1])
        for row, (index, piece) in enumerate(zip(members, group)):
            yield int(index), _log2_softmax(logits[row, : len(piece) - 1])


def last_pitches(tokens: np.ndarray, before: np.ndarray) -> np.ndarray:
    """For each position of ``tokens`` (batch, T): the last pitch at or before it.

    As 0..PITCHES-1; ``before`` (batch,) where the row has had none yet (−1: none at all).
    """
    is_pitch = (tokens >= PITCH_BASE) & (tokens < DURATION_BASE)
    at = np.where(is_pitch, np.arange(tokens.shape[1]), -1)
    np.maximum.accumulate(at, axis=1, out=at)
    found = np.take_along_axis(tokens, np.maximum(at, 0), axis=1) - PITCH_BASE
    return np.where(at >= 0, found, np.asarray(before).reshape(-1, 1)).astype(np.int64)
