"""Training windows from a prepared data folder, as ``tf.data`` pipelines.

A split's pieces are laid end to end (each starts with BOS and ends with EOS,
so the model sees where pieces begin and end) and cut into windows of
``seq_len + 1`` tokens: the input is the first ``seq_len``, the target the
same shifted by one. Training windows start at random places and are moved by
a random number of semitones within what keeps every pitch in range; the
random numbers come from ``(seed, epoch)``, so a resumed run sees the same
windows it would have seen. Validation windows are fixed, untransposed and
cover the split once.
"""

from __future__ import annotations

from typing import Iterator

import numpy as np
import tensorflow as tf

from neuraltunes_live.core.encoding import MAX_PITCH, MIN_PITCH, PITCH_BASE, pitch_tokens
from neuraltunes_live.data.dataset import Split

MAX_TRANSPOSE = 6  # semitones either way: every key, no octave leaps


def windows_per_epoch(split: Split, seq_len: int) -> int:
    return max(1, len(split.tokens) // seq_len)


def _pitch_bounds(windows: np.ndarray, is_pitch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Lowest and highest pitch of each window (``transposition_range``, for many at once)."""
    pitches = windows.astype(np.int32) - PITCH_BASE + MIN_PITCH
    low = np.where(is_pitch, pitches, MAX_PITCH).min(axis=1)
    high = np.where(is_pitch, pitches, MIN_PITCH).max(axis=1)
    return low, high


def random_windows(
    tokens: np.ndarray, count: int, seq_len: int, rng: np.random.Generator, transpose: bool = True
) -> np.ndarray:
    """``count`` windows of ``seq_len + 1`` tokens at random starts, maybe transposed."""
    if len(tokens) < seq_len + 1:
        tokens = np.concatenate([tokens] * (-(-(seq_len + 1) // max(1, len(tokens)))))
    starts = rng.integers(0, len(tokens) - seq_len, size=count)
    windows = tokens[starts[:, None] + np.arange(seq_len + 1)].astype(np.int32)
    if transpose:
        is_pitch = pitch_tokens(windows)
        low, high = _pitch_bounds(windows, is_pitch)
        down = np.maximum(-MAX_TRANSPOSE, MIN_PITCH - low)
        up = np.minimum(MAX_TRANSPOSE - 1, MAX_PITCH - high)
        shift = np.where(up >= down, down + (rng.random(count) * (up - down + 1)).astype(np.int32), 0)
        windows = windows + is_pitch * shift[:, None]
    return windows


def training_batches(
    split: Split, *, seq_len: int, batch_size: int, seed: int, initial_epoch: int = 0
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Endless (inputs, targets) batches; epoch ``e`` is drawn from ``(seed, e)``."""
    steps = steps_per_epoch(split, seq_len, batch_size)
    epoch = initial_epoch
    while True:
        rng = np.random.default_rng([seed, epoch])
        windows = random_windows(split.tokens, steps * batch_size, seq_len, rng)
        for step in range(steps):
            batch = windows[step * batch_size : (step + 1) * batch_size]
            yield batch[:, :-1], batch[:, 1:]
        epoch += 1


def steps_per_epoch(split: Split, seq_len: int, batch_size: int) -> int:
    return max(1, windows_per_epoch(split, seq_len) // batch_size)


def validation_windows(split: Split, seq_len: int) -> tuple[np.ndarray, np.ndarray]:
    """The split cut into consecutive windows (the tail that does not fill one is left out)."""
    tokens = split.tokens.astype(np.int32)
    count = max(1, (len(tokens) - 1) // seq_len)
    if len(tokens) < seq_len + 1:
        tokens = np.concatenate([tokens, np.full(seq_len + 1 - len(tokens), tokens[-1], np.int32)])
    starts = np.arange(count) * seq_len
    windows = tokens[starts[:, None] + np.arange(seq_len + 1)]
    return windows[:, :-1], windows[:, 1:]


def _sharded(dataset: tf.data.Dataset) -> tf.data.Dataset:
    # Across workers, split the stream by batch (there are no files to split by).
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return dataset.with_options(options)


def training_dataset(
    split: Split, *, seq_len: int, batch_size: int, seed: int, initial_epoch: int = 0
) -> tf.data.Dataset:
    spec = tf.TensorSpec(shape=(batch_size, seq_len), dtype=tf.int32)
    dataset = tf.data.Dataset.from_generator(
        lambda: training_batches(split, seq_len=seq_len, batch_size=batch_size, seed=seed, initial_epoch=initial_epoch),
        output_signature=(spec, spec),
    )
    return _sharded(dataset.prefetch(2))


def validation_dataset(split: Split, *, seq_len: int, batch_size: int) -> tf.data.Dataset:
    inputs, targets = validation_windows(split, seq_len)
    return _sharded(tf.data.Dataset.from_tensor_slices((inputs, targets)).batch(batch_size))
