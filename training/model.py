"""The Keras network and its presets, and the export to the NumPy runtime.

Every preset is embedding → stacked LSTM → (dense ReLU) → logits over the
event vocabulary, described by ``model.Architecture`` so the runtime builds the
same network from the exported arrays.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import keras

from ..encoding import DURATION_BASE, MAX_PITCH, MIN_PITCH, PITCH_BASE, VOCAB_SIZE
from ..model import INTERVALS, PITCHES, Architecture


@dataclass(frozen=True)
class Preset:
    arch: Architecture
    dropout: float
    learning_rate: float
    clipnorm: float | None
    about: str
    #: Share weights between pitches of one pitch class (see ``build``); folded
    #: into the plain layers on export, so the runtime never knows.
    pitch_classes: bool = False
    #: Cosine decay of the learning rate over the epochs asked for, down to this
    #: share of it; None keeps it constant.
    final_learning_rate: float | None = None


PRESETS: dict[str, Preset] = {
    # Chosen for 2 CPU cores, an hour of training and a note in under a
    # millisecond: a learned 64-wide embedding instead of one-hot input, two
    # 192-unit LSTMs with no ReLU bottleneck before the output, light dropout,
    # a large step with gradient clipping, decayed to 5 % by the last epoch.
    # Pitches share weights by pitch class, in the embedding and the output, so
    # what is learned about a key in one octave holds in all of them; and each
    # pitch's logit gets the score of its interval from the last pitch, so a
    # melodic step is learned once for every key.
    # 0.59 M parameters: 2.4 MB of float32, read once per event.
    "default": Preset(
        arch=Architecture(embedding_dim=64, lstm_units=(192, 192), relative_pitch=True),
        dropout=0.2,
        learning_rate=2e-3,
        clipnorm=1.0,
        about="embedding 64 (+ pitch class) → LSTM 192 → LSTM 192 → logits (+ pitch class, + interval from the last pitch)",
        pitch_classes=True,
        final_learning_rate=0.05,
    ),
    # Exactly the seeds' layers: one-hot input, LSTM 256, Dropout 0.3, LSTM 256,
    # Dropout 0.3, Dense 128 ReLU, softmax; Keras's default Adam.
    "seed": Preset(
        arch=Architecture(embedding_dim=0, lstm_units=(256, 256), dense_units=(128,), one_hot=True),
        dropout=0.3,
        learning_rate=1e-3,
        clipnorm=None,
        about="one-hot → LSTM 256 → Dropout 0.3 → LSTM 256 → Dropout 0.3 → Dense 128 ReLU → softmax",
    ),
    # For tests and trying the pipeline: trains in seconds, the way `default` does.
    "tiny": Preset(
        arch=Architecture(embedding_dim=8, lstm_units=(16, 16), relative_pitch=True),
        dropout=0.0,
        learning_rate=1e-2,
        clipnorm=1.0,
        about="embedding 8 (+ pitch class) → LSTM 16 → LSTM 16 → logits (+ pitch class, + interval)",
        pitch_classes=True,
        final_learning_rate=0.05,
    ),
}


def resolved(arch: Architecture) -> Architecture:
    """The architecture with a one-hot embedding's width filled in."""
    if arch.one_hot:
        return Architecture(arch.vocab_size, arch.lstm_units, arch.dense_units, True, arch.vocab_size, arch.relative_pitch)
    return arch


