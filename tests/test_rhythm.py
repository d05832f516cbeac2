"""A phrase's rhythmic grid."""

import pytest

from neuraltunes_live.core.rhythm import on_grid_share, phrase_grid

from .conftest import notes


def onsets(*ticks):
    return notes(*[(t, 60, 2, 80) for t in ticks])


@pytest.mark.parametrize(
    "ticks, grid",
    [
        ((0, 12, 24, 36), "eighths"),  # quarters: eighths is the coarsest grid
        ((0, 6, 12, 18, 24), "eighths"),
        ((0, 8, 12, 20, 24, 32), "swung eighths"),
        ((0, 4, 8, 12, 16, 20), "triplets"),
        ((0, 3, 6, 9, 12, 18), "sixteenths"),
        ((0, 2, 4, 6, 8, 10), "sextuplets"),
        ((0, 1, 5, 7, 11), "any"),
        # One stray onset in ten is forgiven (90 %).
        ((0, 8, 12, 20, 24, 32, 36, 44, 48, 51), "swung eighths"),
    ],
)
def test_the_coarsest_grid_holding_the_onsets(ticks, grid):
    assert phrase_grid(onsets(*ticks))[0] == grid


def test_on_grid_share_counts_distinct_onsets():
    swung = phrase_grid(onsets(0, 8, 12, 20))[1]
    chord_and_straight = notes((0, 60, 6, 80), (0, 64, 6, 80), (6, 62, 6, 80), (12, 60, 6, 80))
    assert on_grid_share(chord_and_straight, swung) == pytest.approx(2 / 3)
    assert on_grid_share(notes(), swung) == 0.0
