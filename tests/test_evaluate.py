"""``evaluate``: bits per note, accuracy, the Markov baseline, continuation statistics."""

import dataclasses
import json

import numpy as np
import pytest
from click.testing import CliRunner

from neuraltunes_live.cli import main
from neuraltunes_live.core.encoding import VOCAB_SIZE, encode
from neuraltunes_live.core.model_files import load_model
from neuraltunes_live.core.sampling import SamplingSettings
from neuraltunes_live.data.dataset import Split, read_split
from neuraltunes_live.offline.evaluate import (
    STATISTICS,
    Evaluation,
    evaluate,
    lstm_scores,
    openings,
    passages,
    pitch_class_entropy,
    repeated_note_share,
    scale_consistency,
)

from .conftest import notes


def test_pitch_class_entropy():
    assert pitch_class_entropy(notes((0, 60, 1, 72), (1, 72, 1, 72))) == 0.0
    assert pitch_class_entropy(notes(*[(i, 60 + i, 1, 72) for i in range(12)])) == pytest.approx(np.log2(12))
    assert pitch_class_entropy(notes((0, 60, 1, 72), (1, 62, 1, 72))) == pytest.approx(1.0)


def test_scale_consistency():
    c_major = notes(*[(i, p, 1, 72) for i, p in enumerate([60, 62, 64, 65, 67, 69, 71])])
    assert scale_consistency(c_major) == 1.0
    chromatic = notes(*[(i, 60 + i, 1, 72) for i in range(12)])
    assert scale_consistency(chromatic) == pytest.approx(7 / 12)


def test_repeated_note_share_counts_pitches_struck_again_at_the_next_onset():
    melody = notes((0, 60, 1, 72), (1, 60, 1, 72), (2, 62, 1, 72), (3, 62, 1, 72), (4, 64, 1, 72))
    assert repeated_note_share(melody) == pytest.approx(2 / 4)
    chords = notes((0, 60, 1, 72), (0, 64, 1, 72), (1, 60, 1, 72), (1, 65, 1, 72))
    assert repeated_note_share(chords) == pytest.approx(1 / 2)


def test_a_model_that_knows_nothing_scores_the_uniform_bits(tiny_data, tmp_path):
    # All-zero weights: every event has probability 1/V.
    from neuraltunes_live.core.model import Architecture
    from neuraltunes_live.core.model_files import ModelInfo, write_model_dir

    arch = Architecture(embedding_dim=4, lstm_units=(4,))
    write_model_dir(tmp_path, arch, {n: np.zeros(s, np.float32) for n, s in arch.weight_shapes().items()}, ModelInfo())
    test = read_split(tiny_data, "test")
    scores = lstm_scores(load_model(tmp_path), test).summary()
    events = len(test.tokens) - len(test)
    assert scores.bits_per_event == pytest.approx(np.log2(VOCAB_SIZE))
    assert scores.bits_per_note == pytest.approx(np.log2(VOCAB_SIZE) * events / test.notes.sum())


def test_batching_does_not_change_the_scores(tiny_data, random_model_dir):
    model = load_model(random_model_dir)
    test = read_split(tiny_data, "test")
    one = lstm_scores(model, test, batch=1)
    many = lstm_scores(model, test, batch=32)
    np.testing.assert_allclose(one.bits, many.bits, rtol=1e-6)
    assert dataclasses.astuple(one.summary()) == pytest.approx(dataclasses.astuple(many.summary()))


def test_evaluate_reports_everything(tiny_data, random_model_dir):
    result = evaluate([random_model_dir, random_model_dir], tiny_data, settings=SamplingSettings(), random_seed=3)
    test = read_split(tiny_data, "test")
    assert result.test_pieces == len(test)
    assert len(result.models) == 2
    # A model with random weights is far worse than the baseline on tunes this regular.
    assert result.models[0].scores.bits_per_note > result.markov.bits_per_note
    assert result.improvement_over_markov < 0
    # The order chosen is the one scoring best on the validation pieces.
    per_order = result.markov_validation_bits_per_note_by_order
    assert result.markov_order == 1 + int(np.argmin(per_order[1:]))  # [0] is order 0, never chosen
    cont = result.continuations
    assert cont.pieces == len(test)
    # The real range is the one of the bars that really follow each opening.
    for name, statistic in STATISTICS.items():
        values = [statistic(following, opening) for opening, following in openings(test)]
        assert cont.statistics[name].real_p50 == pytest.approx(np.median(values), abs=1e-3)
        assert cont.statistics[name].real_p10 == pytest.approx(np.percentile(values, 10), abs=1e-3)
    assert evaluate([random_model_dir], tiny_data, settings=SamplingSettings(), random_seed=3).continuations == cont
    # The JSON holds every figure and reads back into the same report.
    figures = json.loads(json.dumps(result.to_json()))
    assert figures["test_pieces"] == len(test) and figures["markov_order"] == result.markov_order
    assert figures["models"][0]["scores"]["bits_per_note"] == result.models[0].scores.bits_per_note
    assert Evaluation.from_json(figures) == result


