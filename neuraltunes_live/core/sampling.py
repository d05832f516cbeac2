"""Choosing the next event from the model's logits.

Pure functions of logits, settings and a seeded ``numpy.random.Generator``:

- **grammar**: after a pitch only a duration may follow, and a duration only
  after a pitch, so every sampled note is complete; the notes of a chord go
  up from the lowest, as the encoding writes them, and at most ``MAX_CHORD``
  start together, so time always moves on; BOS and PAD are never chosen, and
  EOS only where the caller allows it;
- **key mask**: pitches outside a scale are removed (the key of the played
  phrase, or a named one);
- **rhythmic grid**: with ``keep_grid``, a time shift may only land on the
  phrase's grid (``rhythm.py``), so a swung phrase is answered swung and a
  jig in triplets;
- **loop guard**: a pitch that would repeat the same note, or the same figure
  of up to ``MAX_FIGURE`` notes (two bars of 16th notes and more), more than
  ``max_repeats`` times in a row is removed, so the output cannot circle for
  ever (``LoopGuard`` keeps it up to date note by note);
- then **temperature**, **top-k** and **top-p** (nucleus) on what is left.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from neuraltunes_live.core.encoding import (
    BOS,
    DURATION_BASE,
    EOS,
    MAX_CHORD,
    MAX_PITCH,
    MAX_SHIFT,
    MIN_PITCH,
    PAD,
    PITCH_BASE,
    SHIFT_BASE,
    VELOCITY_BASE,
    VOCAB_SIZE,
)
from neuraltunes_live.core.keys import Key
from neuraltunes_live.core.notes import TICKS_PER_BEAT

MAX_FIGURE = 48  # longest figure (in notes) the loop guard looks for


@functools.lru_cache(maxsize=64)
def _key_mask(key: Key) -> np.ndarray:
    mask = np.ones(VOCAB_SIZE, dtype=bool)
    pitches = np.arange(MIN_PITCH, MAX_PITCH + 1)
    mask[PITCH_BASE:DURATION_BASE] = np.isin(pitches % 12, list(key.pitch_classes))
    mask.flags.writeable = False  # shared between calls
    return mask


def key_mask(key: Key) -> np.ndarray:
    """Boolean mask over the vocabulary: False for pitches outside ``key``."""
    return _key_mask(key).copy()


@dataclass(frozen=True)
class SamplingSettings:
    temperature: float = 1.0
    top_k: int = 0  # 0: no limit
    top_p: float = 1.0  # 1: no limit
    max_repeats: int = 4  # the loop guard; 0 turns it off
    keep_grid: bool = False  # time shifts land only on the phrase's rhythmic grid


class LoopGuard:
    """The pitch that would extend a loop past ``max_repeats``, kept up to date as pitches are played.

    A loop is the last ``p * max_repeats`` pitches made of one figure of ``p``
    notes (1 ≤ p ≤ MAX_FIGURE) repeated; the next pitch of the figure is then
    the one to avoid. A figure of one note is the same note struck again.

    For every period p it counts how many of the newest pitches equal the
    one p before them; a figure of p notes has been played k times in a row
    when that run is at least (k − 1)·p. Feeding a pitch costs one comparison
    per period, and the answer is kept until the next pitch.
    """

    def __init__(self, pitches=()):
        self.reset(pitches)

    def reset(self, pitches) -> None:
        self._last = np.full(MAX_FIGURE, -1, np.int64)  # newest first
        self._runs = np.zeros(MAX_FIGURE, np.int64)
        self._count = 0
        self._answer: tuple[int, int | None] | None = None
        for pitch in pitches:
            self.feed(int(pitch))

    def feed(self, pitch: int) -> None:
        self._runs = np.where(self._last == pitch, self._runs + 1, 0)
        self._last[1:] = self._last[:-1]
        self._last[0] = pitch
        self._count += 1
        self._answer = None

    def avoid(self, max_repeats: int) -> int | None:
        """The pitch that would extend a loop past ``max_repeats``, if one is going."""
        if max_repeats <= 0:
            return None
        if self._answer is not None and self._answer[0] == max_repeats:
            return self._answer[1]
        found = None
        looping = (self._runs >= _PERIODS * (max_repeats - 1)) & (self._count >= _PERIODS * max_repeats)
        for index in np.flatnonzero(looping):
            period = int(index) + 1
            if period > 1 and self._runs[0] >= period - 1:
                continue  # one note struck again: found at period 1
            found = int(self._last[period - 1])
            break
        self._answer = (max_repeats, found)
        return found


_PERIODS = np.arange(1, MAX_FIGURE + 1)


@functools.lru_cache(maxsize=128)
def _grid_mask(grid: frozenset[int], position: int) -> np.ndarray:
    mask = np.ones(VOCAB_SIZE, dtype=bool)
    landing = (position + np.arange(1, MAX_SHIFT + 1)) % TICKS_PER_BEAT
    mask[SHIFT_BASE:PITCH_BASE] = np.isin(landing, list(grid))
    mask.flags.writeable = False  # shared between calls
    return mask


_AFTER_PITCH = np.zeros(VOCAB_SIZE, dtype=bool)
_AFTER_PITCH[DURATION_BASE:VELOCITY_BASE] = True
_ANYWHERE = np.ones(VOCAB_SIZE, dtype=bool)
_ANYWHERE[[PAD, BOS, EOS]] = False
_ANYWHERE[DURATION_BASE:VELOCITY_BASE] = False


def allowed_tokens(
    previous: int,
    *,
    allow_eos: bool = False,
    key: Key | None = None,
    avoid_pitch: int | None = None,
    grid: frozenset[int] | None = None,
    position: int = 0,
    chord: tuple[int, int] = (0, -1),
) -> np.ndarray:
    """Boolean mask of the tokens that may follow ``previous``.

    With a ``grid`` (positions within the beat), a time shift from
    ``position`` (ticks into the beat) must land on it. ``chord`` is how
    many notes have started at this tick and the highest of them: a further
    one must be higher, and there may be at most ``MAX_CHORD``.
    """
    if PITCH_BASE <= previous < DURATION_BASE:
        return _AFTER_PITCH.copy()  # a pitch needs its duration
    mask = _ANYWHERE.copy()
    mask[EOS] = allow_eos
    if VELOCITY_BASE <= previous < VOCAB_SIZE:
        mask[VELOCITY_BASE:] = False  # one loudness change at a time
    if chord[0] >= MAX_CHORD:
        mask[PITCH_BASE:DURATION_BASE] = False
        mask[VELOCITY_BASE:] = False  # a loudness change only comes before a pitch
    elif chord[0]:
        mask[PITCH_BASE : PITCH_BASE + max(0, chord[1] - MIN_PITCH + 1)] = False
    if key is not None:
        mask &= _key_mask(key)
    if grid is not None:
        mask &= _grid_mask(grid, position % TICKS_PER_BEAT)
    if avoid_pitch is not None and MIN_PITCH <= avoid_pitch <= MAX_PITCH:
        mask[PITCH_BASE + avoid_pitch - MIN_PITCH] = False
    return mask


def _tempered(logits: np.ndarray, mask: np.ndarray, settings: SamplingSettings) -> tuple[np.ndarray, np.ndarray]:
    """The allowed tokens, and their tempered weights, scaled so the likeliest is 1.

    Only the allowed tokens are worked on, and nothing the size of the
    vocabulary is built: this runs for every event, live.
    """
    allowed = mask.nonzero()[0]
    weights = np.asarray(logits)[allowed].astype(np.float64)
    if settings.temperature != 1.0:
        weights *= 1.0 / max(settings.temperature, 1e-3)
    weights -= weights.max()
    np.exp(weights, out=weights)
    return allowed, weights


def _cut(allowed: np.ndarray, weights: np.ndarray, settings: SamplingSettings) -> tuple[np.ndarray, np.ndarray]:
    """The tokens left after top-k and top-p (in vocabulary order), and their probabilities."""
    kept = weights / weights.sum()
    if (settings.top_k and settings.top_k < len(kept)) or settings.top_p < 1.0:
        order = np.argsort(-kept, kind="stable")
        cut = len(kept)
        if settings.top_k:
            cut = min(cut, settings.top_k)
        if settings.top_p < 1.0:
            cut = min(cut, int(np.searchsorted(np.cumsum(kept[order]), settings.top_p)) + 1)
        chosen = np.sort(order[:cut])
        allowed, kept = allowed[chosen], kept[chosen]
        kept /= kept.sum()
    return allowed, kept


def probabilities(logits: np.ndarray, mask: np.ndarray, settings: SamplingSettings) -> np.ndarray:
    """The distribution to sample from: masked, tempered, cut by top-k and top-p."""
    allowed, kept = _cut(*_tempered(logits, mask, settings), settings)
    probs = np.zeros(len(mask))
    probs[allowed] = kept
    return probs


#: Draws from the whole distribution before ``sample`` cuts it down instead.
MAX_REJECTIONS = 4


def _in_nucleus(weights: np.ndarray, j: int, total: float, settings: SamplingSettings) -> bool:
    """Whether token ``j`` survives top-k and top-p, ranked as ``_cut`` ranks them.

    ``weights`` are unnormalized probabilities summing to ``total``. A token is
    kept when fewer than ``top_k`` rank above it and the mass ranked above it
    is below ``top_p`` (ties rank by position, as a stable sort does).
    """
    value = weights[j]
    if value == 1.0 and not (weights[:j] == 1.0).any():
        return True  # the first of the likeliest (weights are scaled so the top is 1)
    above = weights > value
    ties_before = int(np.count_nonzero(weights[:j] == value))
    if settings.top_k and np.count_nonzero(above) + ties_before >= settings.top_k:
        return False
    if settings.top_p < 1.0 and weights[above].sum() + value * ties_before >= settings.top_p * total:
        return False
    return True


def sample(logits: np.ndarray, mask: np.ndarray, settings: SamplingSettings, rng: np.random.Generator) -> int:
    """One token drawn from ``probabilities(logits, mask, settings)``.

    This runs for every event, live, so it avoids sorting: a token is drawn
    from the tempered distribution over the allowed tokens and redrawn if
    top-k or top-p would have cut it, which draws from exactly the cut-down
    distribution (rejection sampling). The nucleus usually holds most of the
    probability, so one draw is the rule; after ``MAX_REJECTIONS`` misses the
    distribution is cut down explicitly.
    """
    allowed, weights = _tempered(logits, mask, settings)
    limited = bool(settings.top_k and settings.top_k < len(weights)) or settings.top_p < 1.0
    if not limited:
        return int(allowed[_draw(weights, rng)])
    total = float(weights.sum())
    for _ in range(MAX_REJECTIONS):
        j = _draw(weights, rng)
        if _in_nucleus(weights, j, total, settings):
            return int(allowed[j])
    allowed, kept = _cut(allowed, weights, settings)
    return int(allowed[_draw(kept, rng)])


def _draw(weights: np.ndarray, rng: np.random.Generator) -> int:
    """Index drawn in proportion to ``weights``: an inverse-CDF draw, as Generator.choice makes."""
    cumulative = weights.cumsum()
    index = int(cumulative.searchsorted(rng.random() * float(cumulative[-1]), side="right"))
    return min(index, len(weights) - 1)
