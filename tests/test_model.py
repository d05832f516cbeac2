"""The NumPy runtime: loading model folders safely, priming and stepping."""

import json
import subprocess
import sys

import numpy as np
import pytest

from neuraltunes_live.core.encoding import DURATION_BASE, MAX_PITCH, MIN_PITCH, PITCH_BASE, VOCAB_SIZE
from neuraltunes_live.core.model import Architecture, KeyContext, LSTMModel, key_contexts, key_scores
from neuraltunes_live.core.model_files import CONFIG_FILE, WEIGHTS_FILE, ModelInfo, load_model, write_model_dir
from neuraltunes_live.errors import ModelError

from .conftest import random_weights
from .floats import assert_close

ARCH = Architecture(embedding_dim=8, lstm_units=(16, 12), dense_units=(10,), relative_pitch=True)
KEYED = Architecture(
    embedding_dim=8, lstm_units=(16, 12), relative_pitch=True, key_context=(0.6, 0.95), register_decay=0.8
)


@pytest.fixture(params=[ARCH, KEYED], ids=["plain", "key-context"])
def model_dir(tmp_path, request):
    folder = tmp_path / "m"
    folder.mkdir()
    write_model_dir(folder, request.param, random_weights(request.param, scale=0.5), ModelInfo(preset="test"))
    return folder


def test_loaded_model_keeps_architecture_and_info(model_dir):
    model = load_model(model_dir)
    assert model.arch in (ARCH, KEYED)
    assert Architecture.from_json(model.arch.to_json()) == model.arch
    assert model.info.preset == "test"
    assert model.vocab_size == VOCAB_SIZE


def test_step_by_step_equals_one_pass(model_dir):
    model = load_model(model_dir)
    tokens = np.random.default_rng(1).integers(0, VOCAB_SIZE, 40)
    all_logits, state = model.prime(tokens)
    stepped_state = model.initial_state()
    for t, token in enumerate(tokens):
        logits, stepped_state = model.step(int(token), stepped_state)
        assert_close(logits, all_logits[t])
    for (h1, c1), (h2, c2) in zip(state.layers, stepped_state.layers):
        assert_close(h1, h2)
        assert_close(c1, c2)
    assert state.last_pitch == stepped_state.last_pitch


def test_priming_in_two_parts_carries_state(model_dir):
    model = load_model(model_dir)
    tokens = np.random.default_rng(2).integers(0, VOCAB_SIZE, 30)
    whole, _ = model.prime(tokens)
    first, state = model.prime(tokens[:12])
    second, _ = model.prime(tokens[12:], state)
    assert_close(np.concatenate([first, second]), whole)


def test_batched_prime_equals_each_sequence(model_dir):
    model = load_model(model_dir)
    tokens = np.random.default_rng(3).integers(0, VOCAB_SIZE, (3, 20))
    batched, _ = model.prime(tokens)
    for row in range(3):
        single, _ = model.prime(tokens[row])
        assert_close(batched[row], single)


