"""The Keras network and its presets, and the export to the NumPy runtime.

Every preset is embedding → stacked LSTM → (dense ReLU) → logits over the
event vocabulary, described by ``model.Architecture`` so the runtime builds the
same network from the exported arrays.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import keras
import numpy as np

from neuraltunes_live.core.encoding import DURATION_BASE, MAX_PITCH, MIN_PITCH, PITCH_BASE, VOCAB_SIZE
from neuraltunes_live.core.model import INTERVALS, PITCHES, REGISTER_CENTRE, REGISTER_UNIT, ROTATIONS, Architecture

_TINY = 1e-6  # as the runtime's: a profile of nothing stays zero


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


# Chosen for 2 CPU cores, an hour of training and a note in under a
# millisecond: a learned 64-wide embedding instead of one-hot input, two
# 192-unit LSTMs with no ReLU bottleneck before the output, light dropout, a
# large step with gradient clipping, decayed to 5 % by the last epoch.
# Pitches share weights by pitch class, in the embedding and the output, so
# what is learned about a key in one octave holds in all of them; and each
# pitch's logit gets the score of its interval from the last pitch, so a
# melodic step is learned once for every key. 0.59 M parameters: 2.4 MB of
# float32, read once per event. This is the `interval` preset: `default` as it
# was before the key context (the model shipped before it), kept to measure
# what the key context adds, trained the same way.
_INTERVAL = Preset(
    arch=Architecture(embedding_dim=64, lstm_units=(192, 192), relative_pitch=True),
    dropout=0.2,
    learning_rate=2e-3,
    clipnorm=1.0,
    about="embedding 64 (+ pitch class) → LSTM 192 → LSTM 192 → logits (+ pitch class, + interval from the last pitch)",
    pitch_classes=True,
    final_learning_rate=0.05,
)

PRESETS: dict[str, Preset] = {
    # `interval`, and it hears the key and register of what came before
    # (``KeyContext``): pitch-class profiles over the last few notes (decay
    # 0.7), the phrase (0.9) and the piece so far (0.98), and a decayed mean
    # pitch. 0.63 M parameters.
    "default": replace(
        _INTERVAL,
        arch=replace(_INTERVAL.arch, key_context=(0.7, 0.9, 0.98), register_decay=0.9),
        about="embedding 64 (+ pitch class) + key context → LSTM 192 → LSTM 192 → logits (+ pitch class, "
        "+ interval from the last pitch, + key)",
    ),
    "interval": _INTERVAL,
    # Exactly the layers of the earlier note-string projects: one-hot input, LSTM 256, Dropout 0.3, LSTM 256,
    # Dropout 0.3, Dense 128 ReLU, softmax; Keras's default Adam.
    "one-hot-lstm": Preset(
        arch=Architecture(embedding_dim=0, lstm_units=(256, 256), dense_units=(128,), one_hot=True),
        dropout=0.3,
        learning_rate=1e-3,
        clipnorm=None,
        about="one-hot → LSTM 256 → Dropout 0.3 → LSTM 256 → Dropout 0.3 → Dense 128 ReLU → softmax",
    ),
    # For tests and trying the pipeline: trains in seconds, the way `default` does.
    "tiny": Preset(
        arch=Architecture(embedding_dim=8, lstm_units=(16, 16), relative_pitch=True, key_context=(0.7, 0.95)),
        dropout=0.0,
        learning_rate=1e-2,
        clipnorm=1.0,
        about="embedding 8 (+ pitch class) + key context → LSTM 16 → LSTM 16 → logits "
        "(+ pitch class, + interval, + key)",
        pitch_classes=True,
        final_learning_rate=0.05,
    ),
}


def resolved(arch: Architecture) -> Architecture:
    """The architecture with a one-hot embedding's width filled in."""
    if arch.one_hot:
        return Architecture(
            arch.vocab_size,
            arch.lstm_units,
            arch.dense_units,
            True,
            arch.vocab_size,
            arch.relative_pitch,
            arch.key_context,
            arch.register_decay,
        )
    return arch


