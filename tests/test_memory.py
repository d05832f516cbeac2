"""The piece memory: match lengths, the blend against its definition, fitting, and its use."""

import json

import numpy as np
import pytest
from click.testing import CliRunner

from neuraltunes_live.cli import main
from neuraltunes_live.core.continuation import Continuer
from neuraltunes_live.core.memory import (
    MemorySettings,
    PieceMemory,
    blend_logits,
    blend_sequence,
    blended_bits,
    fit_concentrations,
    match_counts,
    match_lengths,
)
from neuraltunes_live.core.memory_fit import MemoryFit
from neuraltunes_live.core.model import Architecture, LSTMModel
from neuraltunes_live.core.model_files import (
    CONFIG_FILE,
    FittedMemory,
    ModelInfo,
    load_model,
    read_model_info,
    write_model_dir,
    write_piece_memory,
)
from neuraltunes_live.core.sampling import SamplingSettings
from neuraltunes_live.data.dataset import read_split
from neuraltunes_live.errors import ModelError
from neuraltunes_live.offline.evaluate import evaluate, format_report, lstm_scores

from .conftest import random_weights


def by_definition(tokens, t, base, settings):
    """P(tokens[t] = ·) after tokens[:t], counting contexts in a table (the formula in memory.py)."""
    p = base.copy()
    alphas = settings.alphas()
    for n in range(settings.min_order, settings.max_order + 1):
        if n > t:
            break
        context = tuple(tokens[t - n : t])
        counts = np.zeros_like(p)
        for j in range(n, t):
            if tuple(tokens[j - n : j]) == context:
                counts[tokens[j]] += 1
        if counts.sum() > 0:
            p = (counts + alphas[n] * p) / (counts.sum() + alphas[n])
    return p


def test_match_lengths_are_common_suffixes():
    rng = np.random.default_rng(1)
    tokens = rng.integers(0, 3, 80)
    lengths = match_lengths(tokens, 6)
    assert lengths[0] == 0
    for j in range(1, len(tokens)):
        n = 0
        while n < min(j, 6) and tokens[j - 1 - n] == tokens[len(tokens) - 1 - n]:
            n += 1
        assert lengths[j] == n, j


@pytest.mark.parametrize("min_order", [1, 2, 3])
def test_blend_follows_the_definition_fed_or_reset(min_order):
    rng = np.random.default_rng(min_order)
    settings = MemorySettings(min_order, tuple(rng.uniform(0.2, 5.0, 6)))
    tokens = rng.integers(0, 4, 150)
    fed = PieceMemory(settings)
    fed.reset(tokens[:1])
    for t in range(1, len(tokens)):
        base = rng.dirichlet(np.ones(6))
        expected = by_definition(list(tokens), t, base, settings)
        np.testing.assert_allclose(fed.blend(base), expected, atol=1e-12)
        fresh = PieceMemory(settings)
        fresh.reset(tokens[:t])
        np.testing.assert_allclose(fresh.blend(base), expected, atol=1e-12)
        assert fed.blend(base).sum() == pytest.approx(1.0)
        fed.feed(int(tokens[t]))


def test_no_match_leaves_the_network_alone():
    memory = PieceMemory(MemorySettings(2, (1.0, 1.0)))
    memory.reset([1, 2, 3, 4])  # nothing repeats
    base = np.full(8, 1 / 8)
    assert memory.blend(base) is base
    logits = np.arange(8.0)
    assert blend_logits(memory, logits) is logits


def test_blend_logits_are_log_probabilities_of_the_blend():
    settings = MemorySettings(1, (0.5, 0.5))
    memory = PieceMemory(settings)
    memory.reset([5, 6, 7, 5, 6])
    logits = np.random.default_rng(0).normal(size=10)
    probabilities = np.exp(logits) / np.exp(logits).sum()
    np.testing.assert_allclose(np.exp(blend_logits(memory, logits)), memory.blend(probabilities))
    assert np.exp(blend_logits(memory, logits))[7] > 0.5  # "5 6" was followed by 7


def test_the_window_keeps_the_newest_events_and_still_copies():
    settings = MemorySettings(1, (0.01, 0.01, 0.01))
    memory = PieceMemory(settings, window=32)
    figure = [10, 11, 12, 13, 14]
    for token in np.random.default_rng(2).integers(20, 60, 100).tolist() + figure * 4:
        memory.feed(int(token))
        assert len(memory) <= 32
    memory.feed(10)
    memory.feed(11)
    assert memory.blend(np.full(64, 1 / 64)).argmax() == 12


