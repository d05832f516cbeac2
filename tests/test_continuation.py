"""Continuing a phrase with a scripted model: timing, completeness, key, loop guard."""

import numpy as np

from neuraltunes_live.core.continuation import MAX_PRIME_NOTES, Continuer, continue_notes, phrase_tokens
from neuraltunes_live.core.encoding import (
    BOS,
    DURATION_BASE,
    PITCH_BASE,
    SHIFT_BASE,
    decode,
)
from neuraltunes_live.core.keys import Key
from neuraltunes_live.core.notes import DURATION, ONSET, PITCH
from neuraltunes_live.core.sampling import SamplingSettings

from .conftest import notes
from .fakes import ScriptedModel, duration, pitch, quarter_notes_of, shift, straight_eighths_of
from .floats import assert_close

GREEDY = SamplingSettings(temperature=0.05, max_repeats=0)


def test_primes_on_bos_and_the_phrase_without_eos():
    phrase = notes((0, 60, 12, 72), (12, 62, 12, 72))  # 72: a velocity bin's own value
    tokens, moved = phrase_tokens(phrase)
    assert tokens[0] == BOS and moved == 0
    np.testing.assert_array_equal(decode(tokens), phrase)


def test_long_phrase_is_cut_to_its_last_notes_moved_by_whole_bars():
    phrase = notes(*[(12 * i, 60 + i % 12, 12, 72) for i in range(MAX_PRIME_NOTES + 100)])
    tokens, moved = phrase_tokens(phrase)
    assert moved % 48 == 0 and moved > 0
    decoded = decode(tokens)
    assert len(decoded) == MAX_PRIME_NOTES
    np.testing.assert_array_equal(decoded[:, ONSET] + moved, phrase[-MAX_PRIME_NOTES:, ONSET])
    np.testing.assert_array_equal(decoded[:, PITCH], phrase[-MAX_PRIME_NOTES:, PITCH])


def test_continuation_follows_the_model_in_time_and_stops_at_the_bar():
    model = ScriptedModel(quarter_notes_of(67))
    phrase = notes((0, 60, 12, 80), (12, 64, 12, 80), (24, 62, 24, 80))
    out = continue_notes(model, phrase, bars=2, settings=GREEDY, rng=np.random.default_rng(0))
    # The phrase ends at tick 48; two bars more end at 144; the model plays
    # a quarter note each beat after the phrase's last onset (24).
    np.testing.assert_array_equal(out[:, ONSET], np.arange(36, 144, 12))
    assert set(out[:, PITCH]) == {67} and set(out[:, DURATION]) == {12}
    assert model.primed_with[0] == BOS


def test_every_sampled_note_is_complete_even_from_a_model_that_wants_no_durations():
    # This model never asks for a duration: the grammar mask forces one.
    model = ScriptedModel(lambda t: shift(6) if PITCH_BASE <= t < DURATION_BASE else pitch(70), strength=5)
    continuer = Continuer(model, np.random.default_rng(1))
    continuer.prime(notes((0, 60, 12, 80)))
    tokens = []
    for _ in range(60):
        tokens.append(continuer.peek(SamplingSettings()))
        continuer.take(tokens[-1])
    after_pitch = [tokens[i + 1] for i in range(len(tokens) - 1) if PITCH_BASE <= tokens[i] < DURATION_BASE]
    assert after_pitch and all(DURATION_BASE <= t < DURATION_BASE + 96 for t in after_pitch)
    # ...and a duration never comes anywhere else.
    assert all(
        PITCH_BASE <= tokens[i - 1] < DURATION_BASE
        for i in range(1, len(tokens))
        if DURATION_BASE <= tokens[i] < DURATION_BASE + 96
    )


def test_key_mask_keeps_notes_in_the_phrases_key():
    model = ScriptedModel(quarter_notes_of(61))  # C#: outside C major
    phrase = notes(*[(12 * i, p, 12, 80) for i, p in enumerate([60, 62, 64, 65, 67, 69, 71, 72])])
    free = continue_notes(model, phrase, bars=1, settings=GREEDY, rng=np.random.default_rng(0))
    masked = continue_notes(model, phrase, bars=1, settings=GREEDY, rng=np.random.default_rng(0), key=True)
    assert set(free[:, PITCH]) == {61}
    assert len(masked) and not ({p % 12 for p in masked[:, PITCH]} & {1, 3, 6, 8, 10})
    named = continue_notes(
        model, phrase, bars=1, settings=GREEDY, rng=np.random.default_rng(0), key=Key(2, False)
    )  # D major holds C#
    assert set(named[:, PITCH]) == {61}