def test_evaluate_command_writes_json(tiny_data, random_model_dir, tmp_path):
    out = tmp_path / "eval.json"
    result = CliRunner().invoke(main, ["evaluate", str(random_model_dir), str(tiny_data), "--json", str(out)])
    assert result.exit_code == 0, result.output
    assert "Markov, interpolated, order" in result.output
    written = Evaluation.from_json(json.loads(out.read_text()))
    assert written.models[0].model == str(random_model_dir) and written.test_pieces > 0
    assert f"{written.models[0].scores.bits_per_note:.3f}" in result.output  # the table shows what the file holds


def test_evaluate_command_names_a_bad_model_folder(tiny_data, tmp_path):
    result = CliRunner().invoke(main, ["evaluate", str(tmp_path / "none"), str(tiny_data)])
    assert result.exit_code == 1
    assert "no such model folder" in result.output


def test_key_mask_keeps_sampled_continuations_in_key(tiny_data, random_model_dir):
    free = evaluate([random_model_dir], tiny_data, settings=SamplingSettings(), random_seed=4)
    masked = evaluate([random_model_dir], tiny_data, settings=SamplingSettings(), key_mask=True, random_seed=4)
    assert masked.sampling["key_mask"] is True
    consistency = lambda r: r.continuations.statistics["scale_consistency"].sampled_p50
    assert consistency(masked) > consistency(free)
    assert consistency(masked) >= 7 / 8  # a minor key with its leading note holds 8 pitch classes


def test_opening_figure_share_counts_figures_played_in_the_opening():
    from neuraltunes_live.offline.evaluate import opening_figure_share

    opening = notes(*[(i, p, 1, 72) for i, p in enumerate([60, 62, 64, 65, 67])])
    echo = notes(*[(10 + i, p, 1, 72) for i, p in enumerate([60, 62, 64, 65, 69])])
    assert opening_figure_share(echo, opening) == pytest.approx(1 / 2)  # 60-62-64-65 yes, 62-64-65-69 no
    assert opening_figure_share(opening, opening) == 1.0
    assert opening_figure_share(notes((0, 60, 1, 72)), opening) == 0.0  # too short to hold a figure


def test_passages_follow_one_another_from_the_start_each_moved_to_tick_0():
    # 20 bars of quarter notes, pitch = 40 + the beat's number, each held two beats (ringing over bar lines).
    beat = 12
    piece = encode(notes(*[(beat * b, 40 + b, 2 * beat, 80) for b in range(80)]))
    short = encode(notes(*[(beat * b, 60, beat, 80) for b in range(24)]))  # 6 bars: too short for 4 + 4
    split = Split(
        tokens=np.concatenate([short, piece]),
        offsets=np.array([0, len(short), len(short) + len(piece)]),
        notes=np.array([24, 80]),
        names=["music21:a/short", "music21:b/long"],
    )
    got = list(passages(split, per_piece=5))
    assert [index for index, _, _ in got] == [1, 1]  # bars 0-7 and 8-15; 16-19 are too few for a third
    for n, (_, opening, following) in enumerate(got):
        first = 40 + 32 * n
        np.testing.assert_array_equal(opening[:, 1], np.arange(first, first + 16))
        np.testing.assert_array_equal(opening[:, 0], np.arange(16) * beat)
        assert opening[-1, 2] == beat  # the last note is cut at the bar line
        np.testing.assert_array_equal(following[:, 1], np.arange(first + 16, first + 32))
        assert following[0, 0] == 16 * beat
    assert [o.tolist() for o, _ in openings(split)] == [got[0][1].tolist()]
