"""Training the accompaniment network (``core/accompany.py``) on a pairs folder (``prepare --player``).

The same custom step as the event model (``loop.Loop``), on one machine:
windows of ``seq_len`` steps drawn at random from the training pieces, each
moved by a random transposition (−6..+5, both streams alike), the network
predicting the accompaniment's token of every step from the player's tokens
up to that step and its own before it. The accompaniment's chords are the
whole harmony, the player's pitch classes included
(``accompaniment_events(..., melody)``): what a keyboard plays under a tune.
Validation windows tile the validation pieces as they are. The epoch with
the lowest validation loss is kept; ``patience`` epochs without a better
one end training.

Presets: ``accompany`` (it hears the player up to the step it plays on:
what ``serve --mode accompany`` plays) and ``accompany-ahead`` (it also
hears the player's next beat: only the benchmark's contender "allowed to see
one beat ahead").
"""

from __future__ import annotations

import logging
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from neuraltunes_live.config import TrainSettings
from neuraltunes_live.core import accompany as acc
from neuraltunes_live.core.model_files import AccompanyInfo, write_accompany_dir
from neuraltunes_live.data.pairs import PairSplit, read_pair_split, read_pairs_manifest
from neuraltunes_live.errors import TrainingError
from neuraltunes_live.files import output_errors, replace_folder
from neuraltunes_live.training.train import hardware

logger = logging.getLogger(__name__)

#: Chord shapes the network names (the commonest in the training data); rarer ones go to the nearest.
SHAPES = 40
#: Player steps heard from the one played on: the live model hears that step (a note played on it),
#: the benchmark's yardstick the beat after it too.
LOOKAHEAD = {"accompany": 1, "accompany-ahead": 1 + acc.STEPS_PER_BEAT}
TRANSPOSE = range(-6, 6)
LEARNING_RATE = 2e-3
DROPOUT = 0.25


