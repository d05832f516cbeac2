"""The rhythmic grid of a phrase: straight, swung, triplet or 16th-note feel.

A grid is the set of positions within the beat (in ticks, ``TICKS_PER_BEAT``
to the beat) where notes may start. A phrase's grid is the first of ``GRIDS``
that holds at least ``GRID_SHARE`` of its onsets: quarters and eighths are on
the eighths grid, a swung riff (long-short, 8 + 4 ticks) on the swung grid, a
jig in eighth triplets on the triplet grid. Answers keep the phrase's grid
(``sampling``), and the answers benchmark measures how well they do.
"""

from __future__ import annotations

import numpy as np

from neuraltunes_live.core.notes import ONSET, TICKS_PER_BEAT

Grid = frozenset[int]

#: Rhythmic grids, coarsest first: positions within the beat, in ticks.
GRIDS: tuple[tuple[str, Grid], ...] = (
    ("eighths", frozenset({0, 6})),
    ("swung eighths", frozenset({0, 8})),
    ("triplets", frozenset({0, 4, 8})),
    ("sixteenths", frozenset({0, 3, 6, 9})),
    ("sextuplets", frozenset({0, 2, 4, 6, 8, 10})),
    ("any", frozenset(range(TICKS_PER_BEAT))),
)
#: Share of a phrase's onsets a grid must hold to be the phrase's grid.
GRID_SHARE = 0.9


def phrase_grid(notes: np.ndarray) -> tuple[str, Grid]:
    """The name and positions of the coarsest grid holding ``GRID_SHARE`` of the onsets."""
    positions = np.asarray(notes).reshape(-1, 4)[:, ONSET] % TICKS_PER_BEAT
    for name, grid in GRIDS:
        if len(positions) == 0 or np.isin(positions, list(grid)).mean() >= GRID_SHARE:
            return name, grid
    return GRIDS[-1]


def on_grid_share(notes: np.ndarray, grid: Grid) -> float:
    """Share of the distinct onsets of ``notes`` that fall on ``grid``."""
    onsets = np.unique(np.asarray(notes).reshape(-1, 4)[:, ONSET])
    if len(onsets) == 0:
        return 0.0
    return float(np.isin(onsets % TICKS_PER_BEAT, list(grid)).mean())