def repeating_pieces(count, rng):
    """Pieces that play a random figure over and over."""
    pieces = []
    for _ in range(count):
        figure = rng.integers(3, 40, int(rng.integers(4, 9))).tolist()
        pieces.append(np.array([1] + figure * 6 + [2]))
    return pieces


def test_fitting_learns_to_copy_a_piece_that_repeats_itself():
    rng = np.random.default_rng(3)
    pieces = repeating_pieces(30, rng)
    uniform = [np.full(len(p) - 1, 1 / 64) for p in pieces]
    counts = match_counts(pieces, uniform, 8)
    settings = fit_concentrations(counts, 2, 8)
    network_bits = float(-np.log2(counts.network).sum())
    assert blended_bits(counts, settings) < 0.4 * network_bits
    assert min(settings.concentrations) < 1  # long matches are trusted over the network
    # Held-out pieces of the same kind gain as much.
    held_out = repeating_pieces(10, rng)
    held_counts = match_counts(held_out, [np.full(len(p) - 1, 1 / 64) for p in held_out], 8)
    assert blended_bits(held_counts, settings) < 0.4 * float(-np.log2(held_counts.network).sum())


def test_fitting_leaves_a_network_that_is_already_sure_alone():
    # The network gives each event probability 0.99: the memory can only cost bits.
    rng = np.random.default_rng(4)
    pieces = [rng.integers(3, 6, 60) for _ in range(10)]
    counts = match_counts(pieces, [np.full(len(p) - 1, 0.99) for p in pieces], 6)
    settings = fit_concentrations(counts, 2, 6)
    assert blended_bits(counts, settings) == pytest.approx(float(-np.log2(counts.network).sum()), rel=0.02)


def test_match_counts_agree_with_the_memory():
    rng = np.random.default_rng(5)
    pieces = [rng.integers(0, 3, 40) for _ in range(3)]
    network = [rng.uniform(0.05, 0.5, len(p) - 1) for p in pieces]
    settings = MemorySettings(2, tuple(rng.uniform(0.3, 3.0, 5)))
    counts = match_counts(pieces, network, settings.max_order)
    total = 0.0
    for piece, p in zip(pieces, network):
        for t in range(1, len(piece)):
            base = np.full(3, (1 - p[t - 1]) / 2)
            base[piece[t]] = p[t - 1]
            total -= np.log2(by_definition(list(piece), t, base, settings)[piece[t]])
    assert blended_bits(counts, settings) == pytest.approx(total)


@pytest.mark.parametrize(
    "bad",
    [
        {"concentrations": [1.0]},
        {"min_order": 0, "concentrations": [1.0]},
        {"min_order": 2, "concentrations": []},
        {"min_order": 2, "concentrations": [1.0, -1.0]},
        {"min_order": 2, "concentrations": ["x"]},
        {"min_order": True, "concentrations": [1.0]},
        "nonsense",
    ],
)
def test_bad_memory_settings_in_a_model_folder_give_one_line(tmp_path, bad):
    arch = Architecture(embedding_dim=4, lstm_units=(4,))
    write_model_dir(tmp_path, arch, random_weights(arch), ModelInfo())
    description = json.loads((tmp_path / CONFIG_FILE).read_text())
    (tmp_path / CONFIG_FILE).write_text(json.dumps({**description, "piece_memory": bad}))
    with pytest.raises(ModelError, match="piece.memory") as err:
        load_model(tmp_path)
    assert "\n" not in str(err.value)


def zero_model(memory=None):
    """Every event equally likely: whatever it plays beyond chance is the memory's doing."""
    arch = Architecture(embedding_dim=4, lstm_units=(4,))
    return LSTMModel(arch, {n: np.zeros(s, np.float32) for n, s in arch.weight_shapes().items()}, memory=memory)


def test_a_continuer_with_memory_carries_on_a_repeated_figure():
    from neuraltunes_live.core.notes import notes_array

    figure = [60, 64, 67, 72, 71, 67, 64, 62]
    rows = [(6 * i, figure[i % len(figure)], 6, 72) for i in range(4 * len(figure))]
    settings = SamplingSettings(temperature=1.0, max_repeats=0)
    played = []
    for memory in (None, MemorySettings(2, (0.01,) * 11)):
        continuer = Continuer(zero_model(memory), np.random.default_rng(0))
        continuer.prime(notes_array(rows))
        played.append([continuer.next_note(lambda: settings)[1] for _ in range(16)])
    with_memory, without = played[1], played[0]
    assert with_memory == (figure * 2)[:16]  # the figure goes on where the phrase left it
    assert without != with_memory


