"""Sampling: grammar, key, loop guard, temperature, top-k, top-p, seeded RNG."""

import numpy as np
import pytest

from neuraltunes_live.core.encoding import (
    BOS,
    DURATION_BASE,
    EOS,
    MIN_PITCH,
    PAD,
    PITCH_BASE,
    SHIFT_BASE,
    VELOCITY_BASE,
    VOCAB_SIZE,
)
from neuraltunes_live.core.keys import Key, estimate_key, parse_key
from neuraltunes_live.core.sampling import (
    MAX_FIGURE,
    LoopGuard,
    SamplingSettings,
    allowed_tokens,
    key_mask,
    probabilities,
    sample,
)

from .fakes import pitch


def test_after_a_pitch_only_a_duration_may_follow():
    mask = allowed_tokens(pitch(60))
    assert mask.sum() == VELOCITY_BASE - DURATION_BASE
    assert mask[DURATION_BASE:VELOCITY_BASE].all()


@pytest.mark.parametrize("previous", [BOS, SHIFT_BASE, DURATION_BASE + 5])
def test_elsewhere_no_duration_pad_or_bos_and_eos_only_when_allowed(previous):
    mask = allowed_tokens(previous)
    assert not mask[[PAD, BOS, EOS]].any()
    assert not mask[DURATION_BASE:VELOCITY_BASE].any()
    assert mask[SHIFT_BASE] and mask[pitch(60)] and mask[VELOCITY_BASE]
    assert allowed_tokens(previous, allow_eos=True)[EOS]


def test_no_two_loudness_changes_in_a_row():
    assert not allowed_tokens(VELOCITY_BASE + 3)[VELOCITY_BASE:].any()


@pytest.mark.parametrize(
    "text, key",
    [
        ("D minor", Key(2, True)),
        ("f# major", Key(6, False)),
        ("Bb", Key(10, False)),
        ("Am", Key(9, True)),
        ("Eb min", Key(3, True)),
    ],
)
def test_parse_key(text, key):
    assert parse_key(text) == key


def test_parse_key_rejects_nonsense():
    with pytest.raises(ValueError, match="unknown key 'H minor'"):
        parse_key("H minor")


def test_key_mask_keeps_exactly_the_scale():
    mask = key_mask(Key(0, False))
    kept = [p for p in range(MIN_PITCH, MIN_PITCH + 88) if mask[pitch(p)]]
    assert sorted({p % 12 for p in kept}) == [0, 2, 4, 5, 7, 9, 11]
    assert mask[:PITCH_BASE].all() and mask[DURATION_BASE:].all()
    minor = {p % 12 for p in range(MIN_PITCH, MIN_PITCH + 88) if key_mask(Key(9, True))[pitch(p)]}
    assert minor == {9, 11, 0, 2, 4, 5, 7, 8}  # A minor with its leading note G#


@pytest.mark.parametrize(
    "pitches, key",
    [
        ([60, 62, 64, 65, 67, 69, 71, 72, 67, 64, 60], Key(0, False)),  # C major scale
        ([57, 60, 64, 69, 68, 64, 59, 57, 62, 65, 64, 57], Key(9, True)),  # A minor
        ([62, 66, 69, 74, 73, 71, 69, 66, 64, 62], Key(2, False)),  # D major
    ],
)
def test_estimate_key(pitches, key):
    assert estimate_key(np.array(pitches)) == key


def test_estimate_key_of_nothing_is_none():
    assert estimate_key(np.array([], dtype=int)) is None


@pytest.mark.parametrize(
    "recent, repeats, expected",
    [
        ([60, 60, 60, 60], 4, 60),  # the same note a fifth time
        ([60, 60, 60], 4, None),
        ([62, 60, 60, 60, 60], 4, 60),
        ([60, 62, 60, 62, 60, 62, 60, 62], 4, 60),  # a two-note figure, fifth time round
        ([60, 62, 64] * 4, 4, 60),
        ([60, 62, 64] * 3, 4, None),
        ([60, 62, 64, 65] * 4, 4, 60),
        ([60, 62, 64, 65, 67] * 4, 4, 60),
        ([60, 62, 64, 65, 67] * 3 + [60, 62, 64, 65], 4, None),
        (list(range(40, 48)) * 4, 4, 40),  # an 8-note figure, fifth time round
        (list(range(40, 40 + MAX_FIGURE)) * 4, 4, 40),  # two bars of 16ths and more
        (list(range(30, 31 + MAX_FIGURE)) * 4, 4, None),  # longer figures are music, not a loop
        ([60] * 10, 0, None),  # guard off
        ([1, 2, 60, 60], 2, 60),
    ],
)
def test_loop_guard(recent, repeats, expected):
    assert LoopGuard(recent).avoid(repeats) == expected


def test_loop_guard_agrees_with_its_definition_on_random_melodies():
    def by_definition(recent, repeats):
        for period in range(1, MAX_FIGURE + 1):
            tail = recent[-period * repeats :]
            if len(tail) < period * repeats:
                return None
            figure = tail[:period]
            if tail == figure * repeats and not (period > 1 and len(set(figure)) == 1):
                return tail[-period]
        return None

    rng = np.random.default_rng(11)
    for _ in range(3000):
        period, repeats = int(rng.choice([1, 2, 3, 5, 8, 13, 47, 48, 49])), int(rng.integers(1, 5))
        figure = [int(p) for p in rng.integers(60, 63, period)]
        melody = [int(p) for p in rng.integers(60, 63, int(rng.integers(0, 4)))] + figure * int(rng.integers(1, 6))
        melody = melody[: len(melody) - int(rng.integers(0, 2))]
        assert LoopGuard(melody).avoid(repeats) == by_definition(melody, repeats), (melody, repeats)
        # Fed note by note, the guard agrees at every step.
        guard = LoopGuard()
        for i, note in enumerate(melody):
            guard.feed(note)
            if i % 7 == 0 or i == len(melody) - 1:
                assert guard.avoid(repeats) == by_definition(melody[: i + 1], repeats)


