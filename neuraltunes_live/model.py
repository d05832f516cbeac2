"""The trained network, run in NumPy: load a model folder, prime, step.

A model folder holds ``model.json`` (what the network is, what it was trained
on, how well it did) and ``weights.npz`` (plain float32 arrays). Loading reads
JSON and arrays with ``allow_pickle=False``; nothing in the folder is executed
or unpickled, so a model from anywhere is safe to load. TensorFlow is never
imported here: the daemon starts in well under a second and each step is a few
small matrix products.

The network is the one ``training/`` builds in Keras: an embedding, stacked
LSTMs (Keras's gate order: input, forget, cell, output), optional dense ReLU
layers, and an output layer of logits over the event vocabulary. A model
with ``relative_pitch`` also scores every interval from the last pitch played
(−87..+87 semitones) and adds each interval's score to the logit of the pitch
it leads to, so what it learns about melodic steps holds in every key.

A model folder may also carry ``piece_memory`` settings (``memory.py``),
fitted on held-out pieces after training: what the piece itself played after
the same few events is then blended into the network's prediction.
"""

from __future__ import annotations

import json
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from .encoding import (
    BOS,
    DURATION_BASE,
    ENCODING_VERSION,
    EOS,
    MAX_DURATION,
    MAX_PITCH,
    MAX_SHIFT,
    MIN_PITCH,
    PAD,
    PITCH_BASE,
    SHIFT_BASE,
    VELOCITY_BASE,
    VELOCITY_BINS,
    VOCAB_SIZE,
)
from .errors import ModelError
from .files import replace_file
from .memory import MemorySettings
from .notes import TICKS_PER_BEAT

MODEL_FORMAT = "neuraltunes-live model"
MODEL_FORMAT_VERSION = 1
CONFIG_FILE = "model.json"
WEIGHTS_FILE = "weights.npz"

PITCHES = MAX_PITCH - MIN_PITCH + 1
INTERVALS = 2 * PITCHES - 1  # −87..+87 semitones


class State(NamedTuple):
    """Where the network is after a sequence; the caller keeps it and passes it back."""

    #: (h, c) of each LSTM layer, each of shape (units,) or (batch, units).
    layers: tuple[tuple[np.ndarray, np.ndarray], ...]
    #: The last pitch fed (0..PITCHES-1 from MIN_PITCH), −1 before any; () or (batch,).
    last_pitch: np.ndarray


