"""``train``: fit a preset on a prepared data folder and write a model folder.

One loop serves one CPU, one machine's GPUs or logical CPUs (mirrored) and
several machines (``TF_CONFIG``: ``MultiWorkerMirroredStrategy``); the steps
are ``training.loop``'s. The strategy decides where each share of a batch is
computed, and the rank decides only who writes: the chief (worker 0, or the
task named ``chief``) keeps the work folder and writes the model folder; the
other workers write nothing and return.

Work in progress lives in ``MODEL_DIR.training/`` beside the output: the
state after the last finished epoch (weights, Adam's moments and step, for
``--resume``), the best epoch's weights so far, and the history. Only when
training ends is the model folder written, all at once; then the work folder
is removed. An interrupted run keeps it, and ``--resume`` (on every worker)
goes on from the last finished epoch with the same windows an uninterrupted
run would have drawn. Across machines the workers read the chief's work
folder to resume, so it must be on storage they share.

After the last epoch, the best weights are run in NumPy on the validation
pieces to fit the piece memory (``memory.py``), which the model folder
records beside the weights.
"""

from __future__ import annotations

import csv
import json
import logging
import os
import platform
import shutil
import time
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

from neuraltunes_live.config import TrainSettings
from neuraltunes_live.core.memory_fit import fit_piece_memory
from neuraltunes_live.core.model import Architecture, LSTMModel
from neuraltunes_live.core.model_files import (
    CONFIG_FILE,
    DataUsed,
    FittedMemory,
    Metrics,
    ModelInfo,
    StartedFrom,
    TrainingRun,
    load_model,
    read_model_info,
    write_model_dir,
)
from neuraltunes_live.data.dataset import Manifest, read_manifest, read_split
from neuraltunes_live.errors import TrainingError
from neuraltunes_live.files import check_output_dir, output_errors, replace_folder
from neuraltunes_live.offline.plot import plot_history
from neuraltunes_live.records import Record

logger = logging.getLogger(__name__)

RUN_FILE = "run.json"
STATE = "state.npz"
BEST_WEIGHTS = "best.npz"
HISTORY_CSV = "history.csv"
HISTORY_FIELDS = ("epoch", "loss", "accuracy", "val_loss", "val_accuracy")
HISTORY_PNG = "history.png"


@dataclass(frozen=True)
class TrainResult(Record):
    """What a finished training run wrote: the model folder, and what its ``model.json`` says."""

    model_dir: str
    info: ModelInfo


def work_dir_for(out_dir: Path) -> Path:
    return out_dir.with_name(out_dir.name + ".training")


def _strategy(replicas: int):
    import tensorflow as tf

    if os.environ.get("TF_CONFIG"):
        # Made before anything else touches TensorFlow's devices, as it must be.
        try:
            return tf.distribute.MultiWorkerMirroredStrategy()
        except (ValueError, KeyError, TypeError) as err:
            raise TrainingError(f"TF_CONFIG is not a cluster TensorFlow can join ({err})") from err
    gpus = tf.config.list_physical_devices("GPU")
    for gpu in gpus:
        # Take GPU memory as needed rather than all of it at start.
        tf.config.experimental.set_memory_growth(gpu, True)
    if replicas > 1 and not gpus:
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(
            cpu, [tf.config.LogicalDeviceConfiguration() for _ in range(replicas)]
        )
        return tf.distribute.MirroredStrategy([f"/cpu:{i}" for i in range(replicas)])
    if len(gpus) > 1:
        return tf.distribute.MirroredStrategy()
    return tf.distribute.get_strategy()


@dataclass(frozen=True)
class _Rank:
    """Who this process is in the run: the chief writes, the others only compute."""

    chief: bool
    workers: int
    name: str  # for the log: "worker 1 of 2"


def _rank(strategy) -> _Rank:
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not os.environ.get("TF_CONFIG"):
        return _Rank(True, 1, "")
    cluster = resolver.cluster_spec().as_dict()
    workers = sum(len(cluster.get(kind, ())) for kind in ("chief", "worker"))
    kind, index = resolver.task_type, resolver.task_id
    chief = kind == "chief" or (kind == "worker" and index == 0 and "chief" not in cluster)
    return _Rank(chief, workers, f"{kind} {index} of {workers}")