def test_avoided_pitch_is_masked():
    mask = allowed_tokens(SHIFT_BASE, avoid_pitch=60)
    assert not mask[pitch(60)] and mask[pitch(61)]


def test_temperature_sharpens_and_flattens():
    logits = np.zeros(VOCAB_SIZE)
    logits[pitch(60)], logits[pitch(62)] = 2.0, 1.0
    mask = allowed_tokens(SHIFT_BASE)
    cold = probabilities(logits, mask, SamplingSettings(temperature=0.25))
    warm = probabilities(logits, mask, SamplingSettings(temperature=1.0))
    hot = probabilities(logits, mask, SamplingSettings(temperature=4.0))
    assert cold[pitch(60)] > warm[pitch(60)] > hot[pitch(60)]
    ratio = warm[pitch(60)] / warm[pitch(62)]
    assert ratio == pytest.approx(np.e)
    for p in (cold, warm, hot):
        assert p.sum() == pytest.approx(1.0)
        assert not p[~mask].any()


def test_top_k_keeps_k_tokens():
    logits = np.random.default_rng(0).standard_normal(VOCAB_SIZE)
    mask = allowed_tokens(SHIFT_BASE)
    p = probabilities(logits, mask, SamplingSettings(top_k=5))
    assert np.count_nonzero(p) == 5
    assert set(np.flatnonzero(p)) == set(np.argsort(np.where(mask, logits, -np.inf))[-5:])


def test_top_p_keeps_the_smallest_set_reaching_p():
    logits = np.full(VOCAB_SIZE, -50.0)
    logits[[10, 11, 12, 13]] = np.log([0.5, 0.3, 0.15, 0.05])
    mask = np.ones(VOCAB_SIZE, bool)
    p = probabilities(logits, mask, SamplingSettings(top_p=0.75))
    assert set(np.flatnonzero(p)) == {10, 11}
    assert p[10] == pytest.approx(0.5 / 0.8)


@pytest.mark.parametrize(
    "settings",
    [
        SamplingSettings(),
        SamplingSettings(top_p=0.9),
        SamplingSettings(temperature=0.8, top_k=20, top_p=0.9),
        SamplingSettings(temperature=1.5, top_k=3),
    ],
    ids=["plain", "top-p", "structured", "top-k-3"],
)
def test_seeded_sampling_repeats_and_follows_probabilities(settings):
    logits = np.random.default_rng(0).standard_normal(VOCAB_SIZE) * 2
    mask = allowed_tokens(SHIFT_BASE)
    draw = lambda seed: [sample(logits, mask, settings, np.random.default_rng(seed)) for _ in range(3)]
    assert draw(7) == draw(7)
    rng = np.random.default_rng(1)
    draws = np.array([sample(logits, mask, settings, rng) for _ in range(20000)])
    expected = probabilities(logits, mask, settings)
    seen = np.bincount(draws, minlength=VOCAB_SIZE) / len(draws)
    # Rejection sampling draws from the cut-down distribution itself: nothing
    # outside it, and frequencies within sampling noise of it.
    assert not seen[expected == 0].any()
    assert 0.5 * np.abs(seen - expected).sum() < 0.04
    top = int(np.argmax(expected))
    assert seen[top] == pytest.approx(expected[top], abs=0.02)


def test_sampling_with_a_tiny_nucleus_falls_back_to_cutting_it_down():
    logits = np.zeros(VOCAB_SIZE)  # flat: top-1 holds under 1 % of the mass
    logits[pitch(64)] = 1e-6
    mask = allowed_tokens(SHIFT_BASE)
    rng = np.random.default_rng(3)
    assert {sample(logits, mask, SamplingSettings(top_k=1), rng) for _ in range(50)} == {pitch(64)}


def test_shifts_land_on_the_phrase_grid():
    swung = frozenset({0, 8})
    on_the_beat = allowed_tokens(DURATION_BASE, grid=swung, position=0)
    landing = {t: bool(on_the_beat[SHIFT_BASE + t - 1]) for t in (4, 6, 8, 12, 20, 24, 48)}
    assert landing == {4: False, 6: False, 8: True, 12: True, 20: True, 24: True, 48: True}
    after_the_offbeat = allowed_tokens(DURATION_BASE, grid=swung, position=8)
    assert after_the_offbeat[SHIFT_BASE + 4 - 1] and not after_the_offbeat[SHIFT_BASE + 8 - 1]
    # Only shifts are touched; without a grid every shift may follow.
    assert np.array_equal(on_the_beat[PITCH_BASE:], allowed_tokens(DURATION_BASE)[PITCH_BASE:])
    assert allowed_tokens(DURATION_BASE)[SHIFT_BASE:PITCH_BASE].all()


def test_a_chord_goes_up_and_stops_at_eight_notes():
    mask = allowed_tokens(DURATION_BASE, chord=(2, 64))
    assert not mask[pitch(64)] and not mask[pitch(60)] and mask[pitch(65)]
    assert mask[SHIFT_BASE] and mask[VELOCITY_BASE]
    full = allowed_tokens(DURATION_BASE, chord=(8, 80))
    assert not full[PITCH_BASE:DURATION_BASE].any() and not full[VELOCITY_BASE:].any()
    assert full[SHIFT_BASE:PITCH_BASE].all()