def _last_pitch_at(tokens):
    """For each position of ``tokens`` (batch, T): where the last pitch at or before it is (−1: none).

    A max over the earlier positions ((T, T) mask; T is a training window).
    """
    ops = keras.ops
    positions = ops.arange(ops.shape(tokens)[1], dtype="int32")
    is_pitch = ops.logical_and(tokens >= PITCH_BASE, tokens < DURATION_BASE)
    at = ops.where(is_pitch, positions[None, :], -1)  # (batch, T)
    earlier = positions[None, :] <= positions[:, None]
    return ops.max(ops.where(earlier[None, :, :], at[:, None, :], -1), axis=-1)


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
        at = _last_pitch_at(tokens)
        last = ops.take_along_axis(tokens, ops.maximum(at, 0), axis=1) - PITCH_BASE
        last = ops.where(at >= 0, last, 0)  # any in-range value; masked below
        where = (PITCHES - 1 - last)[..., None] + ops.arange(PITCHES, dtype="int32")
        added = ops.take_along_axis(scores, where, axis=-1)
        added = ops.where((at >= 0)[..., None], added, ops.zeros_like(added))
        return ops.pad(added, [[0, 0], [0, 0], [PITCH_BASE, VOCAB_SIZE - DURATION_BASE]])


@keras.saving.register_keras_serializable(package="neuraltunes")
class KeyContext(keras.layers.Layer):
    """The key context of every position of a token window, as ``model.KeyContext`` keeps it.

    Returns ``[features, profiles]``: what the first LSTM reads (``(batch,
    T, 12·decays + 2)``, as ``model.KeyContext.features``) and the normalised
    pitch-class profiles ``(batch, T, decays, 12)`` for ``KeyScores``. A note
    weighs ``decay ** (notes played since)``, written here as one (T, T)
    weight matrix per decay; the runtime multiplies its counts note by note.
    Within one call only, as the LSTM's state is.
    """

    def __init__(self, decays=(), register_decay=0.9, **kwargs):
        super().__init__(**kwargs)
        self.decays = tuple(float(d) for d in decays)
        self.register_decay = float(register_decay)

    def get_config(self):
        return {**super().get_config(), "decays": list(self.decays), "register_decay": self.register_decay}

    def call(self, tokens):
        ops = keras.ops
        tokens = ops.cast(tokens, "int32")
        is_pitch = ops.logical_and(tokens >= PITCH_BASE, tokens < DURATION_BASE)
        pitched = ops.cast(is_pitch, "float32")
        pitch = ops.where(is_pitch, tokens - PITCH_BASE, 0)
        onehot = ops.one_hot((pitch + MIN_PITCH) % 12, 12) * pitched[..., None]  # (batch, T, 12)
        count = ops.cumsum(pitched, axis=1)
        positions = ops.arange(ops.shape(tokens)[1], dtype="int32")
        earlier = (positions[None, :] <= positions[:, None])[None]  # [t, s]: s at or before t
        since = ops.where(earlier, count[:, :, None] - count[:, None, :], 0.0)  # notes played after s, up to t

        def weights(decay: float):
            return ops.where(earlier, ops.exp(since * math.log(decay)), 0.0) * pitched[:, None, :]

        profiles = ops.stack([ops.matmul(weights(d), onehot) for d in self.decays], axis=2)
        profiles = profiles / ops.maximum(ops.sum(profiles, axis=-1, keepdims=True), _TINY)

        w = weights(self.register_decay)
        total = ops.sum(w, axis=-1)
        midi = ops.cast(pitch + MIN_PITCH, "float32")
        heard = total > 0
        mean = ops.where(heard, ops.sum(w * midi[:, None, :], axis=-1) / ops.maximum(total, _TINY), REGISTER_CENTRE)

        at = _last_pitch_at(tokens)
        last = ops.where(at >= 0, ops.take_along_axis(pitch, ops.maximum(at, 0), axis=1), 0)
        turn = (last + MIN_PITCH) % 12
        order = (turn[..., None] + ops.arange(12, dtype="int32")) % 12  # (batch, T, 12)
        turned = ops.take_along_axis(profiles, ops.repeat(order[:, :, None, :], len(self.decays), axis=2), axis=-1)
        last_midi = ops.cast(last + MIN_PITCH, "float32")
        from_last = ops.where(heard, (last_midi - mean) / REGISTER_UNIT, 0.0)
        from_centre = ops.where(heard, (mean - REGISTER_CENTRE) / REGISTER_UNIT, 0.0)
        register = ops.stack([from_last, from_centre], axis=-1)
        flat = ops.reshape(turned, (ops.shape(turned)[0], ops.shape(turned)[1], 12 * len(self.decays)))
        return [ops.concatenate([flat, register], axis=-1), profiles]