def _history_rows(path: Path) -> list[dict[str, float]]:
    if not path.exists():
        return []
    with open(path, newline="") as handle:
        return [{k: float(v) for k, v in row.items()} for row in csv.DictReader(handle)]


def _append_history(path: Path, row: dict[str, float]) -> None:
    new = not path.exists()
    with open(path, "a", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=HISTORY_FIELDS)
        if new:
            writer.writeheader()
        writer.writerow(row)


def _check_run(work: Path, run: dict, resume: bool) -> None:
    if not work.exists():
        if resume:
            raise TrainingError(f"nothing to resume: {work} does not exist")
        return
    if not resume:
        raise TrainingError(
            f"{work} holds an interrupted training run; pass --resume to go on with it, "
            "or remove the folder to start again"
        )
    try:
        previous = json.loads((work / RUN_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise TrainingError(f"{work}: cannot resume, {RUN_FILE} unreadable ({err})") from err
    for key in ("preset", "random_seed", "batch_size", "seq_len", "data_dir", "replicas", "source_balance", "init"):
        if previous.get(key) != run.get(key):
            raise TrainingError(
                f"cannot resume: {key} was {previous.get(key)!r}, now {run.get(key)!r}; "
                "use the same settings or remove " + str(work)
            )


@dataclass
class _Network:
    """The Keras network being trained and what its steps share."""

    net: Any  # keras.Model
    arch: Architecture  # the runtime's, resolved
    preset: Any  # training.model.Preset
    strategy: Any  # tf.distribute.Strategy
    optimizer: Any  # keras.optimizers.Adam
    steps: int  # per epoch
    initial_epoch: int  # epochs already run (a resumed run)


def train(
    data_dir: str | Path,
    out_dir: str | Path,
    settings: TrainSettings = TrainSettings(),
    *,
    resume: bool = False,
    init: str | Path | None = None,
    on_epoch: Callable[[int, dict[str, float]], None] | None = None,
    recipe: str | None = None,
) -> TrainResult | None:
    """Train with ``settings`` (``[train]``), then write the model folder.

    ``resume`` goes on with an interrupted run of the same settings; ``init``
    is a model folder whose weights training starts from; ``on_epoch(epoch,
    figures)`` is called after each epoch is kept; ``recipe`` (a recipe
    file's text) is recorded in the model. Under ``TF_CONFIG`` every worker
    calls this; the chief returns what it wrote, the others None.
    """
    init = str(init) if init else None
    keras_model = _keras_model()
    if settings.preset not in keras_model.PRESETS:
        raise TrainingError(f"unknown preset {settings.preset!r}; presets: {', '.join(keras_model.PRESETS)}")
    if settings.epochs < 1 or settings.batch_size < 1 or settings.seq_len < 2:
        raise TrainingError("epochs and batch size must be at least 1, sequence length at least 2")
    data_dir, out_dir = Path(data_dir), Path(out_dir)
    manifest, train_split, valid_split = _read_data(data_dir)
    strategy = _strategy(settings.replicas)
    rank = _rank(strategy)
    if settings.batch_size % strategy.num_replicas_in_sync:
        raise TrainingError(
            f"batch size {settings.batch_size} does not split evenly over {strategy.num_replicas_in_sync} replicas"
        )
    work = work_dir_for(out_dir)
    if rank.chief:
        check_output_dir(out_dir)
        if out_dir.exists() and not (out_dir / CONFIG_FILE).exists() and any(out_dir.iterdir()):
            raise TrainingError(f"{out_dir} exists and is not a model folder; choose another --out")
        _start_work(work, data_dir, settings, resume, init)
    elif resume and not (work / STATE).exists() and not (work / RUN_FILE).exists():
        raise TrainingError(f"nothing to resume: {work} (the chief's work folder) does not exist")
    network = _build(keras_model, settings, strategy, train_split, work, init, resume)
    seconds = _fit(network, settings, train_split, valid_split, work, rank, on_epoch)
    if not rank.chief:
        logger.info(f"{rank.name.capitalize()} done; the chief writes the model.")
        return None

    rows = _history_rows(work / HISTORY_CSV)
    if not rows:
        raise TrainingError("training finished no epoch")
    best = min(range(len(rows)), key=lambda i: rows[i]["val_loss"])
    _load_arrays(network.net.weights, work / BEST_WEIGHTS)
    weights = keras_model.export_weights(network.net, network.preset.arch)
    logger.info("Fitting the piece memory on the validation pieces...")
    memory, fit = fit_piece_memory(
        LSTMModel(network.arch, weights), valid_split.pieces(), float(valid_split.notes.sum())
    )
    info = _model_info(
        network, settings, init, rows, best, seconds, manifest, len(train_split), len(valid_split), rank.workers
    )
    info = replace(info, piece_memory=FittedMemory.fitted(memory, fit, str(data_dir)), recipe=recipe)
    _write_model(out_dir, work, network, weights, info, rows, best, settings.preset)
    shutil.rmtree(work, ignore_errors=True)
    logger.info(
        f"Wrote {out_dir}: best epoch {best + 1} of {len(rows)}, validation loss "
        f"{rows[best]['val_loss']:.4f} nats per event, accuracy {rows[best]['val_accuracy']:.3f}, "
        f"{seconds / 60:.1f} min; validation bits per note {fit.validation_bits_per_note:.3f} "
        f"with the piece memory, {fit.validation_bits_per_note_network:.3f} without."
    )
    return TrainResult(str(out_dir), info)


def _keras_model():
    """The Keras half of training; TrainingError naming what to install when TensorFlow is missing."""
    try:
        from neuraltunes_live.training import model as keras_model
    except ImportError as err:
        raise TrainingError(
            f"training needs TensorFlow ({err.name} is missing): pip install 'neuraltunes-live[train]'"
        ) from err
    return keras_model


def _read_data(data_dir: Path):
    """The manifest, training and validation pieces; TrainingError when either split is empty."""
    manifest = read_manifest(data_dir)
    train_split = read_split(data_dir, "train")
    valid_split = read_split(data_dir, "validation")
    if len(train_split) == 0:
        raise TrainingError(f"{data_dir} has no training pieces; prepare more music")
    if len(valid_split) == 0:
        raise TrainingError(f"{data_dir} has no validation pieces; prepare it with a validation_fraction above 0")
    return manifest, train_split, valid_split


def _start_work(work: Path, data_dir: Path, settings: TrainSettings, resume: bool, init: str | None) -> Path:
    """The work folder, checked against a run to resume and stamped with this run's settings."""
    run = {
        "preset": settings.preset,
        "random_seed": settings.random_seed,
        "batch_size": settings.batch_size,
        "seq_len": settings.seq_len,
        "data_dir": str(data_dir.resolve()),
        "replicas": settings.replicas,
        "source_balance": settings.source_balance,
        "init": str(Path(init).resolve()) if init else None,
    }
    _check_run(work, run, resume)
    work.mkdir(parents=True, exist_ok=True)
    (work / RUN_FILE).write_text(json.dumps(run, indent=1), encoding="utf-8")
    return work


def _build(
    keras_model, settings: TrainSettings, strategy, train_split, work: Path, init: str | None, resume: bool
) -> _Network:
    """The network and Adam under the strategy: from the weights to start from, or where the run had got to."""
    import keras

    from neuraltunes_live.training.data import steps_per_epoch

    preset = keras_model.PRESETS[settings.preset]
    keras.utils.set_random_seed(settings.random_seed)
    done = _history_rows(work / HISTORY_CSV) if resume else []
    if len(done) >= settings.epochs:
        logger.info(f"All {settings.epochs} epochs were already run; writing the model.")
    steps = steps_per_epoch(train_split, settings.seq_len, settings.batch_size)
    arch = keras_model.resolved(preset.arch)
    start = _initial_weights(init, arch) if init else None
    with strategy.scope():
        net = keras_model.build(preset.arch, dropout=preset.dropout, pitch_classes=preset.pitch_classes)
        optimizer = keras_model.optimizer_for(preset, total_steps=(settings.decay_epochs or settings.epochs) * steps)
        optimizer.build(net.trainable_variables)
        if start is not None:
            keras_model.load_weights(net, start, arch)
        if done:
            _load_arrays([*net.weights, *optimizer.variables], work / STATE)
    return _Network(net, arch, preset, strategy, optimizer, steps, len(done))


def _fit(
    network: _Network,
    settings: TrainSettings,
    train_split,
    valid_split,
    work: Path,
    rank: _Rank,
    on_epoch: Callable[[int, dict[str, float]], None] | None,
) -> float:
    """Run the epochs left; returns the seconds all runs of this training took together."""
    from neuraltunes_live.training.data import training_data, validation_data
    from neuraltunes_live.training.loop import Loop

    preset, strategy = network.preset, network.strategy
    where = f" as {rank.name}" if rank.name else ""
    logger.info(
        f"Training preset {settings.preset!r} ({preset.about}; {network.arch.parameter_count():,} "
        f"parameters) on {len(train_split)} pieces, {len(train_split.tokens):,} events; "
        f"validating on {len(valid_split)} pieces; {strategy.num_replicas_in_sync} replica(s){where}."
    )
    train_data = training_data(
        strategy,
        train_split,
        seq_len=settings.seq_len,
        batch_size=settings.batch_size,
        seed=settings.random_seed,
        initial_epoch=network.initial_epoch,
        balance=settings.source_balance,
    )
    valid_data, valid_steps = validation_data(
        strategy, valid_split, seq_len=settings.seq_len, batch_size=settings.batch_size
    )
    loop = Loop(strategy, network.net, network.optimizer, preset.clipnorm)
    rows = _history_rows(work / HISTORY_CSV) if network.initial_epoch else []
    best = min((r["val_loss"] for r in rows), default=None)
    since_best = 0 if best is None else len(rows) - 1 - min(range(len(rows)), key=lambda i: rows[i]["val_loss"])
    iterator = iter(train_data)
    started = time.perf_counter()
    try:
        for epoch in range(network.initial_epoch, settings.epochs):
            if since_best >= settings.patience:
                break
            trained = loop.train_epoch(iterator, network.steps, settings.batch_size)
            validated = loop.evaluate(valid_data, valid_steps)
            row = {
                "epoch": float(epoch),
                "loss": trained.loss,
                "accuracy": trained.accuracy,
                "val_loss": validated.loss,
                "val_accuracy": validated.accuracy,
            }
            improved = best is None or validated.loss < best
            best, since_best = (validated.loss, 0) if improved else (best, since_best + 1)
            if rank.chief:
                if improved:
                    _save_arrays(network.net.weights, work / BEST_WEIGHTS)
                _save_arrays([*network.net.weights, *network.optimizer.variables], work / STATE)
                _append_history(work / HISTORY_CSV, row)
            logger.info(
                f"epoch {epoch + 1}/{settings.epochs}: loss {trained.loss:.4f}, accuracy {trained.accuracy:.3f}; "
                f"validation loss {validated.loss:.4f}, accuracy {validated.accuracy:.3f}"
                + (" (best so far)" if improved else "")
            )
            if on_epoch is not None:
                on_epoch(epoch, row)
    except KeyboardInterrupt:
        if rank.chief:
            _add_seconds(work, time.perf_counter() - started)
        raise
    return _add_seconds(work, time.perf_counter() - started) if rank.chief else time.perf_counter() - started


def _save_arrays(variables: list, path: Path) -> None:
    """Variables' values, in order, into ``path`` whole (a resumed run reads them back in the same order)."""
    import numpy as np

    arrays = {f"v{i}": np.asarray(v.numpy()) for i, v in enumerate(variables)}
    temporary = path.with_name(path.name + ".tmp")
    with open(temporary, "wb") as out:
        np.savez(out, **arrays)  # type: ignore[arg-type]  # NumPy's stub reads **kwds as allow_pickle
    os.replace(temporary, path)


def _load_arrays(variables: list, path: Path) -> None:
    import numpy as np

    try:
        with np.load(path, allow_pickle=False) as arrays:
            if len(arrays.files) != len(variables):
                raise TrainingError(f"{path} holds {len(arrays.files)} arrays, this network {len(variables)}")
            for i, variable in enumerate(variables):
                variable.assign(arrays[f"v{i}"])
    except (OSError, ValueError) as err:
        raise TrainingError(f"{path}: cannot be read to go on ({err}); remove {path.parent} to start again") from err


def _model_info(
    network: _Network,
    settings: TrainSettings,
    init: str | None,
    rows: list[dict[str, float]],
    best: int,
    seconds: float,
    manifest: Manifest,
    train_pieces: int,
    validation_pieces: int,
    workers: int,
) -> ModelInfo:
    """What ``model.json`` says of the model: how it was trained, on what, and how well."""
    import keras
    import tensorflow as tf

    preset = network.preset
    return ModelInfo(
        preset=settings.preset,
        about=preset.about,
        parameters=network.arch.parameter_count(),
        created=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        training=TrainingRun(
            random_seed=settings.random_seed,
            epochs_run=len(rows),
            epochs_asked=settings.epochs,
            decay_epochs=settings.decay_epochs,
            best_epoch=best + 1,
            batch_size=settings.batch_size,
            seq_len=settings.seq_len,
            dropout=preset.dropout,
            learning_rate=preset.learning_rate,
            final_learning_rate=preset.final_learning_rate,
            pitch_class_sharing=preset.pitch_classes,
            clipnorm=preset.clipnorm,
            patience=settings.patience,
            initialised_from=_init_about(init),
            seconds=round(seconds, 1),
            replicas=network.strategy.num_replicas_in_sync,
            workers=workers,
            hardware=hardware(),
            tensorflow=tf.__version__,
            keras=keras.__version__,
        ),
        data=DataUsed(
            sources=manifest.sources,
            split_seed=manifest.options.random_seed,
            counts=manifest.counts.to_json(),
            train_pieces=train_pieces,
            validation_pieces=validation_pieces,
        ),
        metrics=Metrics(
            val_loss_nats_per_event=round(rows[best]["val_loss"], 4),
            val_accuracy=round(rows[best]["val_accuracy"], 4),
            train_loss_nats_per_event=round(rows[best]["loss"], 4),
        ),
    )


def _write_model(
    out_dir: Path, work: Path, network: _Network, weights: dict, info: ModelInfo, rows: list, best: int, preset: str
) -> None:
    """The model folder, all at once: weights, ``model.json``, the history and its plot."""

    def write(folder: Path) -> None:
        write_model_dir(folder, network.arch, weights, info)
        shutil.copy(work / HISTORY_CSV, folder / HISTORY_CSV)
        plot_history(rows, folder / HISTORY_PNG, f"{preset}: best epoch {best + 1}")

    with output_errors(out_dir):
        replace_folder(out_dir, write)


def _initial_weights(init: str, arch) -> dict:
    """A model folder's weights, grown to ``arch`` (see ``model.grown_weights``); TrainingError if they cannot be."""
    from neuraltunes_live.training.model import grown_weights

    model = load_model(init)
    try:
        return grown_weights(model.weights, arch)
    except ValueError as err:
        raise TrainingError(f"--init {init}: {err}") from err


def _init_about(init: str | None) -> StartedFrom | None:
    """What ``model.json`` records of the folder training started from."""
    if not init:
        return None
    info = read_model_info(init)
    return StartedFrom(
        model=str(init),
        preset=info.preset or None,
        created=info.created or None,
        epochs_run=info.training.epochs_run if info.training else None,
        seconds=info.training.seconds if info.training else None,
    )


def _add_seconds(work: Path, seconds: float) -> float:
    """Add this run's time to the work folder's, so a resumed run's total is honest."""
    path = work / "seconds"
    total = (float(path.read_text()) if path.exists() else 0.0) + seconds
    path.write_text(f"{total:.1f}")
    return total


def hardware() -> str:
    """What trained it, as a model folder records it: "2 CPU cores (x86_64, AMD EPYC), no GPU".
    The processor's model matters to anyone who trains a recipe again: its BLAS kernels round
    differently, so the same run on another processor ends a little apart."""
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    where = f"{os.cpu_count()} CPU cores ({', '.join(dict.fromkeys([platform.machine(), _cpu_name()]))})"
    return where + (f", {len(gpus)} GPU(s)" if gpus else ", no GPU")


def _cpu_name() -> str:
    try:  # Linux
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()