@dataclass(frozen=True)
class Architecture:
    """The shape of the network; the same description builds it in Keras."""

    embedding_dim: int
    lstm_units: tuple[int, ...]
    dense_units: tuple[int, ...] = ()
    one_hot: bool = False  # the embedding is the identity: the seeds' one-hot input
    vocab_size: int = VOCAB_SIZE
    relative_pitch: bool = False  # interval scores added to the pitch logits

    def to_json(self) -> dict[str, Any]:
        return {
            "embedding_dim": self.embedding_dim,
            "lstm_units": list(self.lstm_units),
            "dense_units": list(self.dense_units),
            "one_hot": self.one_hot,
            "vocab_size": self.vocab_size,
            "relative_pitch": self.relative_pitch,
        }

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
            )
        except (KeyError, TypeError, ValueError) as err:
            raise ValueError(f"bad architecture ({err})") from err
        if not arch.lstm_units:
            raise ValueError("bad architecture (no LSTM layer)")
        return arch

    def weight_shapes(self) -> dict[str, tuple[int, ...]]:
        """Name and shape of every array in ``weights.npz``."""
        shapes: dict[str, tuple[int, ...]] = {"embedding": (self.vocab_size, self.embedding_dim)}
        width = self.embedding_dim
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
        return shapes

    def parameter_count(self) -> int:
        return sum(int(np.prod(shape)) for shape in self.weight_shapes().values())


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
        info: dict | None = None,
        memory: MemorySettings | None = None,
    ):
        self.arch = arch
        self.info = info or {}
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
        for i, units in enumerate(arch.lstm_units):
            perm = np.concatenate([np.arange(0, 2 * units), np.arange(3 * units, 4 * units),
                                   np.arange(2 * units, 3 * units)])
            scale = np.where(np.arange(4 * units) < 3 * units, 0.5, 1.0).astype(np.float32)
            kernel = w[f"lstm{i}_kernel"][:, perm] * scale
            recurrent = w[f"lstm{i}_recurrent"][:, perm] * scale
            bias = w[f"lstm{i}_bias"][perm] * scale
            if i == 0:
                # The first layer's input projection depends only on the token,
                # so it is a table lookup: embedding @ kernel + bias, made here.
                self._first_input = np.ascontiguousarray(w["embedding"] @ kernel + bias, dtype=np.float32)
                self._layers.append((np.ascontiguousarray(recurrent), np.zeros(0, np.float32), units))
            else:
                # Input and recurrent products fused: [x, h] @ [[kernel], [recurrent]].
                fused = np.ascontiguousarray(np.vstack([kernel, recurrent]))
                self._layers.append((fused, bias.astype(np.float32), units))
        self._dense = [(w[f"dense{i}_kernel"], w[f"dense{i}_bias"]) for i in range(len(arch.dense_units))]
        self._output = (w["output_kernel"], w["output_bias"])
        self._relative = None
        if arch.relative_pitch:
            # Output and interval scores in one product: [logits | scores].
            self._output = (
                np.ascontiguousarray(np.hstack([w["output_kernel"], w["relative_kernel"]])),
                np.concatenate([w["output_bias"], w["relative_bias"]]),
            )
            self._relative = arch.vocab_size

    @property
    def vocab_size(self) -> int:
        return self.arch.vocab_size

    def initial_state(self, batch: int | None = None) -> State:
        shape = (lambda u: (u,)) if batch is None else (lambda u: (batch, u))
        layers = tuple(
            (np.zeros(shape(u), np.float32), np.zeros(shape(u), np.float32))
            for u in self.arch.lstm_units
        )
        return State(layers, np.full(() if batch is None else (batch,), -1, np.int64))

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

    def _head(self, h: np.ndarray, last: np.ndarray | int) -> np.ndarray:
        """Logits from the top LSTM's output; ``last`` is the last pitch (−1: none)."""
        for kernel, bias in self._dense:
            h = np.maximum(h @ kernel + bias, 0)
        kernel, bias = self._output
        out = h @ kernel
        out += bias
        if self._relative is None:
            return out
        logits, scores = out[..., : self._relative], out[..., self._relative :]  # scores by interval, −87..+87
        if h.ndim == 1:
            if last >= 0:
                logits[PITCH_BASE:DURATION_BASE] += scores[PITCHES - 1 - last : 2 * PITCHES - 1 - last]
            return logits
        where = (PITCHES - 1 - np.maximum(last, 0))[..., None] + np.arange(PITCHES)
        added = np.take_along_axis(scores, where, axis=-1)
        logits[..., PITCH_BASE:DURATION_BASE] += np.where(last[..., None] >= 0, added, 0)
        return logits

    def step(self, token: int, state: State) -> tuple[np.ndarray, State]:
        """Feed one token; return the next token's logits and the new state."""
        layers = state.layers
        recurrent, _, units = self._layers[0]
        h, c = layers[0]
        h, c = self._cell(self._first_input[token] + h @ recurrent, c, units)
        new_layers = [(h, c)]
        below = h
        for (fused, bias, units), (h, c) in zip(self._layers[1:], layers[1:]):
            z = np.concatenate([below, h]) @ fused + bias
            h, c = self._cell(z, c, units)
            new_layers.append((h, c))
            below = h
        last = token - PITCH_BASE if PITCH_BASE <= token < DURATION_BASE else int(state.last_pitch)
        return self._head(below, last), State(tuple(new_layers), np.array(last))

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
                tuple((h[None, :], c[None, :]) for h, c in state.layers), np.asarray(state.last_pitch)[None]
            )
        xs = self._first_input[seq]  # (batch, T, 4u): input projections of layer 0
        new_state = []
        below_width = 0
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
        last = last_pitches(seq, state.last_pitch)
        logits = self._head(outputs, last)
        final = State(tuple(new_state), last[:, -1] if seq.shape[1] else np.asarray(state.last_pitch))
        if not batched:
            return logits[0], State(tuple((h[0], c[0]) for h, c in final.layers), final.last_pitch[0])
        return logits, final


def last_pitches(tokens: np.ndarray, before: np.ndarray) -> np.ndarray:
    """For each position of ``tokens`` (batch, T): the last pitch at or before it.

    As 0..PITCHES-1; ``before`` (batch,) where the row has had none yet (−1: none at all).
    """
    is_pitch = (tokens >= PITCH_BASE) & (tokens < DURATION_BASE)
    at = np.where(is_pitch, np.arange(tokens.shape[1]), -1)
    np.maximum.accumulate(at, axis=1, out=at)
    found = np.take_along_axis(tokens, np.maximum(at, 0), axis=1) - PITCH_BASE
    return np.where(at >= 0, found, np.asarray(before).reshape(-1, 1)).astype(np.int64)


def vocabulary() -> dict[str, Any]:
    """The event vocabulary the model speaks, written into ``model.json``."""
    return {
        "size": VOCAB_SIZE,
        "ticks_per_beat": TICKS_PER_BEAT,
        "pad": PAD,
        "bos": BOS,
        "eos": EOS,
        "shift": {"first_token": SHIFT_BASE, "ticks": [1, MAX_SHIFT]},
        "pitch": {"first_token": PITCH_BASE, "midi_notes": [MIN_PITCH, MAX_PITCH]},
        "duration": {"first_token": DURATION_BASE, "ticks": [1, MAX_DURATION]},
        "velocity": {"first_token": VELOCITY_BASE, "bins": VELOCITY_BINS},
    }


