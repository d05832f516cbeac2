"""The interpolated Markov baseline."""

import numpy as np
import pytest
from markov_player import MarkovPlayer

from neuraltunes_live.core.continuation import continue_notes
from neuraltunes_live.core.encoding import BOS, EOS, VOCAB_SIZE, encode
from neuraltunes_live.core.sampling import SamplingSettings
from neuraltunes_live.offline.markov import MarkovModel

from .conftest import notes, synthetic_tune


def scale_piece(start):
    return encode(notes(*[(12 * i, start + step, 12, 72) for i, step in enumerate([0, 2, 4, 5, 7, 9, 11, 12])]))


def test_distributions_are_proper():
    model = MarkovModel([scale_piece(60), scale_piece(62)], max_order=4)
    pieces = [scale_piece(64)]
    targets = np.ones(len(pieces[0]) - 1, dtype=bool)
    for order in range(5):
        dist = model.distributions(pieces, order, targets)
        np.testing.assert_allclose(dist.sum(axis=1), 1.0, atol=1e-9)
        assert (dist > 0).all()  # nothing is impossible


def test_probabilities_of_the_targets_match_the_distributions():
    model = MarkovModel([scale_piece(60)], max_order=3)
    piece = scale_piece(65)
    log2p = model.log2_probabilities([piece])
    dist = model.distributions([piece], 3, np.ones(len(piece) - 1, bool))
    np.testing.assert_allclose(log2p[3], np.log2(dist[np.arange(len(piece) - 1), piece[1:]]))


def test_order_zero_is_uniform_and_longer_contexts_learn():
    pieces = [encode(synthetic_tune(i)) for i in range(6)]
    model = MarkovModel(pieces, max_order=6)
    log2p = model.log2_probabilities([encode(synthetic_tune(7))])
    assert log2p[0] == pytest.approx(np.full(log2p.shape[1], -np.log2(VOCAB_SIZE)))
    bits = -log2p.sum(axis=1)
    assert bits[1] < bits[0] and bits[4] < bits[1]


def test_transposition_lets_it_predict_a_new_key():
    piece = scale_piece(60)
    in_c_only = MarkovModel([piece], max_order=4, transpositions=range(0, 1))
    every_key = MarkovModel([piece], max_order=4)
    new_key = [scale_piece(63)]
    assert every_key.log2_probabilities(new_key)[4].sum() > in_c_only.log2_probabilities(new_key)[4].sum()


def test_pieces_do_not_leak_into_each_other():
    # The first event of a piece is predicted from BOS alone, never from the
    # end of the previous piece.
    a, b = scale_piece(60), scale_piece(70)
    model = MarkovModel([a], max_order=3, transpositions=range(0, 1))
    together = model.log2_probabilities([a, b])[3]
    alone = model.log2_probabilities([b])[3]
    np.testing.assert_allclose(together[len(a) - 1 :], alone)
    assert a[0] == BOS and a[-1] == EOS


def test_the_player_predicts_what_the_model_does_at_every_step():
    model = MarkovModel([scale_piece(60), scale_piece(62)], max_order=4)
    piece = scale_piece(64)
    targets = np.ones(len(piece) - 1, dtype=bool)
    expected = model.distributions([piece], 3, targets)
    player = MarkovPlayer(model, 3)
    logits, state = player.prime(piece[:1])
    got = [np.exp(logits[-1])]
    for token in piece[1:-1]:
        logits, state = player.step(int(token), state)
        got.append(np.exp(logits))
    np.testing.assert_allclose(np.array(got), expected, rtol=1e-5)


def test_the_player_continues_a_phrase():
    model = MarkovModel([scale_piece(60), scale_piece(62), scale_piece(65)], max_order=4)
    phrase = notes(*[(12 * i, p, 12, 72) for i, p in enumerate([60, 62, 64])])
    out = continue_notes(
        MarkovPlayer(model, 4), phrase, bars=1, settings=SamplingSettings(temperature=0.1), rng=np.random.default_rng(0)
    )
    # Every piece it knows moves in quarter notes at one loudness: the bar after the phrase does too, a note on
    # each beat; and after E (64) the pieces went on to F or F# (65 in the C scale, 66 in the D scale).
    assert out[:, 0].tolist() == [36, 48, 60, 72]
    assert (out[:, 2] == 12).all() and (out[:, 3] == 72).all()
    assert int(out[0, 1]) in (65, 66)