def test_loading_does_not_import_tensorflow(model_dir):
    code = (
        "import sys\n"
        "from neuraltunes_live.core.model_files import load_model\n"
        f"m = load_model({str(model_dir)!r})\n"
        "m.step(1, m.initial_state())\n"
        "assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules, 'imported TF'\n"
        "print('ok')\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


def _break(folder, how):
    config = folder / CONFIG_FILE
    weights = folder / WEIGHTS_FILE
    if how == "missing folder":
        return folder / "nope"
    if how == "no model.json":
        config.unlink()
    elif how == "model.json not JSON":
        config.write_text("{not json")
    elif how == "not a model":
        config.write_text(json.dumps({"format": "something else"}))
    elif how == "other encoding":
        data = json.loads(config.read_text())
        data["encoding_version"] = 99
        config.write_text(json.dumps(data))
    elif how == "other vocabulary":
        data = json.loads(config.read_text())
        data["vocabulary"]["pitch"]["midi_notes"] = [0, 127]
        config.write_text(json.dumps(data))
    elif how == "no weights":
        weights.unlink()
    elif how == "truncated weights":
        weights.write_bytes(weights.read_bytes()[:300])
    elif how == "wrong shape":
        arrays = dict(np.load(weights))
        arrays["lstm0_kernel"] = arrays["lstm0_kernel"][:, :8]
        np.savez(weights, **arrays)
    elif how == "missing array":
        arrays = dict(np.load(weights))
        del arrays["output_bias"]
        np.savez(weights, **arrays)
    elif how == "NaN weights":
        arrays = dict(np.load(weights))
        arrays["output_bias"][0] = np.nan
        np.savez(weights, **arrays)
    elif how == "pickled object array":
        arrays = dict(np.load(weights))
        arrays["output_bias"] = np.array([object()] * VOCAB_SIZE, dtype=object)
        np.savez(weights, **arrays)
    elif how == "bad architecture":
        data = json.loads(config.read_text())
        data["architecture"]["lstm_units"] = []
        config.write_text(json.dumps(data))
    elif how == "bad key context":
        data = json.loads(config.read_text())
        data["architecture"]["key_context"] = [0.9, 1.5]
        config.write_text(json.dumps(data))
    return folder


@pytest.fixture
def plain_model_dir(tmp_path):
    folder = tmp_path / "plain"
    folder.mkdir()
    write_model_dir(folder, ARCH, random_weights(ARCH), ModelInfo(preset="test"))
    return folder


@pytest.mark.parametrize(
    "how, message",
    [
        ("missing folder", "no such model folder"),
        ("no model.json", "not a model folder"),
        ("model.json not JSON", "unreadable"),
        ("not a model", "not a neuraltunes-live model"),
        ("other encoding", "trained on event encoding 99"),
        ("other vocabulary", "event vocabulary is not this version's"),
        ("no weights", "incomplete"),
        ("truncated weights", "damaged or truncated"),
        ("wrong shape", r"lstm0_kernel is float32 \(8, 8\), the architecture needs float \(8, 64\)"),
        ("missing array", "weights missing: output_bias"),
        ("NaN weights", "NaN"),
        ("pickled object array", "damaged or truncated"),
        ("bad architecture", "no LSTM layer"),
        ("bad key context", "1.5 is not a decay between 0 and 1"),
    ],
)
def test_a_bad_model_folder_gives_one_clear_error(plain_model_dir, how, message):
    folder = _break(plain_model_dir, how)
    with pytest.raises(ModelError, match=message) as info:
        load_model(folder)
    assert "\n" not in str(info.value)


def test_write_model_dir_refuses_mismatched_weights(tmp_path):
    weights = random_weights(ARCH)
    weights["output_bias"] = weights["output_bias"][:5]
    with pytest.raises(ValueError, match="output_bias"):
        write_model_dir(tmp_path, ARCH, weights, ModelInfo())


def test_one_hot_architecture_round_trips_through_json():
    arch = Architecture(embedding_dim=VOCAB_SIZE, lstm_units=(4,), dense_units=(3,), one_hot=True)
    assert Architecture.from_json(arch.to_json()) == arch
    assert arch.parameter_count() == sum(int(np.prod(s)) for s in arch.weight_shapes().values())


def test_step_matches_a_textbook_lstm():
    """Against the LSTM equations written plainly, with Keras's gate order (i, f, c, o)."""
    arch = Architecture(embedding_dim=6, lstm_units=(5, 7), relative_pitch=True)
    rng = np.random.default_rng(5)
    # Large weights, so gates saturate at both ends of the sigmoid.
    weights = {k: rng.standard_normal(shape).astype(np.float32) * 4 for k, shape in arch.weight_shapes().items()}
    model = LSTMModel(arch, weights)
    sigmoid = lambda x: 1 / (1 + np.exp(-x))
    h = [np.zeros(u) for u in arch.lstm_units]
    c = [np.zeros(u) for u in arch.lstm_units]
    state = model.initial_state()
    last = None
    for token in rng.integers(0, VOCAB_SIZE, 60):
        x = weights["embedding"][token].astype(np.float64)
        for i, u in enumerate(arch.lstm_units):
            z = x @ weights[f"lstm{i}_kernel"] + h[i] @ weights[f"lstm{i}_recurrent"] + weights[f"lstm{i}_bias"]
            gate_i, gate_f, cand, gate_o = z[:u], z[u : 2 * u], z[2 * u : 3 * u], z[3 * u :]
            c[i] = sigmoid(gate_f) * c[i] + sigmoid(gate_i) * np.tanh(cand)
            h[i] = sigmoid(gate_o) * np.tanh(c[i])
            x = h[i]
        expected = x @ weights["output_kernel"] + weights["output_bias"]
        if PITCH_BASE <= token < DURATION_BASE:
            last = token - PITCH_BASE + MIN_PITCH
        if last is not None:
            # Every pitch gets the score of the interval from the last one played.
            scores = x @ weights["relative_kernel"] + weights["relative_bias"]
            for p in range(MIN_PITCH, MAX_PITCH + 1):
                expected[PITCH_BASE + p - MIN_PITCH] += scores[(p - last) + (MAX_PITCH - MIN_PITCH)]
        logits, state = model.step(int(token), state)
        assert_close(logits, expected)


def test_the_shipped_model_loads_and_is_small():
    from neuraltunes_live.core.model_files import SHIPPED_MODEL

    folder_bytes = sum(p.stat().st_size for p in SHIPPED_MODEL.iterdir())
    assert folder_bytes < 10 * 1024 * 1024
    model = load_model(SHIPPED_MODEL)
    assert model.info.preset == "default"
    assert (SHIPPED_MODEL / "MODEL_CARD.md").is_file()
    logits, _ = model.step(1, model.initial_state())
    assert logits.shape == (VOCAB_SIZE,) and np.all(np.isfinite(logits))


def test_key_context_follows_its_definition():
    """Profiles and register as ``KeyContext`` defines them, summed note by note from scratch."""
    rng = np.random.default_rng(8)
    tokens = rng.integers(0, VOCAB_SIZE, (2, 50))
    decays = np.array([0.6, 0.95], np.float32)
    contexts = key_contexts(tokens, KeyContext.empty(2, batch=2), decays, 0.8)
    for row in range(2):
        played = []  # pitches so far
        for t, token in enumerate(tokens[row]):
            if PITCH_BASE <= token < DURATION_BASE:
                played.append(int(token) - PITCH_BASE + MIN_PITCH)
            ages = np.arange(len(played))[::-1]  # notes played since each
            for k, decay in enumerate(decays):
                expected = np.zeros(12)
                for pitch, age in zip(played, ages):
                    expected[pitch % 12] += decay**age
                np.testing.assert_allclose(contexts.profiles[row, t, k], expected, rtol=1e-5, atol=1e-6)
            weights = 0.8 ** ages.astype(float)
            expected_register = [np.dot(weights, played), weights.sum()] if played else [0, 0]
            np.testing.assert_allclose(contexts.register[row, t], expected_register, rtol=1e-5, atol=1e-6)


def test_key_scores_mean_the_same_in_every_key():
    rng = np.random.default_rng(9)
    weights, profiles = rng.standard_normal((3, 12)), rng.random((3, 12))
    scores = key_scores(weights, profiles)
    for semitones in range(12):
        moved = key_scores(weights, np.roll(profiles, semitones, axis=-1))
        assert_close(moved, np.roll(scores, semitones))


def test_step_matches_the_key_context_written_plainly():
    """The key context's features and scores against their definitions, on a one-layer network."""
    arch = Architecture(embedding_dim=4, lstm_units=(6,), key_context=(0.5, 0.9), register_decay=0.7)
    rng = np.random.default_rng(10)
    weights = {k: rng.standard_normal(shape).astype(np.float32) for k, shape in arch.weight_shapes().items()}
    model = LSTMModel(arch, weights)
    sigmoid = lambda x: 1 / (1 + np.exp(-x))
    h, c = np.zeros(6), np.zeros(6)
    state = model.initial_state()
    played = []
    for token in rng.integers(0, VOCAB_SIZE, 80):
        if PITCH_BASE <= token < DURATION_BASE:
            played.append(int(token) - PITCH_BASE + MIN_PITCH)
        ages = np.arange(len(played))[::-1]
        profiles = np.zeros((2, 12))
        for k, decay in enumerate(arch.key_context):
            for pitch, age in zip(played, ages):
                profiles[k, pitch % 12] += decay**age
            profiles[k] /= max(profiles[k].sum(), 1e-6)
        features = np.zeros(arch.context_features)
        if played:
            last = played[-1]
            # Each profile read from the last pitch's class, then register in octaves from middle C.
            features[:24] = np.concatenate([np.roll(profiles[k], -(last % 12)) for k in range(2)])
            w = 0.7 ** ages.astype(float)
            mean = np.dot(w, played) / w.sum()
            features[24:] = [(last - mean) / 12, (mean - 60) / 12]
        x = np.concatenate([weights["embedding"][token], features])
        z = x @ weights["lstm0_kernel"] + h @ weights["lstm0_recurrent"] + weights["lstm0_bias"]
        c = sigmoid(z[6:12]) * c + sigmoid(z[:6]) * np.tanh(z[12:18])
        h = sigmoid(z[18:]) * np.tanh(c)
        expected = h @ weights["output_kernel"] + weights["output_bias"]
        key_weights = (h @ weights["key_kernel"] + weights["key_bias"]).reshape(2, 12)
        for p in range(MIN_PITCH, MAX_PITCH + 1):
            expected[PITCH_BASE + p - MIN_PITCH] += sum(
                key_weights[k, j] * profiles[k, (p + j) % 12] for k in range(2) for j in range(12)
            )
        logits, state = model.step(int(token), state)
        assert_close(logits, expected)
