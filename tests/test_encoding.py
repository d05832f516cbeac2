"""Event encoding: vocabulary, round trips, normalization rules, transposition."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from neuraltunes_live.core import encoding as enc
from neuraltunes_live.core.encoding import (
    BIN_VELOCITY,
    Decoder,
    decode,
    encode,
    normalize,
    token_kind,
    token_name,
    transpose,
    transposition_range,
)
from neuraltunes_live.core.notes import TICKS_PER_BEAT

from .conftest import notes

V = int(BIN_VELOCITY[4])  # a velocity that is its own bin's representative


def test_vocabulary_ranges_are_contiguous_and_disjoint():
    kinds = [token_kind(t) for t in range(enc.VOCAB_SIZE)]
    assert kinds[:3] == ["pad", "bos", "eos"]
    assert kinds.count("shift") == enc.MAX_SHIFT
    assert kinds.count("pitch") == enc.MAX_PITCH - enc.MIN_PITCH + 1
    assert kinds.count("duration") == enc.MAX_DURATION
    assert kinds.count("velocity") == enc.VELOCITY_BINS
    with pytest.raises(ValueError, match="outside the vocabulary"):
        token_kind(enc.VOCAB_SIZE)


def test_monophonic_line_with_rest_encodes_to_expected_tokens():
    line = notes((0, 60, 12, V), (12, 62, 6, V), (24, 64, 12, V))  # quarter, eighth + rest, quarter
    names = [token_name(t) for t in encode(line)]
    assert names == [
        "BOS",
        "VELOCITY(4)",
        "PITCH(60)",
        "DURATION(12)",
        "SHIFT(12)",
        "PITCH(62)",
        "DURATION(6)",
        "SHIFT(12)",
        "PITCH(64)",
        "DURATION(12)",
        "EOS",
    ]
    assert np.array_equal(decode(encode(line)), line)


def test_chord_is_pitches_without_shift_low_to_high():
    chord = notes((0, 67, 24, V), (0, 60, 24, V), (0, 64, 12, V))
    names = [token_name(t) for t in encode(chord)]
    assert names[2:8] == ["PITCH(60)", "DURATION(24)", "PITCH(64)", "DURATION(12)", "PITCH(67)", "DURATION(24)"]
    assert np.array_equal(decode(encode(chord)), normalize(chord))


def test_triplets_and_sixteenths_are_exact():
    triplet = TICKS_PER_BEAT // 3
    sixteenth = TICKS_PER_BEAT // 4
    line = notes(
        *[(i * triplet, 60 + i, triplet, V) for i in range(3)],
        *[(TICKS_PER_BEAT + i * sixteenth, 70 + i, sixteenth, V) for i in range(4)],
    )
    assert np.array_equal(decode(encode(line)), line)


def test_velocity_token_only_when_the_bin_changes():
    soft, loud = int(BIN_VELOCITY[1]), int(BIN_VELOCITY[6])
    line = notes((0, 60, 3, soft), (3, 62, 3, soft), (6, 64, 3, loud), (9, 65, 3, loud))
    tokens = encode(line)
    assert [token_name(t) for t in tokens if token_kind(t) == "velocity"] == ["VELOCITY(1)", "VELOCITY(6)"]
    assert decode(tokens)[:, 3].tolist() == [soft, soft, loud, loud]


def test_velocities_quantize_to_their_bin_representative():
    played = notes(*[(i, 60, 1, v) for i, v in enumerate([1, 50, 64, 100, 127])])
    decoded = decode(encode(played))
    expected = [int(BIN_VELOCITY[enc.velocity_bin(v)]) for v in [1, 50, 64, 100, 127]]
    assert decoded[:, 3].tolist() == expected


def test_gap_longer_than_one_shift_uses_several_shifts_exactly():
    gap = enc.MAX_SHIFT + 5
    line = notes((0, 60, 1, V), (gap, 62, 1, V))
    shifts = [token_name(t) for t in encode(line) if token_kind(t) == "shift"]
    assert shifts == [f"SHIFT({enc.MAX_SHIFT})", "SHIFT(5)"]
    assert np.array_equal(decode(encode(line)), line)


# Normalization rules, one test each, in the order of the docstring.


def test_rule1_pitches_out_of_range_move_by_octaves():
    wild = notes((0, 5, 1, V), (1, 20, 1, V), (2, 109, 1, V), (3, 127, 1, V))
    assert normalize(wild)[:, 1].tolist() == [29, 32, 97, 103]


def test_rule4_same_pitch_same_onset_keeps_longest_and_loudest():
    doubled = notes((0, 60, 5, 30), (0, 60, 9, 30), (0, 60, 9, 120))
    assert normalize(doubled).tolist() == [[0, 60, 9, int(BIN_VELOCITY[enc.velocity_bin(120)])]]


def test_rule5_big_chord_keeps_bass_and_top_notes():
    cluster = notes(*[(0, 40 + 2 * i, 12, V) for i in range(12)])
    kept = normalize(cluster)[:, 1].tolist()
    assert len(kept) == enc.MAX_CHORD
    assert kept == [40] + [40 + 2 * i for i in range(12 - (enc.MAX_CHORD - 1), 12)]


def test_rule6_long_silence_is_shortened_and_later_notes_follow():
    line = notes((0, 60, 12, V), (500, 62, 12, V), (512, 64, 12, V))
    assert normalize(line)[:, 0].tolist() == [0, enc.MAX_GAP, enc.MAX_GAP + 12]


def test_rule7_durations_clamp_into_range():
    line = notes((0, 60, 0, V), (10, 62, 1000, V))
    assert normalize(line)[:, 2].tolist() == [1, enc.MAX_DURATION]


def test_rule8_repeated_pitch_cuts_the_sounding_note():
    line = notes((0, 60, 24, V), (6, 60, 12, V))
    assert normalize(line).tolist() == [[0, 60, 6, V], [6, 60, 12, V]]


note_rows = st.tuples(st.integers(-20, 2000), st.integers(0, 127), st.integers(-5, 300), st.integers(0, 127))


@settings(max_examples=200, deadline=None)
@given(st.lists(note_rows, max_size=60))
def test_any_notes_round_trip_to_their_normal_form(rows):
    raw = notes(*rows)
    normal = normalize(raw)
    assert np.array_equal(normalize(normal), normal)  # idempotent
    assert np.array_equal(decode(encode(raw)), normal)
    if len(normal):
        assert normal[:, 1].min() >= enc.MIN_PITCH and normal[:, 1].max() <= enc.MAX_PITCH
        assert normal[:, 2].min() >= 1 and normal[:, 2].max() <= enc.MAX_DURATION


@settings(max_examples=100, deadline=None)
@given(st.lists(note_rows, max_size=40))
def test_normal_form_is_already_exact(rows):
    normal = normalize(notes(*rows))
    assert np.array_equal(decode(encode(normal)), normal)


def test_transpose_moves_every_pitch_and_nothing_else():
    line = notes((0, 60, 12, V), (0, 64, 12, V), (12, 67, 6, V))
    tokens = encode(line)
    up = decode(transpose(tokens, 5))
    assert up[:, 1].tolist() == [65, 69, 72]
    assert np.array_equal(up[:, [0, 2, 3]], line[:, [0, 2, 3]])


def test_transpose_refuses_to_leave_the_range():
    tokens = encode(notes((0, 22, 1, V), (1, 100, 1, V)))
    assert transposition_range(tokens) == (-1, 8)
    with pytest.raises(ValueError, match="allow -1..8"):
        transpose(tokens, 9)


def test_streaming_decoder_gives_each_note_when_its_duration_arrives():
    tokens = encode(notes((0, 60, 12, V), (12, 62, 12, V)))
    decoder = Decoder()
    completed = [decoder.feed(t) for t in tokens]
    finished = [(i, n) for i, n in enumerate(completed) if n is not None]
    assert [n for _, n in finished] == [(0, 60, 12, V), (12, 62, 12, V)]
    assert all(token_kind(tokens[i]) == "duration" for i, _ in finished)


def test_decoder_drops_tokens_out_of_grammar():
    p = lambda pitch: enc.PITCH_BASE + pitch - enc.MIN_PITCH  # noqa: E731
    d = lambda ticks: enc.DURATION_BASE + ticks - 1  # noqa: E731
    shift = enc.SHIFT_BASE + 3 - 1
    tokens = [enc.BOS, d(4), p(60), p(62), d(6), p(64), shift, d(2), enc.PAD, enc.EOS]
    # d(4) has no pitch; p(60) is followed by a pitch; p(64) by a shift.
    assert decode(tokens)[:, :3].tolist() == [[0, 62, 6]]
    with pytest.raises(ValueError):
        Decoder().feed(enc.VOCAB_SIZE + 1)


def test_note_count_counts_durations():
    line = notes((0, 60, 1, V), (0, 64, 1, V), (3, 67, 1, V))
    assert enc.note_count(encode(line)) == 3