@keras.saving.register_keras_serializable(package="neuraltunes")
class RelativePitch(keras.layers.Layer):
    """Interval scores from the last pitch, added to the pitch logits.

    Takes ``[features, tokens]``: scores every interval −87..+87 from the
    features, finds the last pitch among the tokens at or before each position,
    and returns logits over the vocabulary holding, for each pitch, the score
    of the interval that leads to it (zero elsewhere, and before any pitch).
    The runtime does the same in ``LSTMModel._head``. Within one call only: a
    stateful model stepped one token at a time sees just the token it is given.
    """

    def build(self, input_shape):
        width = input_shape[0][-1]
        self.kernel = self.add_weight(shape=(width, INTERVALS), initializer="glorot_uniform", name="kernel")
        self.bias = self.add_weight(shape=(INTERVALS,), initializer="zeros", name="bias")

    def call(self, inputs):
        ops = keras.ops
        features, tokens = inputs
        tokens = ops.cast(tokens, "int32")
        scores = ops.matmul(features, self.kernel) + self.bias  # (batch, T, INTERVALS)
        positions = ops.arange(ops.shape(tokens)[1], dtype="int32")
        is_pitch = ops.logical_and(tokens >= PITCH_BASE, tokens < DURATION_BASE)
        at = ops.where(is_pitch, positions[None, :], -1)  # (batch, T)
        # The latest pitch position at or before each position: a max over
        # the earlier positions ((T, T) mask; T is a training window).
        earlier = positions[None, :] <= positions[:, None]
        at = ops.max(ops.where(earlier[None, :, :], at[:, None, :], -1), axis=-1)
        last = ops.take_along_axis(tokens, ops.maximum(at, 0), axis=1) - PITCH_BASE
        last = ops.where(at >= 0, last, 0)  # any in-range value; masked below
        where = (PITCHES - 1 - last)[..., None] + ops.arange(PITCHES, dtype="int32")
        added = ops.take_along_axis(scores, where, axis=-1)
        added = ops.where((at >= 0)[..., None], added, ops.zeros_like(added))
        return ops.pad(added, [[0, 0], [0, 0], [PITCH_BASE, VOCAB_SIZE - DURATION_BASE]])


def pitch_class_index() -> np.ndarray:
    """For every token: 1 + its pitch class if it is a pitch, else 0."""
    index = np.zeros(VOCAB_SIZE, np.int32)
    index[PITCH_BASE:DURATION_BASE] = 1 + np.arange(MIN_PITCH, MAX_PITCH + 1) % 12
    return index


def build(
    arch: Architecture,
    *,
    dropout: float = 0.0,
    stateful_batch: int | None = None,
    pitch_classes: bool = False,
) -> keras.Model:
    """The network as a Keras model mapping tokens ``(batch, T)`` to logits ``(batch, T, V)``.

    ``stateful_batch`` builds the same layers as a stateful model of that fixed
    batch size, for stepping one token at a time (benchmarks, parity tests).

    ``pitch_classes`` adds two layers that share weights across octaves: a
    13-row embedding (none, C, C#, …, B) added to each token's own, and a
    13-column output added to each token's logit. Both are linear in what the
    plain layers compute, so ``export_weights`` folds them into the plain
    embedding and output and the runtime's network is the same as without.
    """
    arch = resolved(arch)
    stateful = stateful_batch is not None
    inputs = keras.Input(shape=(None,), batch_size=stateful_batch, dtype="int32", name="tokens")
    embedding = keras.layers.Embedding(
        arch.vocab_size,
        arch.embedding_dim,
        embeddings_initializer="identity" if arch.one_hot else "uniform",
        trainable=not arch.one_hot,
        name="embedding",
    )
    x = embedding(inputs)
    index = pitch_class_index()
    if pitch_classes:
        classes = keras.ops.take(index, inputs)
        shared = keras.layers.Embedding(13, arch.embedding_dim, name="pc_embedding")(classes)
        x = keras.layers.Add(name="embedding_sum")([x, shared])
    for i, units in enumerate(arch.lstm_units):
        x = keras.layers.LSTM(units, return_sequences=True, stateful=stateful, name=f"lstm{i}")(x)
        if dropout:
            x = keras.layers.Dropout(dropout, name=f"dropout{i}")(x)
    for i, units in enumerate(arch.dense_units):
        x = keras.layers.Dense(units, activation="relu", name=f"dense{i}")(x)
    # Logits; the softmax is in the loss (from_logits) and in sampling.
    outputs = keras.layers.Dense(arch.vocab_size, name="output")(x)
    if arch.relative_pitch:
        outputs = keras.layers.Add(name="relative_sum")([outputs, RelativePitch(name="relative")([x, inputs])])
    if pitch_classes:
        shared = keras.layers.Dense(13, use_bias=False, name="pc_output")(x)
        outputs = keras.layers.Add(name="output_sum")([outputs, keras.ops.take(shared, index, axis=-1)])
    return keras.Model(inputs, outputs, name="neuraltunes")