@keras.saving.register_keras_serializable(package="neuraltunes")
class KeyScores(keras.layers.Layer):
    """Scores of every pitch against the key context, added to the pitch logits.

    Takes ``[features, profiles]``; per position, weights (decays, 12) come from
    the features, and pitch class ``c`` scores ``Σ_k Σ_j w[k, j] · profile[k, (c + j) % 12]``
    (``model.key_scores``): the same weights from every candidate class, so
    what it learns of one key holds in all twelve.
    """

    def build(self, input_shape):
        width, decays = input_shape[0][-1], input_shape[1][-2]
        self.kernel = self.add_weight(shape=(width, 12 * decays), initializer="zeros", name="kernel")
        self.bias = self.add_weight(shape=(12 * decays,), initializer="zeros", name="bias")

    def call(self, inputs):
        ops = keras.ops
        features, profiles = inputs
        weights = ops.matmul(features, self.kernel) + self.bias
        weights = ops.reshape(weights, ops.shape(profiles))
        turned = ops.take(profiles, ROTATIONS, axis=-1)  # (batch, T, decays, 12 classes, 12 shifts)
        by_class = ops.einsum("btkcj,btkj->btc", turned, weights)
        by_class = ops.pad(by_class, [[0, 0], [0, 0], [1, 0]])  # column 0: not a pitch
        return ops.take(by_class, pitch_class_index(), axis=-1)


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
    if arch.key_context:
        context, profiles = KeyContext(arch.key_context, arch.register_decay, name="key_context")(inputs)
        x = keras.layers.Concatenate(name="with_context")([x, context])
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
    if arch.key_context:
        outputs = keras.layers.Add(name="key_sum")([outputs, KeyScores(name="key")([x, profiles])])
    return keras.Model(inputs, outputs, name="neuraltunes")


def optimizer_for(preset: Preset, total_steps: int | None = None) -> keras.optimizers.Optimizer:
    """The preset's Adam; ``total_steps`` is what the learning rate decays over.

    It clips nothing itself: ``loop.Loop`` clips with ``preset.clipnorm``
    after the replicas' gradients are summed.
    """
    rate = preset.learning_rate
    if preset.final_learning_rate is not None and total_steps:
        rate = keras.optimizers.schedules.CosineDecay(rate, total_steps, alpha=preset.final_learning_rate)
    return keras.optimizers.Adam(rate)


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
    if arch.key_context:
        kernel, bias = model.get_layer("key").get_weights()
        weights.update({"key_kernel": kernel, "key_bias": bias})
    return {name: np.asarray(value, dtype=np.float32) for name, value in weights.items()}


def grown_weights(weights: dict[str, np.ndarray], arch: Architecture) -> dict[str, np.ndarray]:
    """Weights of a trained network without a key context, grown to ``arch``, which has one.

    The new rows of the first LSTM's kernel and the key scores start at zero,
    so the grown network computes what the trained one did, and training goes
    on from there (``train --init``).
    """
    shapes = arch.weight_shapes()
    grown = {}
    for name, shape in shapes.items():
        if name in weights and weights[name].shape == shape:
            grown[name] = weights[name]
        elif (
            name == "lstm0_kernel"
            and name in weights
            and weights[name].shape[1:] == shape[1:]
            and weights[name].shape[0] < shape[0]
        ):
            extra = np.zeros((shape[0] - weights[name].shape[0], shape[1]), np.float32)
            grown[name] = np.vstack([weights[name], extra])
        elif name.startswith("key_") and name not in weights:
            grown[name] = np.zeros(shape, np.float32)
        else:
            found = weights[name].shape if name in weights else "missing"
            raise ValueError(f"cannot start from these weights: {name} is {found}, needs {shape}")
    return grown


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
    if arch.key_context:
        model.get_layer("key").set_weights([weights["key_kernel"], weights["key_bias"]])