def test_loop_guard_breaks_a_model_stuck_on_one_note():
    model = ScriptedModel(quarter_notes_of(60))
    settings = SamplingSettings(temperature=0.05, max_repeats=3)
    out = continue_notes(model, notes((0, 50, 12, 80)), bars=4, settings=settings, rng=np.random.default_rng(0))
    pitches = out[np.argsort(out[:, ONSET], kind="stable"), PITCH].tolist()
    longest = max(len(run) for run in "".join("x" if p == 60 else " " for p in pitches).split(" "))
    assert longest == 3
    assert pitches.count(60) > len(pitches) // 2  # it still plays what the model wants most


def test_a_swung_phrase_is_answered_swung():
    # The model knows only straight eighths; the phrase swings (8 + 4 ticks).
    model = ScriptedModel(straight_eighths_of(67), strength=12.0)
    swung = notes(*[(12 * i + (8 if j else 0), p, 4, 80) for i in range(4) for j, p in enumerate((60, 64))])
    settings = SamplingSettings(max_repeats=0, keep_grid=True)
    out = continue_notes(model, swung, bars=2, settings=settings, rng=np.random.default_rng(2))
    assert len(out) >= 8 and set((out[:, ONSET] % 12).tolist()) <= {0, 8}
    free = continue_notes(model, swung, bars=2, settings=SamplingSettings(max_repeats=0), rng=np.random.default_rng(2))
    assert not set((free[:, ONSET] % 12).tolist()) <= {0, 8}  # without the grid it plays straight


def test_a_model_that_wants_endless_chords_still_moves_on():
    # After every duration this model wants another pitch at the same tick.
    model = ScriptedModel(lambda t: duration(12) if PITCH_BASE <= t < DURATION_BASE else pitch(60), strength=8)
    out = continue_notes(
        model, notes((0, 48, 12, 80)), bars=2, settings=SamplingSettings(), rng=np.random.default_rng(3)
    )
    assert len(out) > 0
    for onset in np.unique(out[:, ONSET]):
        chord = out[out[:, ONSET] == onset, PITCH]
        assert len(chord) <= 8 and len(set(chord.tolist())) == len(chord)


def test_settings_are_read_at_every_token():
    model = ScriptedModel(quarter_notes_of(72), strength=2.0)
    continuer = Continuer(model, np.random.default_rng(0))
    continuer.prime(notes((0, 60, 12, 80)))
    cold = SamplingSettings(temperature=0.05, max_repeats=0)
    hot = SamplingSettings(temperature=5.0, max_repeats=0)
    first = list(continuer.notes_until(continuer.clock + 48 * 4, cold))
    second = list(continuer.notes_until(continuer.clock + 48 * 4, hot))
    assert {n[1] for n in first} == {72}
    assert len({n[1] for n in second}) > 3


def test_priming_as_the_phrase_is_played_gives_the_same_state_as_priming_it_whole(random_model_dir):
    from neuraltunes_live.core.continuation import PrimeCache
    from neuraltunes_live.core.model_files import load_model

    from .conftest import synthetic_tune

    model = load_model(random_model_dir)
    tune = synthetic_tune(3)[:24]
    whole = Continuer(model, np.random.default_rng(0))
    whole.prime(tune)

    calls = []

    class Counting:
        def __init__(self, inner):
            self.inner = inner

        def prime(self, tokens, state=None):
            calls.append(len(tokens))
            return self.inner.prime(tokens, state)

        def step(self, token, state):
            return self.inner.step(token, state)

    counting = Counting(model)
    cache = PrimeCache(counting)
    for n in range(1, len(tune) + 1):  # as each note ends
        cache.prime(phrase_tokens(tune[:n])[0])
    # A changed note (the 20th struck a semitone higher) re-primes from the snapshot before it.
    changed = tune.copy()
    changed[19, PITCH] += 1
    cache.prime(phrase_tokens(changed)[0])
    cache.prime(phrase_tokens(tune)[0])
    primed_before = sum(calls)
    played = Continuer(counting, np.random.default_rng(0))
    played.prime(tune, cache=cache)
    assert sum(calls) == primed_before  # nothing left to prime at the end
    assert_close(played.logits, whole.logits)
    for (h1, c1), (h2, c2) in zip(played.state.layers, whole.state.layers):
        assert_close(h1, h2)
        assert_close(c1, c2)
    assert played.state.last_pitch == whole.state.last_pitch
    assert [played.take(t) for t in (SHIFT_BASE, pitch(70), duration(6))] == [
        whole.take(t) for t in (SHIFT_BASE, pitch(70), duration(6))
    ]
    assert max(calls) < len(phrase_tokens(tune)[0])  # never the whole phrase at once