def compile_model(model: keras.Model, preset: Preset, total_steps: int | None = None) -> None:
    """Adam and cross-entropy; ``total_steps`` is what the learning rate decays over."""
    rate = preset.learning_rate
    if preset.final_learning_rate is not None and total_steps:
        rate = keras.optimizers.schedules.CosineDecay(rate, total_steps, alpha=preset.final_learning_rate)
    model.compile(
        optimizer=keras.optimizers.Adam(rate, clipnorm=preset.clipnorm),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy")],
    )


def export_weights(model: keras.Model, arch: Architecture) -> dict[str, np.ndarray]:
    """The model's weights under the runtime's names (see ``Architecture.weight_shapes``)."""
    arch = resolved(arch)
    names = {layer.name for layer in model.layers}
    index = pitch_class_index()
    weights = {"embedding": model.get_layer("embedding").get_weights()[0]}
    if "pc_embedding" in names:
        weights["embedding"] = weights["embedding"] + model.get_layer("pc_embedding").get_weights()[0][index]
    for i in range(len(arch.lstm_units)):
        kernel, recurrent, bias = model.get_layer(f"lstm{i}").get_weights()
        weights.update({f"lstm{i}_kernel": kernel, f"lstm{i}_recurrent": recurrent, f"lstm{i}_bias": bias})
    for i in range(len(arch.dense_units)):
        kernel, bias = model.get_layer(f"dense{i}").get_weights()
        weights.update({f"dense{i}_kernel": kernel, f"dense{i}_bias": bias})
    kernel, bias = model.get_layer("output").get_weights()
    if "pc_output" in names:
        kernel = kernel + model.get_layer("pc_output").get_weights()[0][:, index]
    weights.update({"output_kernel": kernel, "output_bias": bias})
    if arch.relative_pitch:
        kernel, bias = model.get_layer("relative").get_weights()
        weights.update({"relative_kernel": kernel, "relative_bias": bias})
    return {name: np.asarray(value, dtype=np.float32) for name, value in weights.items()}


def load_weights(model: keras.Model, weights: dict[str, np.ndarray], arch: Architecture) -> None:
    """Set exported weights back into a Keras model of the same architecture.

    Shared pitch-class layers, if the model has them, are set to zero: the
    exported arrays already hold them.
    """
    arch = resolved(arch)
    for name in ("pc_embedding", "pc_output"):
        if name in {layer.name for layer in model.layers}:
            layer = model.get_layer(name)
            layer.set_weights([np.zeros_like(w) for w in layer.get_weights()])
    model.get_layer("embedding").set_weights([weights["embedding"]])
    for i in range(len(arch.lstm_units)):
        model.get_layer(f"lstm{i}").set_weights(
            [weights[f"lstm{i}_kernel"], weights[f"lstm{i}_recurrent"], weights[f"lstm{i}_bias"]]
        )
    for i in range(len(arch.dense_units)):
        model.get_layer(f"dense{i}").set_weights([weights[f"dense{i}_kernel"], weights[f"dense{i}_bias"]])
    model.get_layer("output").set_weights([weights["output_kernel"], weights["output_bias"]])
    if arch.relative_pitch:
        model.get_layer("relative").set_weights([weights["relative_kernel"], weights["relative_bias"]])
