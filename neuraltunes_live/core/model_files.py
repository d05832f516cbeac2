"""Model folders on disk: writing and reading the weights and what they are, and where the shipped model is.

A model folder holds ``model.json`` (the format, the event vocabulary, the
architecture, and ``ModelInfo``: how it was trained, on what, and how well)
and ``weights.npz`` (plain float32 arrays). Loading reads JSON and arrays
with ``allow_pickle=False``; nothing in the folder is executed or unpickled,
so a model from anywhere is safe to load. This module is the one place that
reads ``model.json``: everything else asks for a ``ModelInfo``.
"""

from __future__ import annotations

import json
import zipfile
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from neuraltunes_live.core.accompany import STEP_TICKS, AccompanyArchitecture, AccompanyModel
from neuraltunes_live.core.encoding import (
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
from neuraltunes_live.core.memory import MemorySettings
from neuraltunes_live.core.memory_fit import MemoryFit
from neuraltunes_live.core.model import Architecture, LSTMModel
from neuraltunes_live.core.notes import TICKS_PER_BEAT
from neuraltunes_live.errors import ModelError
from neuraltunes_live.files import replace_file
from neuraltunes_live.records import Record

MODEL_FORMAT = "neuraltunes-live model"
MODEL_FORMAT_VERSION = 1
CONFIG_FILE = "model.json"
WEIGHTS_FILE = "weights.npz"
#: The keys of ``model.json`` that say what the file is and what the network speaks, beside ``ModelInfo``'s.
_HEADER = ("format", "format_version", "encoding_version", "vocabulary", "architecture")


@dataclass(frozen=True)
class StartedFrom(Record):
    """The model folder a training run started from (``train --init``)."""

    model: str
    preset: str | None = None
    created: str | None = None
    epochs_run: int | None = None
    seconds: float | None = None


@dataclass(frozen=True)
class TrainingRun(Record):
    """How a model was trained."""

    random_seed: int
    epochs_run: int
    epochs_asked: int
    best_epoch: int
    batch_size: int
    seq_len: int
    dropout: float
    learning_rate: float
    patience: int
    seconds: float
    hardware: str
    tensorflow: str
    keras: str
    final_learning_rate: float | None = None
    pitch_class_sharing: bool = False
    clipnorm: float | None = None
    initialised_from: StartedFrom | None = None
    transpose_semitones: str = "-6..+5"
    replicas: int = 1
    workers: int = 1
    decay_epochs: int | None = None  # epochs the learning rate decayed over, when not epochs_asked


@dataclass(frozen=True)
class DataUsed(Record):
    """What a model was trained on: the prepared data's sources and how many pieces of each split."""

    sources: tuple[str, ...]
    split_seed: int | None
    counts: dict[str, int]
    train_pieces: int
    validation_pieces: int


@dataclass(frozen=True)
class Metrics(Record):
    """The best epoch's figures (nats per event, as Keras reports them)."""

    val_loss_nats_per_event: float
    val_accuracy: float
    train_loss_nats_per_event: float


@dataclass(frozen=True)
class FittedMemory(Record):
    """The fitted piece memory (``memory.MemorySettings``) and how well it did on the pieces it was fitted on."""

    min_order: int
    concentrations: tuple[float, ...]
    validation_pieces: int = 0
    validation_bits_per_note_network: float | None = None
    validation_bits_per_note: float | None = None
    fitted_on: str = ""

    @classmethod
    def fitted(cls, settings: MemorySettings, fit: MemoryFit, fitted_on: str) -> "FittedMemory":
        data = settings.to_json()
        return cls(
            min_order=data["min_order"],
            concentrations=tuple(data["concentrations"]),
            validation_pieces=fit.validation_pieces,
            validation_bits_per_note_network=fit.validation_bits_per_note_network,
            validation_bits_per_note=fit.validation_bits_per_note,
            fitted_on=fitted_on,
        )

    def settings(self) -> MemorySettings:
        """The settings the runtime blends with; ValueError if they are not valid ones."""
        return MemorySettings.from_json({"min_order": self.min_order, "concentrations": list(self.concentrations)})


@dataclass(frozen=True)
class ModelInfo(Record):
    """What ``model.json`` says of a model besides its architecture: how it was made and how well it does."""

    preset: str = ""
    about: str = ""
    parameters: int = 0
    created: str = ""
    recipe: str | None = None  # the training recipe it came from, if one
    training: TrainingRun | None = None
    data: DataUsed | None = None
    metrics: Metrics | None = None
    piece_memory: FittedMemory | None = None


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


def _description(arch: Architecture, info: ModelInfo) -> bytes:
    config = {
        "format": MODEL_FORMAT,
        "format_version": MODEL_FORMAT_VERSION,
        "encoding_version": ENCODING_VERSION,
        "vocabulary": vocabulary(),
        "architecture": arch.to_json(),
        **info.to_json(),
    }
    return (json.dumps(config, indent=2) + "\n").encode("utf-8")


def write_model_dir(folder: Path, arch: Architecture, weights: dict[str, np.ndarray], info: ModelInfo) -> None:
    """Write ``model.json`` and ``weights.npz`` into ``folder`` (which exists)."""
    shapes = arch.weight_shapes()
    if set(weights) != set(shapes):
        raise ValueError(f"weights {sorted(weights)} do not match the architecture {sorted(shapes)}")
    arrays = {name: np.asarray(weights[name], dtype=np.float32) for name in shapes}
    for name, array in arrays.items():
        if array.shape != shapes[name]:
            raise ValueError(f"weight {name} has shape {array.shape}, expected {shapes[name]}")
    with open(folder / WEIGHTS_FILE, "wb") as out:
        np.savez(out, **arrays)  # type: ignore[arg-type]  # NumPy's stub reads **kwds as allow_pickle
    (folder / CONFIG_FILE).write_bytes(_description(arch, info))


def _shipped_model(name: str = "default") -> Path:
    """Where a shipped model is: inside the installed package (a wheel), or in the checkout."""
    package = Path(__file__).resolve().parents[1]  # neuraltunes_live/
    installed = package / "models" / name
    return installed if installed.is_dir() else package.parent / "models" / name


#: The model shipped with the project, used when none is named.
SHIPPED_MODEL = _shipped_model()
#: The accompaniment model shipped with the project.
SHIPPED_ACCOMPANIMENT = _shipped_model("accompany")


def model_dir_or_default(setting: str | Path | None) -> Path:
    """The model folder named, or the shipped one; ModelError if there is none."""
    if setting:
        return Path(setting)
    if not SHIPPED_MODEL.is_dir():
        raise ModelError(f"no model given and the shipped model is not at {SHIPPED_MODEL}; pass --model DIR")
    return SHIPPED_MODEL


def _read_description(folder: Path) -> dict[str, Any]:
    """``model.json``, its format and vocabulary checked; ModelError says what is wrong."""
    if not folder.is_dir():
        raise ModelError(f"{folder}: no such model folder")
    path = folder / CONFIG_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as err:
        raise ModelError(f"{folder}: not a model folder (no {CONFIG_FILE})") from err
    except (OSError, ValueError) as err:
        raise ModelError(f"{path}: unreadable ({err})") from err
    if not isinstance(data, dict) or data.get("format") != MODEL_FORMAT:
        raise ModelError(f"{path}: not a neuraltunes-live model description")
    if data.get("format_version") != MODEL_FORMAT_VERSION:
        raise ModelError(
            f"{folder}: model format {data.get('format_version')}, this version reads {MODEL_FORMAT_VERSION}"
        )
    if data.get("encoding_version") != ENCODING_VERSION:
        raise ModelError(
            f"{folder}: trained on event encoding {data.get('encoding_version')}, this version "
            f"speaks encoding {ENCODING_VERSION}; train it again or use a matching version"
        )
    if data.get("vocabulary") != vocabulary():
        raise ModelError(f"{path}: its event vocabulary is not this version's; train it again")
    return data


def _info(data: dict[str, Any], path: Path) -> ModelInfo:
    training = data.get("training")
    if isinstance(training, dict) and "seed" in training:  # a folder written before the key was named
        training["random_seed"] = training.pop("seed")
    try:
        return ModelInfo.from_json({k: v for k, v in data.items() if k not in _HEADER}, CONFIG_FILE)
    except ValueError as err:
        raise ModelError(f"{path}: {err}") from err


def read_model_info(model_dir: str | Path) -> ModelInfo:
    """What a model folder's ``model.json`` says of the model, checked; ModelError says what is wrong."""
    folder = Path(model_dir)
    return _info(_read_description(folder), folder / CONFIG_FILE)


def load_model(model_dir: str | Path) -> LSTMModel:
    """Load a model folder with NumPy only; ModelError names what is wrong."""
    folder = Path(model_dir)
    data = _read_description(folder)
    info = _info(data, folder / CONFIG_FILE)
    try:
        arch = Architecture.from_json(data.get("architecture"))
    except ValueError as err:
        raise ModelError(f"{folder / CONFIG_FILE}: {err}") from err
    if arch.vocab_size != VOCAB_SIZE:
        raise ModelError(f"{folder}: vocabulary of {arch.vocab_size} events, this encoding has {VOCAB_SIZE}")
    weights = _load_weights(folder, arch.weight_shapes())
    memory = None
    if info.piece_memory is not None:
        try:
            memory = info.piece_memory.settings()
        except ValueError as err:
            raise ModelError(f"{folder / CONFIG_FILE}: {err}") from err
    return LSTMModel(arch, weights, info, memory)


def _load_weights(folder: Path, shapes: dict[str, tuple[int, ...]]) -> dict[str, np.ndarray]:
    """``weights.npz`` of a model folder, every array checked against ``shapes``."""
    path = folder / WEIGHTS_FILE
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
            raise ModelError(f"{path}: {name} is {array.dtype} {array.shape}, the architecture needs float {shape}")
        if not np.all(np.isfinite(array)):
            raise ModelError(f"{path}: {name} holds NaN or infinite values")
    return weights


def write_piece_memory(model_dir: str | Path, memory: FittedMemory) -> None:
    """Record a fitted piece memory in a model folder's ``model.json``.

    The file is replaced whole (``files.replace_file``), so an interrupted
    write leaves the old one.
    """
    folder = Path(model_dir)
    data = _read_description(folder)
    arch = Architecture.from_json(data["architecture"])
    info = replace(_info(data, folder / CONFIG_FILE), piece_memory=memory)
    text = _description(arch, info)
    replace_file(folder / CONFIG_FILE, lambda out: out.write(text))


# --- accompaniment models ---------------------------------------------------------

ACCOMPANY_FORMAT = "neuraltunes-live accompaniment model"


@dataclass(frozen=True)
class AccompanyInfo(Record):
    """What an accompaniment model's ``model.json`` says of it besides its architecture."""

    preset: str
    about: str
    parameters: int
    created: str
    step_ticks: int
    training: dict[str, Any]  # epochs, best epoch, seconds, hardware, settings
    data: dict[str, Any]  # the pairs folder, its sources, player rule and piece counts
    metrics: dict[str, float]  # the best epoch's validation figures


def write_accompany_dir(
    folder: Path, arch: AccompanyArchitecture, weights: dict[str, np.ndarray], info: AccompanyInfo
) -> None:
    """Write an accompaniment model's ``model.json`` and ``weights.npz`` into ``folder`` (which exists)."""
    shapes = arch.weight_shapes()
    arrays = {name: np.asarray(weights[name], dtype=np.float32) for name in shapes}
    for name, array in arrays.items():
        if array.shape != shapes[name]:
            raise ValueError(f"weight {name} has shape {array.shape}, expected {shapes[name]}")
    with open(folder / WEIGHTS_FILE, "wb") as out:
        np.savez(out, **arrays)  # type: ignore[arg-type]
    description = {"format": ACCOMPANY_FORMAT, "format_version": 1, "architecture": arch.to_json(), **info.to_json()}
    (folder / CONFIG_FILE).write_text(json.dumps(description, indent=2) + "\n", encoding="utf-8")


def accompaniment_dir_or_default(setting: str | Path | None) -> Path:
    """The accompaniment model folder named, or the shipped one; ModelError if there is none."""
    if setting:
        return Path(setting)
    if not SHIPPED_ACCOMPANIMENT.is_dir():
        raise ModelError(f"no accompaniment model given and none is at {SHIPPED_ACCOMPANIMENT}; pass one")
    return SHIPPED_ACCOMPANIMENT


def load_accompany_model(model_dir: str | Path) -> AccompanyModel:
    """Load an accompaniment model folder with NumPy only; ModelError names what is wrong."""
    folder = Path(model_dir)
    path = folder / CONFIG_FILE
    if not folder.is_dir():
        raise ModelError(f"{folder}: no such model folder")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as err:
        raise ModelError(f"{folder}: not a model folder (no {CONFIG_FILE})") from err
    except (OSError, ValueError) as err:
        raise ModelError(f"{path}: unreadable ({err})") from err
    if not isinstance(data, dict) or data.get("format") != ACCOMPANY_FORMAT:
        what = "an answering model, not an accompaniment model" if data.get("format") == MODEL_FORMAT else "not one"
        raise ModelError(f"{folder}: {what} (accompaniment models are trained on `prepare --player` data)")
    try:
        arch = AccompanyArchitecture.from_json(data["architecture"])
        info = AccompanyInfo.from_json(
            {k: v for k, v in data.items() if k not in ("format", "format_version", "architecture")}
        )
    except (KeyError, TypeError, ValueError) as err:
        raise ModelError(f"{path}: {err}") from err
    if info.step_ticks != STEP_TICKS:
        raise ModelError(f"{folder}: steps of {info.step_ticks} ticks, this version steps {STEP_TICKS}")
    return AccompanyModel(arch, _load_weights(folder, arch.weight_shapes()), info)
