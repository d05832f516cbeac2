"""The piece's own memory: what followed the latest few events earlier on.

Music repeats itself. A tune's second strain answers its first with the same
figures, a chorale's opening lines come back, a riff returns. The LSTM carries
the past in a fixed-size state and keeps the gist, not the exact figure; this
memory keeps the exact events of the piece so far (the phrase and what has
been played since). Before each event it finds every earlier position whose
preceding events match the latest ones, and blends what came next there into
the network's distribution, order by order, as PPM and the "neural cache" of
language models do:

    P_n(w) = (c_n(w) + α_n · P_{n-1}(w)) / (c_n + α_n)    where c_n > 0,

for orders ``n = min_order .. max_order`` with ``P_{min_order-1}`` the
network's distribution, ``c_n`` the number of earlier positions whose ``n``
preceding events equal the latest ``n``, and ``c_n(w)`` how many of them were
followed by ``w``. An order with no match leaves the distribution as it is.
The concentrations ``α_n`` say how far a match of ``n`` events is trusted;
``fit_concentrations`` chooses them on held-out pieces after training. A
small ``α`` means "copy", a large one "the network knows better".

The memory keeps the events, where each run of ``min_order`` events
occurred, and which earlier positions match the end now and by how many
events. Feeding an event updates only the positions that still match, and
the blend weighs only them, so a step costs some tens of microseconds.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Iterable

import numpy as np

#: Earlier events the memory keeps (some 1,300 notes); past this, the oldest half is forgotten.
WINDOW = 4096


@dataclass(frozen=True)
class MemorySettings:
    """Which match lengths count, and how far each is trusted."""

    min_order: int
    concentrations: tuple[float, ...]  # α for orders min_order, min_order + 1, ...

    @property
    def max_order(self) -> int:
        return self.min_order + len(self.concentrations) - 1

    def alphas(self) -> np.ndarray:
        """α by order 0..max_order (orders below ``min_order`` hold 0 and are unused)."""
        return np.concatenate([np.zeros(self.min_order), np.asarray(self.concentrations, dtype=np.float64)])

    def to_json(self) -> dict[str, Any]:
        return {"min_order": self.min_order, "concentrations": [round(a, 6) for a in self.concentrations]}

    @classmethod
    def from_json(cls, data: Any) -> "MemorySettings":
        try:
            min_order = data["min_order"]
            alphas = tuple(float(a) for a in data["concentrations"])
        except (KeyError, TypeError, ValueError) as err:
            raise ValueError(f"bad piece memory ({err})") from err
        if isinstance(min_order, bool) or not isinstance(min_order, int) or min_order < 1:
            raise ValueError(f"bad piece memory (min_order {min_order!r} is not a whole number ≥ 1)")
        if not alphas or not all(math.isfinite(a) and a > 0 for a in alphas):
            raise ValueError("bad piece memory (concentrations must be positive numbers)")
        return cls(min_order, alphas)


def match_lengths(tokens: np.ndarray, max_order: int) -> np.ndarray:
    """For each position ``j`` of ``tokens``: how many events before ``j`` equal the last ones.

    Entry ``j`` is the length of the common suffix of ``tokens[:j]`` and the
    whole of ``tokens``, capped at ``max_order``. Entry 0 is always 0.
    """
    tokens = np.asarray(tokens, dtype=np.int64)
    t = len(tokens)
    lengths = np.zeros(t, np.int64)
    alive = np.arange(t) > 0
    positions = np.arange(t)
    for n in range(1, min(max_order, t) + 1):
        # Position j still matches at depth n when tokens[j-n] == tokens[t-n].
        alive &= positions >= n
        alive[n:] &= tokens[: t - n] == tokens[t - n]
        if not alive.any():
            break
        lengths += alive
    return lengths


class PieceMemory:
    """The events of one piece so far, and the earlier positions that match its end.

    Only matches of at least ``min_order`` events count, so only they are
    kept: ``_matched`` holds those positions and ``_match`` their lengths (0
    elsewhere), and ``_index`` finds, for every ``min_order`` events in a
    row, the positions they precede. Feeding an event looks its new last
    ``min_order`` events up there, so a step's work grows with the matches,
    not with the piece.
    """

    def __init__(self, settings: MemorySettings, window: int = WINDOW):
        self.settings = settings
        self.window = window
        self._alphas = settings.alphas().tolist()
        self.reset(())

    def reset(self, tokens: Iterable[int]) -> None:
        """Start over from ``tokens`` (a phrase being continued)."""
        tokens = np.asarray(list(tokens) if not isinstance(tokens, np.ndarray) else tokens, dtype=np.int64)
        self._tokens = np.zeros(self.window + 1, np.int64)
        self._match = np.zeros(self.window + 1, np.int64)
        self._start(tokens[-self.window :], match_lengths(tokens[-self.window :], self.settings.max_order))

    def _start(self, tokens: np.ndarray, lengths: np.ndarray) -> None:
        low = self.settings.min_order
        t = self._length = len(tokens)
        self._tokens[:t] = tokens
        self._match[:] = 0
        self._match[:t] = np.where(lengths >= low, lengths, 0)
        self._matched = np.flatnonzero(self._match[:t])
        # Runs of ``low`` events → the positions after them: an array filled
        # up to a count, grown by doubling, so a lookup is a view, not a copy.
        runs: dict[tuple[int, ...], list[int]] = {}
        as_list = tokens.tolist()
        for j, run in enumerate(zip(*(as_list[i : t - low + 1 + i] for i in range(low))), start=low):
            runs.setdefault(run, []).append(j)
        self._index: dict[tuple[int, ...], list] = {}
        for run, positions in runs.items():
            array = np.empty(2 * len(positions), np.int64)
            array[: len(positions)] = positions
            self._index[run] = [array, len(positions)]
        self._recent = as_list[-low:] if low <= t else [-1] * (low - t) + as_list  # the last ``low`` events

    def _add(self, key: tuple[int, ...], position: int) -> np.ndarray:
        """Record ``position`` after the run ``key``; return the positions recorded before it."""
        entry = self._index.get(key)
        if entry is None:
            entry = self._index[key] = [np.empty(4, np.int64), 0]
        array, count = entry
        if count == len(array):
            array = entry[0] = np.concatenate([array, np.empty(count, np.int64)])
        array[count] = position
        entry[1] = count + 1
        return array[:count]

    def __len__(self) -> int:
        return self._length

    def feed(self, token: int) -> None:
        """The next event of the piece."""
        if self._length == self.window:  # forget the oldest half
            keep = self.window // 2
            gone = self._length - keep
            self._start(self._tokens[gone : self._length].copy(), self._match[gone : self._length].copy())
        t = self._length
        self._tokens[t] = token
        self._length = t + 1
        recent = self._recent
        del recent[0]
        recent.append(token)
        if t + 1 < self.settings.min_order:
            return
        found = self._add(tuple(recent), t + 1)
        # Each position the new last events precede matches one event further
        # than the position before it did (which matched at least low - 1).
        low = self.settings.min_order
        longer = np.minimum(np.maximum(self._match[found - 1], low - 1) + 1, self.settings.max_order)
        self._match[self._matched] = 0
        self._match[found] = longer
        self._matched = found

    def weights(self) -> tuple[float, np.ndarray, np.ndarray]:
        """The blend as ``A · P + Σ w_j · onehot(next_j)``: ``A``, the ``w_j`` and the ``next_j``."""
        matched = self._matched
        if len(matched) == 0:
            return 1.0, np.zeros(0), matched
        lengths, following = self._match[matched], self._tokens[matched]
        # From the longest order down: each order with matches takes its share
        # and leaves α/(c+α) of what is left to the orders below it.
        top, low = self.settings.max_order, self.settings.min_order
        histogram = np.bincount(lengths, minlength=top + 1).tolist()
        per_order = [0.0] * (top + 1)
        left, count = 1.0, 0
        for n in range(top, low - 1, -1):
            count += histogram[n]  # c_n: matches of n events or more
            if count:
                share = left / (count + self._alphas[n])
                per_order[n] = share
                left = share * self._alphas[n]
        by_length = [0.0] * (top + 1)  # a match of ℓ events counts in every order up to ℓ
        total = 0.0
        for n in range(low, top + 1):
            total += per_order[n]
            by_length[n] = total
        return left, np.asarray(by_length)[lengths], following

    def blend(self, probabilities: np.ndarray) -> np.ndarray:
        """The network's next-event distribution with the piece's matches blended in."""
        scale, weights, following = self.weights()
        if len(weights) == 0:
            return probabilities
        return probabilities * scale + np.bincount(following, weights, minlength=len(probabilities))


def blend_logits(memory: PieceMemory, logits: np.ndarray) -> np.ndarray:
    """Log-probabilities of the blend, usable wherever logits are."""
    scale, weights, following = memory.weights()
    if len(weights) == 0:
        return logits
    # In the logits' own precision (float32 from the runtime): this runs for
    # every event, live. The network gives every event some probability, so
    # the logarithm is finite.
    probabilities = np.exp(logits - logits.max())
    probabilities *= scale / float(probabilities.sum())
    probabilities += np.bincount(following, weights, minlength=len(probabilities))
    return np.log(probabilities)


def blend_sequence(settings: MemorySettings, tokens: np.ndarray, probabilities: np.ndarray) -> np.ndarray:
    """Blend a whole piece: row ``i`` of ``probabilities`` predicts ``tokens[i + 1]``.

    The same memory, fed the same events, as a Continuer keeps while playing.
    """
    memory = PieceMemory(settings)
    memory.reset(np.asarray(tokens[:1]))
    blended = np.array(probabilities, dtype=np.float64)
    for i in range(len(blended)):
        blended[i] = memory.blend(blended[i])
        memory.feed(int(tokens[i + 1]))
    return blended


# --- fitting the concentrations on held-out pieces ---------------------------


@dataclass(frozen=True)
class MatchCounts:
    """Per predicted event of some pieces: the network's probability of it and the match counts.

    ``total[i, n]`` is ``c_n`` before event ``i``, ``hits[i, n]`` its ``c_n(w)``
    for the event that came (orders 0..max_order).
    """

    network: np.ndarray
    total: np.ndarray
    hits: np.ndarray


def match_counts(pieces: list[np.ndarray], network_probabilities: list[np.ndarray], max_order: int) -> MatchCounts:
    """Match counts at every event after the first of each piece.

    ``network_probabilities[k][i]`` is the network's probability of event
    ``i + 1`` of piece ``k``, given the events before it.
    """
    totals, hits = [], []
    for piece in pieces:
        piece = np.asarray(piece, dtype=np.int64)
        count = len(piece) - 1
        total = np.zeros((max(count, 0), max_order + 1))
        hit = np.zeros_like(total)
        match = np.zeros(len(piece), np.int64)
        for t in range(1, len(piece)):
            # Feed piece[t - 1]: match[j], j < t, becomes the common suffix of piece[:j] and piece[:t].
            match[1:t] = np.where(piece[: t - 1] == piece[t - 1], np.minimum(match[: t - 1] + 1, max_order), 0)
            lengths = match[1:t]
            same = piece[1:t] == piece[t]
            total[t - 1] = np.bincount(lengths, minlength=max_order + 1)[::-1].cumsum()[::-1]
            hit[t - 1] = np.bincount(lengths[same], minlength=max_order + 1)[::-1].cumsum()[::-1]
        totals.append(total)
        hits.append(hit)
    return MatchCounts(
        np.concatenate([np.asarray(p, np.float64) for p in network_probabilities]),
        np.concatenate(totals),
        np.concatenate(hits),
    )


def blended_bits(counts: MatchCounts, settings: MemorySettings) -> float:
    """Total −log2 probability of the events under the blend."""
    p = counts.network.copy()
    for n, alpha in enumerate(settings.concentrations, start=settings.min_order):
        c, hit = counts.total[:, n], counts.hits[:, n]
        p = np.where(c > 0, (hit + alpha * p) / (c + alpha), p)
    return float(-np.log2(p).sum())


#: Concentrations tried for each order: 2^-3 .. 2^10, and 2^20, which turns the order off in effect.
GRID = tuple(float(2.0**e) for e in np.arange(-3, 10.5, 0.5)) + (2.0**20,)


def fit_concentrations(counts: MatchCounts, min_order: int, max_order: int, sweeps: int = 3) -> MemorySettings:
    """Concentrations with the fewest bits on ``counts``, by coordinate search over ``GRID``.

    Orders are visited from the longest down, each set to its best grid value
    with the others fixed, ``sweeps`` times over. Deterministic.
    """
    settings = MemorySettings(min_order, (GRID[-1],) * (max_order - min_order + 1))
    best = blended_bits(counts, settings)
    for _ in range(sweeps):
        changed = False
        for index in reversed(range(max_order - min_order + 1)):
            for alpha in GRID:
                trial = list(settings.concentrations)
                trial[index] = alpha
                candidate = MemorySettings(min_order, tuple(trial))
                bits = blended_bits(counts, candidate)
                if bits < best - 1e-9:
                    best, settings, changed = bits, candidate, True
        if not changed:
            break
    return settings
