"""The Keras network and its presets, and the export to the NumPy runtime.

Every preset is embedding → stacked LSTM → (dense ReLU) → logits over the
event vocabulary, described by ``model.Architecture`` so the runtime builds the
same network from the exported arrays.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import keras

from ..model import Architecture


@dataclass(frozen=True)
class Preset:
    arch: Architecture
    dropout: float
    learning_rate: float
    clipnorm: float | None
    about: str


PRESETS: dict[str, Preset] = {
    # Chosen for 2 CPU cores and an hour: a learned 64-wide embedding instead of
    # one-hot input, two 320-unit LSTMs with no ReLU bottleneck between them and
    # the output, light dropout (the corpus is small but training is short), a
    # larger step with gradient clipping so it converges within the budget.
    # 1.4 M parameters: 5.5 MB of float32.
    "default": Preset(
        arch=Architecture(embedding_dim=64, lstm_units=(320, 320)),
        dropout=0.2,
        learning_rate=2e-3,
        clipnorm=1.0,
        about="embedding 64 → LSTM 320 → LSTM 320 → logits",
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
    # For tests and trying the pipeline: trains in seconds.
    "tiny": Preset(
        arch=Architecture(embedding_dim=8, lstm_units=(16, 16)),
        dropout=0.0,
        learning_rate=1e-2,
        clipnorm=1.0,
        about="embedding 8 → LSTM 16 → LSTM 16 → logits",
    ),
}


def resolved(arch: Architecture) -> Architecture:
    """The architecture with a one-hot embedding's width filled in."""
    if arch.one_hot:
        return Architecture(arch.vocab_size, arch.lstm_units, arch.dense_units, True, arch.vocab_size)
    return arch


def build(
    arch: Architecture, *, dropout: float = 0.0, stateful_batch: int | None = None
) -> keras.Model:
    """The network as a Keras model mapping tokens ``(batch, T)`` to logits ``(batch, T, V)``.

    ``stateful_batch`` builds the same layers as a stateful model of that fixed
    batch size, for stepping one token at a time (benchmarks, parity tests).
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
    for i, units in enumerate(arch.lstm_units):
        x = keras.layers.LSTM(units, return_sequences=True, stateful=stateful, name=f"lstm{i}")(x)
        if dropout:
            x = keras.layers.Dropout(dropout, name=f"dropout{i}")(x)
    for i, units in enumerate(arch.dense_units):
        x = keras.layers.Dense(units, activation="relu", name=f"dense{i}")(x)
    # Logits; the softmax is in the loss (from_logits) and in sampling.
    outputs = keras.layers.Dense(arch.vocab_size, name="output")(x)
    return keras.Model(inputs, outputs, name="neuraltunes")


def compile_model(model: keras.Model, preset: Preset) -> None:
    model.compile(
        optimizer=keras.optimizers.Adam(preset.learning_rate, clipnorm=preset.clipnorm),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy")],
    )


def export_weights(model: keras.Model, arch: Architecture) -> dict[str, np.ndarray]:
    """The model's weights under the runtime's names (see ``Architecture.weight_shapes``)."""
    arch = resolved(arch)
    weights = {"embedding": model.get_layer("embedding").get_weights()[0]}
    for i in range(len(arch.lstm_units)):
        kernel, recurrent, bias = model.get_layer(f"lstm{i}").get_weights()
        weights.update({f"lstm{i}_kernel": kernel, f"lstm{i}_recurrent": recurrent, f"lstm{i}_bias": bias})
    for i in range(len(arch.dense_units)):
        kernel, bias = model.get_layer(f"dense{i}").get_weights()
        weights.update({f"dense{i}_kernel": kernel, f"dense{i}_bias": bias})
    kernel, bias = model.get_layer("output").get_weights()
    weights.update({"output_kernel": kernel, "output_bias": bias})
    return {name: np.asarray(value, dtype=np.float32) for name, value in weights.items()}


def load_weights(model: keras.Model, weights: dict[str, np.ndarray], arch: Architecture) -> None:
    """Set exported weights back into a Keras model of the same architecture."""
    arch = resolved(arch)
    model.get_layer("embedding").set_weights([weights["embedding"]])
    for i in range(len(arch.lstm_units)):
        model.get_layer(f"lstm{i}").set_weights(
            [weights[f"lstm{i}_kernel"], weights[f"lstm{i}_recurrent"], weights[f"lstm{i}_bias"]]
        )
    for i in range(len(arch.dense_units)):
        model.get_layer(f"dense{i}").set_weights([weights[f"dense{i}_kernel"], weights[f"dense{i}_bias"]])
    model.get_layer("output").set_weights([weights["output_kernel"], weights["output_bias"]])
