"""The answers benchmark's measures, on answers whose figures are known."""

import numpy as np
import pytest
from answer_measures import (
    histogram_overlap,
    in_key_share,
    interval_histogram,
    longest_copy,
    measure,
    most_repeats,
    notes_per_beat,
    onset_in_beat_histogram,
    pitch_class_histogram,
    register_distance,
    style_overlaps,
    take_difference,
    texture_histogram,
    voices,
)

from neuraltunes_live.core.keys import Key

from .conftest import notes

C_MAJOR = Key(0, False).pitch_classes


def line(*pitches, step=12, start=0, length=None):
    """One note after another, ``step`` ticks apart."""
    return notes(*[(start + i * step, p, length or step, 80) for i, p in enumerate(pitches)])


def test_in_key_share_counts_the_notes_in_the_scale():
    assert in_key_share(line(60, 62, 64, 66), C_MAJOR) == 0.75  # F# is out
    assert in_key_share(line(60, 61, 63, 66), C_MAJOR) == 0.25
    assert in_key_share(line(), C_MAJOR) == 0.0


def test_register_distance_is_between_median_pitches():
    assert register_distance(line(72, 74, 76), line(60, 62, 64)) == 12
    assert register_distance(line(57, 59), line(60, 62, 64)) == 4  # 58 against 62


def test_notes_per_beat_over_the_span_or_a_given_length():
    assert notes_per_beat(line(60, 62, 64, 65, step=6)) == 2.0  # four eighths over two beats
    assert notes_per_beat(line(60, 62, step=12), beats=8) == 0.25


def test_voices_of_a_line_chords_and_a_held_bass():
    assert voices(line(60, 62, 64)) == 1.0
    chords = notes(*[(24 * i, p, 24, 80) for i in range(2) for p in (48, 64, 67, 72)])
    assert voices(chords) == 4.0
    # A bass held for a bar under four quarter notes: two notes sound at every onset.
    held = np.vstack([notes((0, 36, 48, 80)), line(60, 62, 64, 65)])
    assert voices(held) == 2.0


def test_longest_copy_needs_pitch_and_rhythm():
    phrase = line(60, 62, 64, 65, 67)
    assert longest_copy(line(72, 62, 64, 65, 71), phrase) == 3  # D E F, in the phrase's rhythm
    assert longest_copy(line(62, 64, 65, step=6), phrase) == 1  # the same notes twice as fast
    assert longest_copy(line(50, 52), phrase) == 0
    assert longest_copy(phrase, phrase) == 5


def test_take_difference_is_zero_for_equal_takes_and_one_for_disjoint():
    a, b = line(60, 62, 64), line(61, 63, 65)
    assert take_difference([a, a, a]) == 0.0
    assert take_difference([a, b]) == 1.0
    assert take_difference([a, line(60, 62, 65)]) == pytest.approx(1 - 2 / 4)


def test_most_repeats_finds_the_longest_run_of_one_figure():
    figure = [60, 64, 67, 64, 62, 65, 69, 65]  # eight eighth notes: a bar
    played = line(*(figure * 5 + [72, 71]), step=6)
    assert most_repeats(played, max_ticks=96) == (5, 8)
    # Too long a figure for the limit: only shorter repeats count.
    assert most_repeats(played, max_ticks=24)[0] == 1
    # A repeated note is a figure of one note.
    assert most_repeats(line(60, 60, 60, 62), max_ticks=96) == (3, 1)
    assert most_repeats(line(60, 62, 64, 65, 67), max_ticks=96) == (1, 1)


def test_most_repeats_tells_rhythm_apart():
    straight = line(*([60, 62] * 4), step=6)
    swung = notes(*[(12 * i + (8 if j else 0), p, 4, 80) for i in range(4) for j, p in enumerate((60, 62))])
    assert most_repeats(straight, max_ticks=96)[0] == 4
    assert most_repeats(swung, max_ticks=96)[0] == 4
    mixed = np.vstack([straight[:4], swung[4:] + [0, 0, 0, 0]])
    assert most_repeats(mixed, max_ticks=96)[0] < 4


def test_measure_of_a_copy_of_the_phrase_one_octave_up():
    phrase = line(60, 62, 64, 65, 67, 65, 64, 62)  # 8 quarter notes: 8 beats
    answer = phrase.copy()
    answer[:, 0] += 96
    answer[:, 1] += 12
    m = measure(answer, phrase, C_MAJOR, answer_beats=8)
    assert m.in_key == 1.0 and m.register_distance == 12 and m.on_grid == 1.0
    assert m.density_ratio == 1.0 and m.voices_ratio == 1.0
    assert m.longest_copy == 0  # an octave up is not the same pitches


def test_measure_of_a_swung_phrase_answered_straight():
    swung = notes(*[(12 * i + (8 if j else 0), p, 4, 80) for i in range(4) for j, p in enumerate((60, 64))])
    straight = line(*([60, 64] * 4), step=6)
    assert measure(straight, swung, C_MAJOR, answer_beats=4).on_grid == 0.5  # the offbeats are early
    assert measure(swung, swung, C_MAJOR, answer_beats=4).on_grid == 1.0


def test_histogram_overlap_is_one_for_one_shape_and_zero_for_none_in_common():
    assert histogram_overlap(np.array([1.0, 3.0, 0.0]), np.array([2.0, 6.0, 0.0])) == pytest.approx(1.0)
    assert histogram_overlap(np.array([1.0, 0.0]), np.array([0.0, 5.0])) == 0.0
    assert histogram_overlap(np.array([1.0, 1.0]), np.array([1.0, 0.0])) == pytest.approx(0.5)
    assert np.isnan(histogram_overlap(np.zeros(3), np.array([1.0, 0.0, 0.0])))


def test_style_histograms_of_a_known_texture():
    # C E G as quarter notes over a C2 bass that ends before the "and" of beat 4, where a leap goes up to C6.
    bars = np.vstack([notes((0, 36, 40, 80)), line(60, 64, 67), notes((42, 84, 6, 80))])
    pcs = pitch_class_histogram(bars)
    assert pcs[0] == 3 and pcs[4] == 1 and pcs[7] == 1 and pcs.sum() == 5
    # The top line: 60 (over the bass), 64, 67, 84 → steps +4, +3, +17 (an octave and more: the end bin).
    steps = interval_histogram(bars)
    assert steps.sum() == 3 and steps[12 + 4] == 1 and steps[12 + 3] == 1 and steps[24] == 1
    onsets = onset_in_beat_histogram(bars)
    assert onsets[0] == 3 and onsets[6] == 1 and onsets.sum() == 4  # three on beats, one on an offbeat
    # Sounding at each onset: bass + C, bass + E, bass + G (two each), and the high C alone (the bass has ended).
    texture = texture_histogram(bars)
    assert texture[1] == 3 and texture[0] == 1 and texture.sum() == 4


def test_style_overlaps_of_the_same_bars_transposed_keep_rhythm_and_texture_only():
    real = line(60, 62, 64, 67, step=6)
    moved = real.copy()
    moved[:, 1] += 1  # a semitone up: no pitch class in common
    overlaps = style_overlaps(moved, real)
    assert overlaps["pitch_classes"] == 0.0
    assert overlaps["intervals"] == pytest.approx(1.0)
    assert overlaps["onsets_in_beat"] == pytest.approx(1.0) and overlaps["texture"] == pytest.approx(1.0)
    assert style_overlaps(real, real) == pytest.approx(dict.fromkeys(overlaps, 1.0))
