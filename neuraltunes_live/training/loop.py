"""The training loop: one custom step for one CPU, one machine's devices (mirrored) and many machines.

Keras 3's ``fit`` cannot run under ``MultiWorkerMirroredStrategy``
(keras-team/keras#20585), so training steps are our own: ``strategy.run``
over a ``tf.GradientTape`` step. Each replica computes the loss of its share
of the global batch, scaled with ``tf.nn.compute_average_loss`` so that the
shares add up to the global batch's mean; the gradients are summed over every
replica (collective all-reduce across workers), clipped as Keras's
``clipnorm`` clips (each gradient on its own), and applied by Adam. Losses
and accuracies are summed over replicas with ``strategy.reduce``, so every
figure is the global batch's, whatever the number of workers.

The same code runs with one replica (``tf.distribute.get_strategy()``): the
strategy only decides where the shares are computed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import keras
import tensorflow as tf


@dataclass(frozen=True)
class Figures:
    """One epoch's figures: mean loss in nats per event and next-event accuracy."""

    loss: float
    accuracy: float


class Loop:
    """The compiled steps of one network under one strategy."""

    def __init__(self, strategy: tf.distribute.Strategy, net: keras.Model, optimizer: Any, clipnorm: float | None):
        """``net`` and ``optimizer`` must have been made under ``strategy.scope()``.

        ``optimizer`` is Adam without clipping of its own: ``clipnorm`` is
        applied here, after the replicas' gradients are summed, as one worker
        training the whole batch would clip them.
        """
        self.strategy = strategy
        self.net = net
        self.optimizer = optimizer
        self.clipnorm = clipnorm
        self._train = tf.function(self._train_step)
        self._evaluate = tf.function(self._evaluate_step)

    def _train_step(self, iterator: Any, global_batch: int) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
        def step(inputs: tf.Tensor, targets: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
            with tf.GradientTape() as tape:
                logits = self.net(inputs, training=True)
                per_event = keras.losses.sparse_categorical_crossentropy(targets, logits, from_logits=True)
                per_window = tf.reduce_mean(per_event, axis=-1)
                loss = tf.nn.compute_average_loss(per_window, global_batch_size=global_batch)
            variables = self.net.trainable_variables
            # Dense: the embedding's gradient comes as IndexedSlices, which clip and scale differently.
            grads = [tf.convert_to_tensor(g) for g in tape.gradient(loss, variables)]
            context = tf.distribute.get_replica_context()
            grads = context.all_reduce(tf.distribute.ReduceOp.SUM, grads)  # the global batch's gradient
            if self.clipnorm is not None:
                grads = [tf.clip_by_norm(g, self.clipnorm) for g in grads]
            # Keras's optimizer sums the replicas' gradients once more as it
            # applies them: hand each replica its share of the summed one.
            share = 1.0 / self.strategy.num_replicas_in_sync
            self.optimizer.apply_gradients(zip([g * share for g in grads], variables))
            predicted = tf.argmax(logits, axis=-1, output_type=tf.int32)
            correct = tf.reduce_sum(tf.cast(tf.equal(predicted, targets), tf.float32))
            events = tf.cast(tf.size(targets), tf.float32)
            return loss, correct, events

        inputs, targets = next(iterator)
        loss, correct, events = self.strategy.run(step, args=(inputs, targets))
        total = self.strategy.reduce
        sum_ = tf.distribute.ReduceOp.SUM
        return total(sum_, loss, axis=None), total(sum_, correct, axis=None), total(sum_, events, axis=None)

    def _evaluate_step(self, iterator: Any) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
        def step(inputs: tf.Tensor, targets: tf.Tensor, weights: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
            logits = self.net(inputs, training=False)
            per_event = keras.losses.sparse_categorical_crossentropy(targets, logits, from_logits=True)
            predicted = tf.argmax(logits, axis=-1, output_type=tf.int32)
            correct = tf.cast(tf.equal(predicted, targets), tf.float32)
            rows = weights[:, None] * tf.ones_like(per_event)
            return tf.reduce_sum(per_event * rows), tf.reduce_sum(correct * rows), tf.reduce_sum(rows)

        inputs, targets, weights = next(iterator)
        nats, correct, events = self.strategy.run(step, args=(inputs, targets, weights))
        total = self.strategy.reduce
        sum_ = tf.distribute.ReduceOp.SUM
        return total(sum_, nats, axis=None), total(sum_, correct, axis=None), total(sum_, events, axis=None)

    def train_epoch(self, iterator: Any, steps: int, global_batch: int) -> Figures:
        """``steps`` updates from ``iterator`` (a distributed dataset's); the epoch's mean figures."""
        loss = correct = events = 0.0
        for _ in range(steps):
            step_loss, step_correct, step_events = self._train(iterator, global_batch)
            loss += float(step_loss)
            correct += float(step_correct)
            events += float(step_events)
        return Figures(loss / max(steps, 1), correct / max(events, 1.0))

    def evaluate(self, dataset: Any, steps: int) -> Figures:
        """The figures over every window of ``dataset`` (weighted rows; the filling ones weigh 0)."""
        iterator = iter(dataset)
        nats = correct = events = 0.0
        for _ in range(steps):
            step_nats, step_correct, step_events = self._evaluate(iterator)
            nats += float(step_nats)
            correct += float(step_correct)
            events += float(step_events)
        return Figures(nats / max(events, 1.0), correct / max(events, 1.0))
