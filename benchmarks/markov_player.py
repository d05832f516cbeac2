"""The Markov baseline as a player: what the answers benchmark samples beside the network.

(Only the benchmarks and their tests play the baseline; ``evaluate`` scores it
in ``neuraltunes_live.offline.markov``.)
"""

from __future__ import annotations

import numpy as np

from neuraltunes_live.offline.markov import MarkovModel


class MarkovPlayer:
    """The Markov baseline as a step model (``continuation.StepModel``), to sample from it.

    Its logits are log-probabilities; its state is the last ``order`` tokens.
    """

    memory = None  # no piece memory: the baseline as it is

    def __init__(self, markov: MarkovModel, order: int):
        self.markov = markov
        self.order = order

    def _logits(self, context: tuple[int, ...]) -> np.ndarray:
        return np.log(self.markov.next_distribution(context, self.order)).astype(np.float32)

    def prime(self, tokens: np.ndarray, state: tuple[int, ...] | None = None) -> tuple[np.ndarray, tuple[int, ...]]:
        """The next token's logits after ``tokens`` (as a (1, V) array: only the last is needed)."""
        context = (tuple(state or ()) + tuple(int(t) for t in tokens))[-max(self.order, 1) :]
        return self._logits(context)[None, :], context

    def step(self, token: int, state: tuple[int, ...]) -> tuple[np.ndarray, tuple[int, ...]]:
        context = (tuple(state) + (int(token),))[-max(self.order, 1) :]
        return self._logits(context), context