def test_evaluate_scores_the_model_with_its_memory_and_without(tiny_data, random_model_dir, tmp_path):
    folder = tmp_path / "model"
    folder.mkdir()
    for name in ("model.json", "weights.npz"):
        (folder / name).write_bytes((random_model_dir / name).read_bytes())
    result = CliRunner().invoke(main, ["fit-memory", str(folder), str(tiny_data)])
    assert result.exit_code == 0, result.output
    assert "with the memory" in result.output
    assert (folder / "weights.npz").read_bytes() == (random_model_dir / "weights.npz").read_bytes()
    assert read_model_info(folder).piece_memory.fitted_on == str(tiny_data)
    model = load_model(folder)
    assert model.memory is not None

    test = read_split(tiny_data, "test")
    with_memory = lstm_scores(model, test).summary()
    without = lstm_scores(model, test, memory=False).summary()
    assert without == lstm_scores(load_model(random_model_dir), test).summary()
    # The synthetic tunes repeat their chords and rhythm: remembering them pays.
    assert with_memory.bits_per_note < 0.8 * without.bits_per_note

    report = evaluate([folder], tiny_data, settings=SamplingSettings(), random_seed=1)
    assert report.models[0].scores.bits_per_note == pytest.approx(with_memory.bits_per_note, rel=1e-4)
    assert report.network_alone[0].scores.bits_per_note == pytest.approx(without.bits_per_note, rel=1e-4)
    assert report.markov_memory_bits_per_note < report.markov.bits_per_note
    lines = "\n".join(format_report(report))
    assert "(random + memory)" in lines and "network alone" in lines and "Markov with a piece memory" in lines


def test_blend_sequence_is_what_the_runtime_memory_does():
    rng = np.random.default_rng(6)
    settings = MemorySettings(2, (0.5, 2.0, 1.0))
    tokens = rng.integers(0, 5, 60)
    probabilities = rng.dirichlet(np.ones(5), len(tokens) - 1)
    blended = blend_sequence(settings, tokens, probabilities)
    for t in range(1, len(tokens)):
        np.testing.assert_allclose(blended[t - 1], by_definition(list(tokens), t, probabilities[t - 1], settings))


def test_fit_memory_names_a_missing_data_folder_and_leaves_the_model_alone(random_model_dir, tmp_path):
    before = (random_model_dir / "model.json").read_bytes()
    result = CliRunner().invoke(main, ["fit-memory", str(random_model_dir), str(tmp_path / "nothing")])
    assert result.exit_code == 1
    assert result.output.count("\n") == 1
    assert "nothing" in result.output
    assert (random_model_dir / "model.json").read_bytes() == before


def test_fitting_without_validation_pieces_says_what_to_prepare(random_model_dir):
    from neuraltunes_live.core.memory_fit import fit_piece_memory
    from neuraltunes_live.errors import DataError

    with pytest.raises(DataError, match="validation pieces"):
        fit_piece_memory(load_model(random_model_dir), [], 0.0)


def test_write_piece_memory_keeps_the_rest_of_model_json(random_model_dir, tmp_path):
    folder = tmp_path / "m"
    folder.mkdir()
    for name in ("model.json", "weights.npz"):
        (folder / name).write_bytes((random_model_dir / name).read_bytes())
    before = json.loads((folder / "model.json").read_text())
    fit = MemoryFit(validation_pieces=7, validation_bits_per_note_network=3.25, validation_bits_per_note=2.5)
    write_piece_memory(folder, FittedMemory.fitted(MemorySettings(3, (1.5, 2.5)), fit, "data/x"))
    after = json.loads((folder / "model.json").read_text())
    assert after.pop("piece_memory") == {
        "min_order": 3,
        "concentrations": [1.5, 2.5],
        "validation_pieces": 7,
        "validation_bits_per_note_network": 3.25,
        "validation_bits_per_note": 2.5,
        "fitted_on": "data/x",
    }
    before.pop("piece_memory", None)
    assert after == before
    assert read_model_info(folder).piece_memory.settings() == MemorySettings(3, (1.5, 2.5))
    assert not list(folder.glob("*.tmp"))
