"""Fitting the piece memory: the concentrations that best predict held-out pieces with a network.

``train`` runs this at its end and ``fit-memory`` on a model trained before;
``evaluate`` fits the same kind of memory to the Markov baseline.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from neuraltunes_live.core.memory import MemorySettings, blended_bits, fit_concentrations, match_counts
from neuraltunes_live.core.model import LSTMModel, network_log2p
from neuraltunes_live.errors import DataError
from neuraltunes_live.records import Record

#: Orders of the piece memory ``fit_piece_memory`` fits: matches of 2 to 12 events.
MEMORY_ORDERS = (2, 12)


@dataclass(frozen=True)
class MemoryFit(Record):
    """How well a fitted memory did on the pieces it was fitted on, in bits per note."""

    validation_pieces: int
    validation_bits_per_note_network: float  # the network alone
    validation_bits_per_note: float  # with the memory


def fit_to_probabilities(
    pieces: list[np.ndarray], probabilities: list[np.ndarray], notes: float
) -> tuple[MemorySettings, MemoryFit]:
    """Settings fitted to the probability some model gave each event of ``pieces``, and the figures."""
    counts = match_counts(pieces, probabilities, MEMORY_ORDERS[1])
    settings = fit_concentrations(counts, *MEMORY_ORDERS)
    fit = MemoryFit(
        validation_pieces=len(pieces),
        validation_bits_per_note_network=round(-float(np.log2(counts.network).sum()) / notes, 4),
        validation_bits_per_note=round(blended_bits(counts, settings) / notes, 4),
    )
    return settings, fit


def fit_piece_memory(model: LSTMModel, pieces: list[np.ndarray], notes: float) -> tuple[MemorySettings, MemoryFit]:
    """Memory settings that best predict the validation ``pieces`` (with ``notes`` notes) with this network."""
    if not pieces:
        raise DataError("fitting the piece memory needs validation pieces; prepare with a validation_fraction above 0")
    probabilities: list[np.ndarray] = [np.zeros(0)] * len(pieces)
    for index, log2p in network_log2p(model, pieces):
        probabilities[index] = np.exp2(log2p[np.arange(len(pieces[index]) - 1), pieces[index][1:]])
    return fit_to_probabilities(pieces, probabilities, notes)
