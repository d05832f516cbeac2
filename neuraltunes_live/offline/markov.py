"""The baseline: an interpolated variable-order Markov model of the events.

As Pachet's Continuator: the next event is predicted from the last ``n``
events for every ``n`` up to the order, the longer contexts trusted as far as
they have been seen. Orders are combined by Witten–Bell interpolation,

    P_n(w | h) = (c(h, w) + t(h) · P_{n-1}(w | h')) / (c(h) + t(h)),

with ``c`` counts, ``t(h)`` the number of different events seen after ``h``,
``h'`` the context one event shorter, and a uniform distribution below order
1, so no event has probability zero. Contexts are hashed to 64 bits and
counted with ``numpy.unique`` (a 10-million-event corpus fits in seconds); a
collision needs about 4·10⁹ distinct contexts to become likely.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from neuraltunes_live.core.encoding import PAD, VOCAB_SIZE, transpose, transposition_range

_MULT = np.uint64(0x9E3779B97F4A7C15)


def _mix(h: np.ndarray, token: np.ndarray) -> np.ndarray:
    """Hash of a context extended by one token (splitmix64-style finaliser)."""
    with np.errstate(over="ignore"):
        x = (h ^ (token.astype(np.uint64) + np.uint64(1))) * _MULT
        x ^= x >> np.uint64(31)
        x *= np.uint64(0xBF58476D1CE4E5B9)
        x ^= x >> np.uint64(29)
    return x


def _padded(pieces: list[np.ndarray], order: int) -> tuple[np.ndarray, np.ndarray]:
    """Pieces laid end to end, each after ``order`` PADs; and where the targets are.

    A target is every token of a piece after its first (BOS is given).
    """
    parts, targets, at = [], [], 0
    for piece in pieces:
        parts.append(np.full(order, PAD, np.int64))
        parts.append(np.asarray(piece, dtype=np.int64))
        targets.append(np.arange(at + order + 1, at + order + len(piece)))
        at += order + len(piece)
    if not parts:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    return np.concatenate(parts), np.concatenate(targets)


def _context_hashes(stream: np.ndarray, positions: np.ndarray, order: int) -> list[np.ndarray]:
    """Hashes of the contexts of length 1..order before each position."""
    hashes, h = [], np.zeros(len(positions), np.uint64)
    for n in range(1, order + 1):
        h = _mix(h, stream[positions - n])
        hashes.append(h)
    return hashes


@dataclass
class _Counts:
    ngram_keys: np.ndarray
    ngram_counts: np.ndarray
    context_keys: np.ndarray
    context_counts: np.ndarray
    followers: np.ndarray


def _lookup(keys: np.ndarray, query: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Where each query sits in the sorted ``keys``, and whether it is there."""
    if len(keys) == 0:
        return np.zeros(query.shape, np.int64), np.zeros(query.shape, bool)
    at = np.minimum(np.searchsorted(keys, query), len(keys) - 1)
    return at, keys[at] == query


def _count(values: np.ndarray, at: np.ndarray, found: np.ndarray) -> np.ndarray:
    return np.where(found, values[at], 0).astype(np.float64)


class MarkovModel:
    """Counts of every context up to ``max_order`` events, over the training pieces."""

    def __init__(self, pieces: list[np.ndarray], max_order: int = 12, transpositions: range = range(-6, 6)):
        self.max_order = max_order
        streams = []
        for piece in pieces:
            low, high = transposition_range(piece)
            for semitones in transpositions:
                if low <= semitones <= high:
                    streams.append(transpose(piece, semitones))
        stream, positions = _padded(streams, max_order)
        following = stream[positions]
        self.counts: list[_Counts] = []
        for h in _context_hashes(stream, positions, max_order):
            ngrams = _mix(h, following)
            ngram_keys, first, ngram_counts = np.unique(ngrams, return_index=True, return_counts=True)
            context_keys, context_counts = np.unique(h, return_counts=True)
            _, followers = np.unique(h[first], return_counts=True)  # distinct followers per context
            self.counts.append(_Counts(ngram_keys, ngram_counts, context_keys, context_counts, followers))

    def _probabilities(self, hashes: list[np.ndarray], candidates: np.ndarray) -> list[np.ndarray]:
        """P_n(candidate | context) for n = 0..max_order, each shaped like ``candidates``."""
        p = np.full(candidates.shape, 1.0 / VOCAB_SIZE)
        by_order = [p]
        for counts, h in zip(self.counts, hashes):
            # Context counts depend on the context alone: one search per
            # position, then broadcast over the candidates.
            at, found = _lookup(counts.context_keys, h)
            as_candidates = h.shape + (1,) * (candidates.ndim - 1)
            c_h = _count(counts.context_counts, at, found).reshape(as_candidates)
            t_h = _count(counts.followers, at, found).reshape(as_candidates)
            hb = np.broadcast_to(h.reshape(as_candidates), candidates.shape)
            c_hw = _count(counts.ngram_counts, *_lookup(counts.ngram_keys, _mix(hb, candidates)))
            seen = c_h > 0
            p = np.where(seen, (c_hw + t_h * p) / np.where(seen, c_h + t_h, 1), p)
            by_order.append(p)
        return by_order

    def log2_probabilities(self, pieces: list[np.ndarray]) -> np.ndarray:
        """log2 P(token) of every token after BOS, per order: shape (max_order + 1, tokens)."""
        stream, positions = _padded(pieces, self.max_order)
        hashes = _context_hashes(stream, positions, self.max_order)
        by_order = self._probabilities(hashes, stream[positions])
        return np.log2(np.stack(by_order))

    def distributions(self, pieces: list[np.ndarray], order: int, where: np.ndarray) -> np.ndarray:
        """Full next-token distributions at the targets selected by ``where`` (a mask)."""
        stream, positions = _padded(pieces, self.max_order)
        positions = positions[where]
        hashes = _context_hashes(stream, positions, order)
        candidates = np.broadcast_to(np.arange(VOCAB_SIZE), (len(positions), VOCAB_SIZE))
        return self._probabilities(hashes, candidates)[order]

    def next_distribution(self, context: Sequence[int] | np.ndarray, order: int) -> np.ndarray:
        """P(next token | the last ``order`` tokens of ``context``) over the vocabulary.

        Before the context's start come PADs, as before every training piece.
        """
        padded = np.concatenate([np.full(order, PAD, np.int64), np.asarray(context, dtype=np.int64)])
        stream = np.append(padded[-order:] if order else padded[:0], PAD)  # the next token's slot
        hashes = _context_hashes(stream, np.array([len(stream) - 1]), order)
        candidates = np.arange(VOCAB_SIZE)[None, :]
        return self._probabilities(hashes, candidates)[order][0]
