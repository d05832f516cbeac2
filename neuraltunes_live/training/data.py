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
from neuraltunes_live.data.dataset import Split, source_of

MAX_TRANSPOSE = 6  # semitones either way: every key, no octave leaps


def windows_per_epoch(split: Split, seq_len: int) -> int:
    return max(1, len(split.tokens) // seq_len)


def _pitch_bounds(windows: np.ndarray, is_pitch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Lowest and highest pitch of each window (``transposition_range``, for many at once)."""
    pitches = windows.astype(np.int32) - PITCH_BASE + MIN_PITCH
    low = np.where(is_pitch, pitches, MAX_PITCH).min(axis=1)
    high = np.where(is_pitch, pitches, MIN_PITCH).max(axis=1)
    return low, high


def start_probabilities(split: Split, seq_len: int, balance: float) -> np.ndarray | None:
    """How likely each token is to start a training window, so that sources share the windows as asked.

    A source (``dataset.source_of``: a corpus, or a folder) gets a share of
    the windows proportional to its events to the power ``balance``: 1 is
    every event alike (a big corpus gets most windows; None is returned, for
    plain uniform starts), 0.5 the square root (a corpus 100 times bigger
    gets 10 times the windows), 0 every source the same. Within a source,
    every event is alike.
    """
    if balance == 1 or len(split.tokens) < seq_len + 1:
        return None
    sources = np.array([source_of(name) for name in split.names])
    lengths = np.diff(split.offsets)
    names, which = np.unique(sources, return_inverse=True)
    sizes = np.bincount(which, weights=lengths, minlength=len(names))
    shares = sizes**balance / np.sum(sizes**balance)
    per_token = np.repeat((shares / sizes)[which], lengths)[: len(split.tokens) - seq_len]
    return per_token / per_token.sum()


def random_windows(
    tokens: np.ndarray,
    count: int,
    seq_len: int,
    rng: np.random.Generator,
    transpose: bool = True,
    starts_p: np.ndarray | None = None,
) -> np.ndarray:
    """``count`` windows of ``seq_len + 1`` tokens at random starts (drawn by ``starts_p``), maybe transposed."""
    if len(tokens) < seq_len + 1:
        tokens = np.concatenate([tokens] * (-(-(seq_len + 1) // max(1, len(tokens)))))
        starts_p = None
    if starts_p is None:
        starts = rng.integers(0, len(tokens) - seq_len, size=count)
    else:
        starts = rng.choice(len(starts_p), size=count, p=starts_p)
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
    split: Split,
    *,
    seq_len: int,
    batch_size: int,
    seed: int,
    initial_epoch: int = 0,
    balance: float = 1.0,
    part: tuple[int, int] = (0, 1),
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Endless (inputs, targets) batches; epoch ``e`` is drawn from ``(seed, e)``.

    Every batch is the same ``batch_size`` windows however training is
    spread: ``part = (i, n)`` gives the i-th of n equal slices of each batch,
    one after the other, the share of one input pipeline (a worker) of a
    distributed run. So n workers together see exactly the batches one
    worker alone would.
    """
    steps = steps_per_epoch(split, seq_len, batch_size)
    starts_p = start_probabilities(split, seq_len, balance)
    index, parts = part
    rows = batch_size // parts
    epoch = initial_epoch
    while True:
        rng = np.random.default_rng([seed, epoch])
        windows = random_windows(split.tokens, steps * batch_size, seq_len, rng, starts_p=starts_p)
        for step in range(steps):
            batch = windows[step * batch_size : (step + 1) * batch_size][index * rows : (index + 1) * rows]
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


def _per_replica(strategy: tf.distribute.Strategy, context: tf.distribute.InputContext, batches) -> tf.data.Dataset:
    """One input pipeline's share of every global batch, cut into its replicas' batches in replica order."""
    replicas = strategy.num_replicas_in_sync // context.num_input_pipelines

    def pieces() -> Iterator[tuple[np.ndarray, ...]]:
        for batch in batches(context.input_pipeline_id, context.num_input_pipelines):
            rows = len(batch[0]) // replicas
            for r in range(replicas):
                yield tuple(part[r * rows : (r + 1) * rows] for part in batch)

    first = next(iter(batches(context.input_pipeline_id, context.num_input_pipelines)))
    rows = len(first[0]) // replicas
    spec = tuple(tf.TensorSpec((rows, *part.shape[1:]), tf.as_dtype(part.dtype)) for part in first)
    return tf.data.Dataset.from_generator(pieces, output_signature=spec).prefetch(2)


def _no_autoshard(dataset: tf.data.Dataset) -> tf.data.Dataset:
    # Each pipeline already holds only its share; TensorFlow must not split it again.
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.OFF
    return dataset.with_options(options)


def training_data(
    strategy: tf.distribute.Strategy,
    split: Split,
    *,
    seq_len: int,
    batch_size: int,
    seed: int,
    initial_epoch: int = 0,
    balance: float = 1.0,
):
    """The training batches as a distributed dataset: each worker makes only its share of each batch."""
    if batch_size % strategy.num_replicas_in_sync:
        raise ValueError(f"a batch of {batch_size} does not split evenly over {strategy.num_replicas_in_sync} replicas")

    def batches(index: int, parts: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        return training_batches(
            split,
            seq_len=seq_len,
            batch_size=batch_size,
            seed=seed,
            initial_epoch=initial_epoch,
            balance=balance,
            part=(index, parts),
        )

    return strategy.distribute_datasets_from_function(
        lambda context: _no_autoshard(_per_replica(strategy, context, batches))
    )


def validation_data(strategy: tf.distribute.Strategy, split: Split, *, seq_len: int, batch_size: int):
    """The validation windows in batches of ``batch_size``, each worker its share; and how many batches.

    The last batch is filled with rows of weight 0, so every worker runs the
    same number of steps and the sums count every window once.
    """
    inputs, targets = validation_windows(split, seq_len)
    steps = -(-len(inputs) // batch_size)
    fill = steps * batch_size - len(inputs)
    weights = np.concatenate([np.ones(len(inputs), np.float32), np.zeros(fill, np.float32)])
    inputs = np.concatenate([inputs, np.repeat(inputs[:1], fill, axis=0)])
    targets = np.concatenate([targets, np.repeat(targets[:1], fill, axis=0)])

    def batches(index: int, parts: int) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        rows = batch_size // parts
        for step in range(steps):
            window = slice(step * batch_size + index * rows, step * batch_size + (index + 1) * rows)
            yield inputs[window], targets[window], weights[window]

    dataset = strategy.distribute_datasets_from_function(
        lambda context: _no_autoshard(_per_replica(strategy, context, batches))
    )
    return dataset, steps
