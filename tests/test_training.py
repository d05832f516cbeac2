"""Training with Keras on tiny data: parity with the runtime, train, resume, mirror."""

import json
import os
import platform
import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip("tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402

from neuraltunes_live.config import PRESETS, TrainSettings  # noqa: E402
from neuraltunes_live.core.encoding import (
    VOCAB_SIZE,  # noqa: E402
    transposition_range,  # noqa: E402
)
from neuraltunes_live.core.model import Architecture, LSTMModel  # noqa: E402
from neuraltunes_live.core.model_files import load_model, read_model_info  # noqa: E402
from neuraltunes_live.data.dataset import read_split  # noqa: E402
from neuraltunes_live.errors import TrainingError  # noqa: E402
from neuraltunes_live.training import model as keras_model  # noqa: E402
from neuraltunes_live.training.data import random_windows, validation_windows  # noqa: E402
from neuraltunes_live.training.train import train as run_training  # noqa: E402
from neuraltunes_live.training.train import work_dir_for  # noqa: E402

from .floats import assert_close

TINY = dict(preset="tiny", batch_size=8, seq_len=16)


def train(data, out, settings, **run):
    """Training as the tests run it: quiet."""
    return run_training(data, out, settings, **run)


@pytest.mark.parametrize(
    "arch, pitch_classes",
    [
        (keras_model.PRESETS["default"].arch, True),
        (keras_model.PRESETS["default"].arch, False),
        (keras_model.resolved(keras_model.PRESETS["one-hot-lstm"].arch), False),
        (Architecture(embedding_dim=5, lstm_units=(7, 9, 6), dense_units=(11, 4)), True),
        (Architecture(embedding_dim=5, lstm_units=(7, 9), dense_units=(11,), relative_pitch=True), False),
        (
            Architecture(
                embedding_dim=5, lstm_units=(7, 9), dense_units=(11,), key_context=(0.5, 0.99), register_decay=0.8
            ),
            True,
        ),
    ],
    ids=["default", "default-unshared", "one-hot-lstm", "odd", "odd-relative", "odd-key"],
)
def test_numpy_runtime_matches_keras(arch, pitch_classes):
    keras.utils.set_random_seed(0)
    net = keras_model.build(arch, pitch_classes=pitch_classes)
    # Trained-looking weights: larger than Keras's initial ones, so gates
    # saturate; those that start at zero (biases, key scores) drawn at random.
    rng = np.random.default_rng(5)
    net.set_weights([w * 3 if np.any(w) else rng.normal(0, 0.5, w.shape) for w in net.get_weights()])
    weights = keras_model.export_weights(net, arch)
    runtime = LSTMModel(keras_model.resolved(arch), weights)
    tokens = np.random.default_rng(1).integers(0, VOCAB_SIZE, (4, 60))
    expected = np.asarray(net(tokens, training=False))
    got, _ = runtime.prime(tokens)
    assert_close(got, expected)
    state = runtime.initial_state()
    for t, token in enumerate(tokens[0]):
        logits, state = runtime.step(int(token), state)
        assert_close(logits, expected[0, t])


def test_exported_weights_load_back_into_keras():
    arch = keras_model.PRESETS["default"].arch
    keras.utils.set_random_seed(3)
    shared = keras_model.build(arch, pitch_classes=True)
    tokens = np.random.default_rng(4).integers(0, VOCAB_SIZE, (2, 20))
    weights = keras_model.export_weights(shared, arch)
    for target in (keras_model.build(arch), keras_model.build(arch, pitch_classes=True)):
        keras_model.load_weights(target, weights, arch)
        assert_close(np.asarray(target(tokens)), np.asarray(shared(tokens)))


def test_learning_rate_decays_to_its_final_share_over_the_run():
    preset = keras_model.PRESETS["default"]
    schedule = keras_model.optimizer_for(preset, total_steps=100)._learning_rate
    assert float(schedule(0)) == pytest.approx(preset.learning_rate)
    assert float(schedule(50)) == pytest.approx(preset.learning_rate * (1 + preset.final_learning_rate) / 2)
    assert float(schedule(100)) == pytest.approx(preset.learning_rate * preset.final_learning_rate)


def test_stateful_keras_model_steps_like_the_whole_sequence():
    arch = Architecture(embedding_dim=8, lstm_units=(16, 16))  # no interval term: it looks back within a call
    net = keras_model.build(arch)
    stepper = keras_model.build(arch, stateful_batch=1)
    keras_model.load_weights(stepper, keras_model.export_weights(net, arch), arch)
    tokens = np.random.default_rng(2).integers(0, VOCAB_SIZE, (1, 12))
    whole = np.asarray(net(tokens))
    steps = np.concatenate([np.asarray(stepper(tokens[:, t : t + 1])) for t in range(12)], axis=1)
    assert_close(steps, whole)


def test_training_windows_are_transposed_within_range(tiny_data):
    split = read_split(tiny_data, "train")
    rng = np.random.default_rng(0)
    windows = random_windows(split.tokens, 200, 32, rng)
    assert windows.shape == (200, 33)
    moved = 0
    for window in windows:
        low, high = transposition_range(window)
        assert low <= 0 <= high  # every pitch is still in range
    plain = random_windows(split.tokens, 200, 32, np.random.default_rng(0), transpose=False)
    moved = np.count_nonzero((windows != plain).any(axis=1))
    assert moved > 100
    inputs, targets = validation_windows(split, 32)
    np.testing.assert_array_equal(inputs[:, 1:], targets[:, :-1])


def test_train_writes_a_self_describing_model_dir(tiny_data, tmp_path):
    out = tmp_path / "model"
    result = train(tiny_data, out, TrainSettings(epochs=2, random_seed=3, **TINY))
    assert sorted(p.name for p in out.iterdir()) == ["history.csv", "history.png", "model.json", "weights.npz"]
    assert result.model_dir == str(out) and result.info == read_model_info(out)
    saved = json.loads((out / "model.json").read_text())
    assert saved["preset"] == "tiny" and saved["training"]["random_seed"] == 3
    assert saved["data"]["sources"] and saved["data"]["split_seed"] == 1234
    assert saved["training"]["epochs_run"] == 2
    # What trained it, to the processor (whose kernels round the last bits their own way).
    assert saved["training"]["hardware"].startswith(f"{os.cpu_count()} CPU cores ({platform.machine()}")
    assert 1 <= saved["training"]["best_epoch"] <= 2
    assert saved["metrics"]["val_loss_nats_per_event"] < np.log(VOCAB_SIZE)
    assert result.info.parameters == load_model(out).arch.parameter_count()
    # The piece memory was fitted on the validation pieces, and loads with the model.
    memory = saved["piece_memory"]
    assert memory["validation_pieces"] == len(read_split(tiny_data, "validation"))
    assert memory["validation_bits_per_note"] <= memory["validation_bits_per_note_network"]
    assert load_model(out).memory.concentrations == tuple(memory["concentrations"])
    assert not work_dir_for(out).exists()
    assert len((out / "history.csv").read_text().strip().splitlines()) == 3


def test_same_seed_same_weights(tiny_data, tmp_path):
    for name in ("a", "b"):
        train(tiny_data, tmp_path / name, TrainSettings(epochs=1, random_seed=5, **TINY))
    a, b = (np.load(tmp_path / name / "weights.npz") for name in ("a", "b"))
    for key in a.files:
        np.testing.assert_array_equal(a[key], b[key])


def interrupt_after(epochs):
    def on_epoch(epoch, figures):
        if epoch + 1 == epochs:
            raise KeyboardInterrupt

    return on_epoch


def test_interrupted_training_resumes_where_it_stopped(tiny_data, tmp_path):
    out = tmp_path / "model"
    options = TrainSettings(epochs=3, random_seed=7, patience=10, **TINY)
    with pytest.raises(KeyboardInterrupt):
        train(tiny_data, out, options, on_epoch=interrupt_after(2))
    assert not out.exists() and work_dir_for(out).is_dir()
    with pytest.raises(TrainingError, match="pass --resume"):
        train(tiny_data, out, options)
    with pytest.raises(TrainingError, match="cannot resume: random_seed was 7, now 8"):
        train(tiny_data, out, TrainSettings(epochs=3, random_seed=8, **TINY), resume=True)
    result = train(tiny_data, out, TrainSettings(epochs=3, random_seed=7, patience=10, **TINY), resume=True)
    assert result.info.training.epochs_run == 3
    assert not work_dir_for(out).exists()

    # Resumed after two epochs, it reaches the weights of an uninterrupted run.
    train(tiny_data, tmp_path / "straight", options)
    resumed, straight = np.load(out / "weights.npz"), np.load(tmp_path / "straight" / "weights.npz")
    for key in straight.files:
        assert_close(resumed[key], straight[key])


def test_decay_epochs_stops_part_way_down_a_longer_runs_schedule(tiny_data, tmp_path):
    # A 3-epoch run stopped after 2 and written from there (resumed with --epochs 2) ...
    longer = TrainSettings(epochs=3, random_seed=7, patience=10, **TINY)
    with pytest.raises(KeyboardInterrupt):
        train(tiny_data, tmp_path / "stopped", longer, on_epoch=interrupt_after(2))
    train(tiny_data, tmp_path / "stopped", TrainSettings(epochs=2, random_seed=7, patience=10, **TINY), resume=True)
    # ... is what 2 epochs of a schedule planned for 3 make, and not what a 2-epoch schedule makes.
    planned = TrainSettings(epochs=2, decay_epochs=3, random_seed=7, patience=10, **TINY)
    result = train(tiny_data, tmp_path / "planned", planned)
    train(tiny_data, tmp_path / "short", TrainSettings(epochs=2, random_seed=7, patience=10, **TINY))
    stopped, made, short = (np.load(tmp_path / name / "weights.npz") for name in ("stopped", "planned", "short"))
    for key in stopped.files:
        assert_close(made[key], stopped[key])
    assert any(not np.allclose(made[key], short[key], rtol=1e-3, atol=1e-3) for key in short.files)
    assert result.info.training.decay_epochs == 3 and result.info.training.epochs_run == 2


def test_train_refuses_bad_input(tiny_data, tmp_path):
    with pytest.raises(TrainingError, match="unknown preset 'huge'"):
        train(tiny_data, tmp_path / "m", TrainSettings(preset="huge"))
    other = tmp_path / "not-a-model"
    other.mkdir()
    (other / "keep.txt").write_text("mine")
    with pytest.raises(TrainingError, match="not a model folder"):
        train(tiny_data, other, TrainSettings(**TINY))
    with pytest.raises(TrainingError, match="nothing to resume"):
        train(tiny_data, tmp_path / "fresh", TrainSettings(**TINY), resume=True)


def test_mirrored_over_two_logical_cpus(tiny_data, tmp_path):
    # Logical devices must be set before TensorFlow starts: a process of its own.
    out = tmp_path / "mirrored"
    command = [
        sys.executable,
        "-m",
        "neuraltunes_live",
        "train",
        str(tiny_data),
        "--out",
        str(out),
        "--preset",
        "tiny",
        "--epochs",
        "1",
        "--batch-size",
        "8",
        "--seq-len",
        "16",
        "--replicas",
        "2",
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "2 replica(s)" in result.stderr
    assert json.loads((out / "model.json").read_text())["training"]["replicas"] == 2
    load_model(out)


def test_train_command_says_how_to_resume_after_an_interrupt(tiny_data, tmp_path, monkeypatch):
    from click.testing import CliRunner

    from neuraltunes_live.cli import main
    from neuraltunes_live.training import train as training

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(training, "train", interrupted)
    out = tmp_path / "m"
    result = CliRunner().invoke(main, ["train", str(tiny_data), "--out", str(out)])
    assert result.exit_code == 130
    assert f"kept in {out}.training" in result.output and "--resume" in result.output


def test_train_refuses_data_without_validation_pieces(tmp_path):
    from neuraltunes_live.config import PrepareSettings
    from neuraltunes_live.data.midifile import write_midi
    from neuraltunes_live.data.prepare import prepare

    from .conftest import synthetic_tune

    songs = tmp_path / "songs"
    songs.mkdir()
    for i in range(3):
        write_midi(synthetic_tune(i), songs / f"t{i}.mid")
    data = tmp_path / "data"
    prepare([str(songs)], data, PrepareSettings(workers=1, validation_fraction=0.0), use_cache=False)
    with pytest.raises(TrainingError, match="no validation pieces"):
        train(data, tmp_path / "m", TrainSettings(**TINY))


def _plain_tiny_model(folder, units=(16, 16)):
    """A model folder of the tiny preset's shape without a key context, random weights."""
    from neuraltunes_live.core.model_files import ModelInfo, write_model_dir

    from .conftest import random_weights

    arch = Architecture(embedding_dim=8, lstm_units=units, relative_pitch=True)
    folder.mkdir()
    write_model_dir(folder, arch, random_weights(arch, scale=0.5), ModelInfo(preset="plain"))
    return folder


def test_grown_weights_play_what_the_trained_network_played(tmp_path):
    plain = load_model(_plain_tiny_model(tmp_path / "plain"))
    arch = keras_model.PRESETS["tiny"].arch
    grown = LSTMModel(arch, keras_model.grown_weights(plain.weights, arch))
    tokens = np.random.default_rng(6).integers(0, VOCAB_SIZE, 50)
    assert_close(grown.prime(tokens)[0], plain.prime(tokens)[0])


def test_train_can_start_from_a_model_without_a_key_context(tiny_data, tmp_path):
    init = _plain_tiny_model(tmp_path / "plain")
    out = tmp_path / "model"
    result = train(tiny_data, out, TrainSettings(epochs=1, random_seed=2, **TINY), init=str(init))
    assert result.info.training.initialised_from.model == str(init)
    assert load_model(out).arch == keras_model.PRESETS["tiny"].arch
    wrong = _plain_tiny_model(tmp_path / "wider", units=(24, 16))
    grown = r"cannot start from these weights: lstm0_kernel is \(8, 96\), needs \(34, 64\)"
    with pytest.raises(TrainingError, match=grown):
        train(tiny_data, tmp_path / "other", TrainSettings(epochs=1, **TINY), init=str(wrong))


def test_the_presets_are_the_ones_the_settings_offer():
    assert tuple(keras_model.PRESETS) == PRESETS


def test_source_balance_shares_windows_by_a_power_of_each_source_s_events(tiny_data):
    from neuraltunes_live.data.dataset import Split
    from neuraltunes_live.training.data import start_probabilities

    # Two sources, one with 9 times the events of the other.
    pieces = [np.full(90, 3, np.int32), np.full(10, 3, np.int32)]
    split = Split(
        tokens=np.concatenate(pieces),
        offsets=np.array([0, 90, 100]),
        notes=np.array([30, 3]),
        names=["music21:big/a", "music21:small/b"],
    )
    assert start_probabilities(split, 4, 1.0) is None  # every event alike
    for balance, big_share in ((0.5, 3 / 4), (0.0, 1 / 2)):
        p = start_probabilities(split, 4, balance)
        assert len(p) == 96 and abs(p.sum() - 1) < 1e-9
        # Every event of a source is alike; the last 4 cannot start a window, so 6 of the small one's 10 can.
        small = (1 - big_share) * 6 / 10
        assert abs(p[:90].sum() - big_share / (big_share + small)) < 1e-9
        assert np.ptp(p[:90]) < 1e-12 and np.ptp(p[90:]) < 1e-12


def test_a_recipe_prepares_its_data_then_trains_and_is_recorded_in_the_model(tmp_path):
    from click.testing import CliRunner

    from neuraltunes_live.cli import main
    from neuraltunes_live.core.model_files import read_model_info
    from neuraltunes_live.data.dataset import read_manifest
    from neuraltunes_live.data.midifile import write_midi

    from .conftest import synthetic_tune

    songs, held = tmp_path / "songs", tmp_path / "held"
    for folder, first in ((songs, 0), (held, 40)):
        folder.mkdir()
        for i in range(first, first + 12):
            write_midi(synthetic_tune(i), folder / f"t{i}.mid")
    recipe = tmp_path / "tiny.toml"
    recipe.write_text(
        f"""[recipe]
sources = ["{songs}"]
data = "{tmp_path / "data"}"
held_out_sources = ["{held}"]
held_out = "{tmp_path / "held-data"}"
out = "{tmp_path / "model"}"

[prepare]
validation_fraction = 0.2
test_fraction = 0.2
cache_dir = "{tmp_path / "cache"}"

[train]
preset = "tiny"
epochs = 1
batch_size = 8
seq_len = 16
""",
        encoding="utf-8",
    )
    result = CliRunner().invoke(main, ["train", "--recipe", str(recipe)])
    assert result.exit_code == 0, result.output
    info = read_model_info(tmp_path / "model")
    assert info.recipe == recipe.read_text(encoding="utf-8") and info.preset == "tiny"
    assert info.training.epochs_asked == 1 and info.training.seq_len == 16
    assert read_manifest(tmp_path / "data").sources == (str(songs),)
    held_out = read_manifest(tmp_path / "held-data")
    assert held_out.options.held_out and held_out.counts.pieces == len(held_out.pieces["test"]) == 12
    # Run again: both folders are there as the recipe makes them, so nothing is prepared twice.
    again = CliRunner().invoke(main, ["train", "--recipe", str(recipe), "--out", str(tmp_path / "again")])
    assert again.exit_code == 0, again.output
    assert again.output.count("prepared already") == 2


def test_a_recipe_without_its_sources_is_one_line(tmp_path):
    from click.testing import CliRunner

    from neuraltunes_live.cli import main

    recipe = tmp_path / "bad.toml"
    recipe.write_text('[recipe]\ndata = "d"\nout = "m"\n', encoding="utf-8")
    result = CliRunner().invoke(main, ["train", "--recipe", str(recipe)])
    assert result.exit_code == 1 and result.output.strip() == f"Error: {recipe}: recipe.sources is missing"