def write_model_dir(folder: Path, arch: Architecture, weights: dict[str, np.ndarray], info: dict) -> None:
    """Write ``model.json`` and ``weights.npz`` into ``folder`` (which exists)."""
    shapes = arch.weight_shapes()
    if set(weights) != set(shapes):
        raise ValueError(f"weights {sorted(weights)} do not match the architecture {sorted(shapes)}")
    arrays = {name: np.asarray(weights[name], dtype=np.float32) for name in shapes}
    for name, array in arrays.items():
        if array.shape != shapes[name]:
            raise ValueError(f"weight {name} has shape {array.shape}, expected {shapes[name]}")
    with open(folder / WEIGHTS_FILE, "wb") as out:
        np.savez(out, **arrays)
    config = {
        "format": MODEL_FORMAT,
        "format_version": MODEL_FORMAT_VERSION,
        "encoding_version": ENCODING_VERSION,
        "vocabulary": vocabulary(),
        "architecture": arch.to_json(),
        **info,
    }
    (folder / CONFIG_FILE).write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")


def read_model_info(model_dir: str | Path) -> dict:
    """``model.json`` of a model folder, checked; ModelError says what is wrong."""
    folder = Path(model_dir)
    if not folder.is_dir():
        raise ModelError(f"{folder}: no such model folder")
    path = folder / CONFIG_FILE
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as err:
        raise ModelError(f"{folder}: not a model folder (no {CONFIG_FILE})") from err
    except (OSError, ValueError) as err:
        raise ModelError(f"{path}: unreadable ({err})") from err
    if not isinstance(info, dict) or info.get("format") != MODEL_FORMAT:
        raise ModelError(f"{path}: not a neuraltunes-live model description")
    if info.get("format_version") != MODEL_FORMAT_VERSION:
        raise ModelError(
            f"{folder}: model format {info.get('format_version')}, this version reads "
            f"{MODEL_FORMAT_VERSION}"
        )
    if info.get("encoding_version") != ENCODING_VERSION:
        raise ModelError(
            f"{folder}: trained on event encoding {info.get('encoding_version')}, this version "
            f"speaks encoding {ENCODING_VERSION}; train it again or use a matching version"
        )
    if info.get("vocabulary") != vocabulary():
        raise ModelError(f"{path}: its event vocabulary is not this version's; train it again")
    return info


def load_model(model_dir: str | Path) -> LSTMModel:
    """Load a model folder with NumPy only; ModelError names what is wrong."""
    folder = Path(model_dir)
    info = read_model_info(folder)
    try:
        arch = Architecture.from_json(info.get("architecture"))
    except ValueError as err:
        raise ModelError(f"{folder / CONFIG_FILE}: {err}") from err
    if arch.vocab_size != VOCAB_SIZE:
        raise ModelError(
            f"{folder}: vocabulary of {arch.vocab_size} events, this encoding has {VOCAB_SIZE}"
        )
    path = folder / WEIGHTS_FILE
    shapes = arch.weight_shapes()
    try:
        with np.load(path, allow_pickle=False) as arrays:
            missing = sorted(set(shapes) - set(arrays.files))
            if missing:
                raise ModelError(f"{path}: weights missing: {', '.join(missing)}")
            weights = {name: arrays[name] for name in shapes}
    except ModelError:
        raise
    except FileNotFoundError as err:
        raise ModelError(f"{folder}: no {WEIGHTS_FILE}; the model folder is incomplete") from err
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as err:
        raise ModelError(f"{path}: damaged or truncated ({err})") from err
    for name, shape in shapes.items():
        array = weights[name]
        if array.shape != shape or array.dtype.kind != "f":
            raise ModelError(
                f"{path}: {name} is {array.dtype} {array.shape}, the architecture needs float {shape}"
            )
        if not np.all(np.isfinite(array)):
            raise ModelError(f"{path}: {name} holds NaN or infinite values")
    memory = None
    if info.get("piece_memory") is not None:
        try:
            memory = MemorySettings.from_json(info["piece_memory"])
        except ValueError as err:
            raise ModelError(f"{folder / CONFIG_FILE}: {err}") from err
    return LSTMModel(arch, weights, info, memory)


def write_piece_memory(model_dir: str | Path, settings: MemorySettings, about: dict) -> None:
    """Record fitted memory settings (and ``about`` them) in a model folder's ``model.json``.

    The file is replaced whole (``files.replace_file``), so an interrupted
    write leaves the old one.
    """
    folder = Path(model_dir)
    info = read_model_info(folder)
    info["piece_memory"] = {**settings.to_json(), **about}
    text = (json.dumps(info, indent=2) + "\n").encode("utf-8")
    replace_file(folder / CONFIG_FILE, lambda out: out.write(text))