def encoded(split: PairSplit, shapes: tuple[int, ...]) -> list[tuple[np.ndarray, np.ndarray, int]]:
    """(player tokens, accompaniment tokens, beats per bar) of every piece, one token a step."""
    out = []
    for player, accompaniment, beats in zip(split.player, split.accompaniment, split.beats_per_bar):
        end = max(int((n[:, 0] + n[:, 2]).max()) for n in (player, accompaniment))
        steps = -(-end // acc.STEP_TICKS)
        events = acc.accompaniment_events(accompaniment, steps, player)
        out.append((acc.player_steps(player, steps), acc.accompaniment_tokens(events, shapes), beats))
    return out


def _window(piece, start: int, length: int, shift: int, lookahead: int, start_token: int):
    player, ours, beats = piece
    player, ours = acc.transpose_player(player, shift), acc.transpose_accompaniment(ours, shift)
    inputs = acc.network_inputs(player, ours, beats, lookahead, start_token)
    return inputs[start : start + length], ours[start : start + length]


def training_windows(pieces, count: int, length: int, rng: np.random.Generator, lookahead: int, start_token: int):
    """``count`` random windows (inputs, targets), each piece drawn by its length, each window transposed."""
    usable = [p for p in pieces if len(p[0]) > length]
    if not usable:
        raise TrainingError(f"no training piece is longer than {length} steps; use a shorter seq_len")
    sizes = np.array([len(p[0]) - length for p in usable], np.float64)
    chosen = rng.choice(len(usable), size=count, p=sizes / sizes.sum())
    inputs, targets = [], []
    for index in chosen:
        piece = usable[index]
        start = int(rng.integers(0, len(piece[0]) - length + 1))
        x, y = _window(piece, start, length, int(rng.choice(TRANSPOSE)), lookahead, start_token)
        inputs.append(x)
        targets.append(y)
    return np.stack(inputs), np.stack(targets)


def validation_windows(pieces, length: int, lookahead: int, start_token: int):
    """Every validation piece cut into whole windows, untransposed."""
    inputs, targets = [], []
    for piece in pieces:
        for start in range(0, len(piece[0]) - length + 1, length):
            x, y = _window(piece, start, length, 0, lookahead, start_token)
            inputs.append(x)
            targets.append(y)
    if not inputs:
        raise TrainingError(f"no validation piece is {length} steps long; use a shorter seq_len")
    return np.stack(inputs), np.stack(targets)


def build(arch: acc.AccompanyArchitecture, dropout: float = DROPOUT):
    import keras

    columns = arch.lookahead + 3
    tokens = keras.Input(shape=(None, columns), dtype="int32", name="steps")
    player = keras.layers.Embedding(acc.PLAYER_TOKENS, arch.player_dim, name="player_embedding")
    parts = [player(tokens[..., k]) for k in range(arch.lookahead + 1)]
    parts.append(keras.layers.Embedding(arch.vocab_size + 1, arch.ours_dim, name="ours_embedding")(tokens[..., -2]))
    parts.append(keras.layers.Embedding(acc.POSITIONS, arch.position_dim, name="position_embedding")(tokens[..., -1]))
    x = keras.layers.Concatenate()(parts)
    for i, units in enumerate(arch.lstm_units):
        x = keras.layers.LSTM(units, return_sequences=True, name=f"lstm{i}")(x)
        x = keras.layers.Dropout(dropout)(x)
    logits = keras.layers.Dense(arch.vocab_size, name="output")(x)
    return keras.Model(tokens, logits)


def export_weights(net, arch: acc.AccompanyArchitecture) -> dict[str, np.ndarray]:
    """The Keras network's weights under the NumPy runtime's names."""
    weights = {name: net.get_layer(name).get_weights()[0] for name in ("player_embedding", "ours_embedding")}
    weights["position_embedding"] = net.get_layer("position_embedding").get_weights()[0]
    for i in range(len(arch.lstm_units)):
        kernel, recurrent, bias = net.get_layer(f"lstm{i}").get_weights()
        weights.update({f"lstm{i}_kernel": kernel, f"lstm{i}_recurrent": recurrent, f"lstm{i}_bias": bias})
    kernel, bias = net.get_layer("output").get_weights()
    weights.update({"output_kernel": kernel, "output_bias": bias})
    return weights


def train_accompaniment(data_dir: Path, out_dir: Path, settings: TrainSettings) -> AccompanyInfo:
    """Train on a pairs folder and write the model folder; TrainingError says what is wrong."""
    import keras
    import tensorflow as tf

    from neuraltunes_live.training.loop import Loop

    if settings.preset not in LOOKAHEAD:
        raise TrainingError(
            f"{data_dir} holds melody and accompaniment pairs: train it with --preset accompany (or accompany-ahead)"
        )
    manifest = read_pairs_manifest(data_dir)
    train_split, valid_split = read_pair_split(data_dir, "train"), read_pair_split(data_dir, "validation")
    if not len(train_split) or not len(valid_split):
        raise TrainingError(f"{data_dir}: training and validation pieces are both needed")
    events = [
        acc.accompaniment_events(a, -(-int((a[:, 0] + a[:, 2]).max()) // acc.STEP_TICKS), p)
        for p, a in zip(train_split.player, train_split.accompaniment)
    ]
    shapes = acc.common_shapes(events, SHAPES)
    arch = acc.AccompanyArchitecture(shapes=shapes, lookahead=LOOKAHEAD[settings.preset])
    start_token = arch.vocab_size
    train_pieces, valid_pieces = encoded(train_split, shapes), encoded(valid_split, shapes)
    length = settings.seq_len
    valid_x, valid_y = validation_windows(valid_pieces, length, arch.lookahead, start_token)
    steps_in_train = sum(len(p[0]) for p in train_pieces)
    windows = max(settings.batch_size, -(-steps_in_train // length) * 2)  # about twice over, in steps
    steps = windows // settings.batch_size

    keras.utils.set_random_seed(settings.random_seed)
    strategy = tf.distribute.get_strategy()
    net = build(arch)
    optimizer = keras.optimizers.Adam(LEARNING_RATE)
    optimizer.build(net.trainable_variables)
    loop = Loop(strategy, net, optimizer, clipnorm=1.0)
    valid = tf.data.Dataset.from_tensor_slices((valid_x, valid_y, np.ones(len(valid_x), np.float32))).batch(
        settings.batch_size
    )
    valid_steps = -(-len(valid_x) // settings.batch_size)

    history, best, best_weights = [], None, None
    started = time.perf_counter()
    for epoch in range(settings.epochs):
        rng = np.random.default_rng([settings.random_seed, epoch])
        x, y = training_windows(train_pieces, steps * settings.batch_size, length, rng, arch.lookahead, start_token)
        batches = iter(tf.data.Dataset.from_tensor_slices((x, y)).batch(settings.batch_size))
        trained = loop.train_epoch(batches, steps, settings.batch_size)
        checked = loop.evaluate(valid, valid_steps)
        history.append((trained.loss, checked.loss, checked.accuracy))
        better = best is None or checked.loss < history[best][1]
        if better:
            best, best_weights = epoch, export_weights(net, arch)
        logger.info(
            f"epoch {epoch + 1}/{settings.epochs}: loss {trained.loss:.4f}; validation loss {checked.loss:.4f}, "
            f"accuracy {checked.accuracy:.3f}" + (" (best so far)" if better else "")
        )
        if best is not None and epoch - best >= settings.patience:
            break
    assert best is not None and best_weights is not None
    info = AccompanyInfo(
        preset=settings.preset,
        about=(
            f"player {arch.player_dim}·{arch.lookahead + 1} + ours {arch.ours_dim} + position {arch.position_dim} "
            f"→ LSTM {'→'.join(str(u) for u in arch.lstm_units)} → {arch.vocab_size} tokens "
            f"(hold, silent, {len(shapes)} chord shapes × 12 basses)"
        ),
        parameters=arch.parameter_count(),
        created=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        step_ticks=acc.STEP_TICKS,
        training={
            "random_seed": settings.random_seed,
            "epochs_run": len(history),
            "epochs_asked": settings.epochs,
            "best_epoch": best + 1,
            "batch_size": settings.batch_size,
            "seq_len_steps": length,
            "windows_per_epoch": steps * settings.batch_size,
            "learning_rate": LEARNING_RATE,
            "dropout": DROPOUT,
            "patience": settings.patience,
            "transpose_semitones": "-6..+5",
            "seconds": round(time.perf_counter() - started, 1),
            "hardware": hardware(),
            "history": [[round(a, 4), round(b, 4), round(c, 4)] for a, b, c in history],
        },
        data={
            "folder": str(data_dir),
            "sources": list(manifest.sources),
            "player": manifest.player,
            "train_pieces": len(train_split),
            "validation_pieces": len(valid_split),
        },
        metrics={"val_loss_nats_per_step": round(history[best][1], 4), "val_accuracy": round(history[best][2], 4)},
    )
    with output_errors(out_dir):
        replace_folder(out_dir, lambda folder: write_accompany_dir(folder, arch, best_weights, info))
    logger.info(f"Wrote {out_dir} (best epoch {best + 1}, validation loss {history[best][1]:.4f} nats per step)")
    return info
