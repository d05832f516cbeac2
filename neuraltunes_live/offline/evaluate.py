"""``evaluate``: how well models predict and continue held-out music.

Measures, on the test pieces of a prepared data folder:

- **bits per note**: the total −log2 probability of every event of every
  piece (after BOS, EOS included) divided by the number of notes. It does not
  depend on how a note is split into events, so models and baselines compare
  fairly. A model is scored as it plays, with its piece memory, and again
  without it.
- **next-note accuracy**: where a note starts, how often the model's likeliest
  pitch is the one that was played.
- **continuation statistics**: the opening bars of each held-out piece are
  continued by sampling, and pitch-class entropy, scale consistency, notes per
  bar, repeated-note share and the share of figures taken from the opening
  of the sampled bars are set against those of the bars that really follow.

The baseline is ``markov.MarkovModel`` fitted on the training pieces, its
order chosen on the validation pieces; it is also scored with a piece memory
fitted to it, to show how much of a model's lead is its memory. Everything
runs in NumPy.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np

from neuraltunes_live.config import EvaluateSettings
from neuraltunes_live.core.continuation import StepModel, continue_notes
from neuraltunes_live.core.encoding import DURATION_BASE, PITCH_BASE, decode, pitch_tokens
from neuraltunes_live.core.keys import DIATONIC_SCALES
from neuraltunes_live.core.memory import MemorySettings, blend_sequence, blended_bits, match_counts
from neuraltunes_live.core.memory_fit import fit_to_probabilities
from neuraltunes_live.core.model import LSTMModel, network_log2p
from neuraltunes_live.core.model_files import load_model
from neuraltunes_live.core.notes import DURATION, ONSET, PITCH, TICKS_PER_BEAT
from neuraltunes_live.core.sampling import SamplingSettings
from neuraltunes_live.data.dataset import Split, read_manifest, read_split, source_of
from neuraltunes_live.errors import DataError
from neuraltunes_live.offline.markov import MarkovModel
from neuraltunes_live.records import Record

logger = logging.getLogger(__name__)

OPENING_BARS = 4  # bars of a held-out piece given as the phrase
CONTINUATION_BARS = 4  # bars sampled after it, and compared with the real ones
BEATS_PER_BAR = 4
MAX_MARKOV_ORDER = 12


@dataclass(frozen=True)
class Scores(Record):
    bits_per_note: float
    bits_per_event: float
    accuracy: float  # next-note (pitch) accuracy


@dataclass(frozen=True)
class PieceScores:
    """Per test piece: bits, events predicted, note starts, and pitch hits."""

    bits: np.ndarray
    events: np.ndarray
    starts: np.ndarray
    hits: np.ndarray
    notes: np.ndarray

    def summary(self, select: np.ndarray | None = None) -> Scores:
        s = slice(None) if select is None else select
        bits = float(self.bits[s].sum())
        return Scores(
            bits / max(float(self.notes[s].sum()), 1),
            bits / max(float(self.events[s].sum()), 1),
            float(self.hits[s].sum()) / max(float(self.starts[s].sum()), 1),
        )


def lstm_scores(model: LSTMModel, split: Split, batch: int = 32, *, memory: bool = True) -> PieceScores:
    """Score a model on whole pieces, as it runs: with its piece memory unless ``memory`` is False."""
    return _scores(model, split, [model.memory if memory else None], batch)[0]


def _scores(
    model: LSTMModel, split: Split, memories: list[MemorySettings | None], batch: int = 32
) -> list[PieceScores]:
    """Scores of the network with each of ``memories`` (None: alone), from one pass of the network."""
    pieces = split.pieces()
    n = len(pieces)
    tallies = [tuple(np.zeros(n) for _ in range(4)) for _ in memories]
    for index, network in network_log2p(model, pieces, batch):
        piece = pieces[index]
        targets = piece[1:]
        is_start = pitch_tokens(targets)
        for settings, (bits, events, starts, hits) in zip(memories, tallies):
            log2p = network if settings is None else np.log2(blend_sequence(settings, piece, np.exp2(network)))
            best_pitch = PITCH_BASE + log2p[:, PITCH_BASE:DURATION_BASE].argmax(axis=-1)
            bits[index] = -log2p[np.arange(len(targets)), targets].sum()
            events[index] = len(targets)
            starts[index] = is_start.sum()
            hits[index] = np.count_nonzero(best_pitch[is_start] == targets[is_start])
    notes = split.notes.astype(np.float64)
    return [PieceScores(bits, events, starts, hits, notes) for bits, events, starts, hits in tallies]


def markov_scores(markov: MarkovModel, split: Split, order: int) -> PieceScores:
    pieces = split.pieces()
    log2p = markov.log2_probabilities(pieces)[order]
    targets = np.concatenate([p[1:] for p in pieces]).astype(np.int64)
    piece_of = np.repeat(np.arange(len(pieces)), [len(p) - 1 for p in pieces])
    is_start = pitch_tokens(targets)
    hit = np.zeros(len(targets), dtype=bool)
    where = np.flatnonzero(is_start)
    for chunk in np.array_split(where, max(1, len(where) // 4096)):
        if len(chunk) == 0:
            continue
        mask = np.zeros(len(targets), dtype=bool)
        mask[chunk] = True
        dist = markov.distributions(pieces, order, mask)
        hit[chunk] = PITCH_BASE + dist[:, PITCH_BASE:DURATION_BASE].argmax(axis=1) == targets[chunk]
    count = len(pieces)
    return PieceScores(
        np.bincount(piece_of, weights=-log2p, minlength=count),
        np.bincount(piece_of, minlength=count).astype(np.float64),
        np.bincount(piece_of, weights=is_start, minlength=count),
        np.bincount(piece_of, weights=hit, minlength=count),
        split.notes.astype(np.float64),
    )


def markov_with_memory(markov: MarkovModel, order: int, validation: Split, test: Split) -> float:
    """Test bits per note of the Markov baseline with a piece memory fitted to it on validation.

    Not a goal: it shows how much of a model's lead is its memory of the piece.
    """

    def target_probabilities(split: Split) -> tuple[list[np.ndarray], list[np.ndarray]]:
        pieces = split.pieces()
        p = np.exp2(markov.log2_probabilities(pieces)[order])
        return pieces, np.split(p, np.cumsum([len(piece) - 1 for piece in pieces])[:-1])

    settings, _ = fit_to_probabilities(*target_probabilities(validation), float(validation.notes.sum()))
    counts = match_counts(*target_probabilities(test), settings.max_order)
    return round(blended_bits(counts, settings) / float(test.notes.sum()), 4)


def choose_markov_order(markov: MarkovModel, validation: Split) -> tuple[int, list[float]]:
    """The order with the fewest validation bits per note, and each order's figure."""
    log2p = markov.log2_probabilities(validation.pieces())
    per_order = [float(-row.sum() / validation.notes.sum()) for row in log2p]
    best = int(np.argmin(per_order[1:])) + 1
    return best, per_order


# --- continuation statistics -------------------------------------------------


def pitch_class_entropy(notes: np.ndarray) -> float:
    """Shannon entropy (bits) of the pitch-class histogram; 0 to log2(12)."""
    counts = np.bincount(notes[:, PITCH] % 12, minlength=12).astype(np.float64)
    p = counts[counts > 0] / counts.sum()
    return float(-(p * np.log2(p)).sum())


def scale_consistency(notes: np.ndarray) -> float:
    """Share of notes in the diatonic scale that fits them best."""
    pcs = notes[:, PITCH] % 12
    return max(float(np.isin(pcs, list(scale)).mean()) for scale in DIATONIC_SCALES)


def notes_per_bar(notes: np.ndarray, bars: int) -> float:
    return len(notes) / bars


def repeated_note_share(notes: np.ndarray) -> float:
    """Share of notes (after the first onset) whose pitch also started at the previous onset."""
    onsets = np.unique(notes[:, ONSET])
    if len(onsets) < 2:
        return 0.0
    previous: set[int] = set()
    repeated = counted = 0
    for onset in onsets:
        pitches = set(notes[notes[:, ONSET] == onset, PITCH].tolist())
        if previous:
            repeated += len(pitches & previous)
            counted += len(pitches)
        previous = pitches
    return repeated / counted


FIGURE_NOTES = 4  # notes in a figure, for ``opening_figure_share``


def _figures(notes: np.ndarray) -> set[tuple[int, ...]]:
    pitches = notes[np.lexsort((notes[:, PITCH], notes[:, ONSET])), PITCH].tolist()
    return {tuple(pitches[i : i + FIGURE_NOTES]) for i in range(len(pitches) - FIGURE_NOTES + 1)}


def opening_figure_share(notes: np.ndarray, opening: np.ndarray) -> float:
    """Share of the figures (4 pitches in a row) of ``notes`` that the opening played too.

    How much a continuation takes up the phrase's own material.
    """
    figures = _figures(notes)
    return len(figures & _figures(opening)) / len(figures) if figures else 0.0


#: Each statistic of a continuation, given the notes and the opening before them.
STATISTICS: dict[str, Callable[[np.ndarray, np.ndarray], float]] = {
    "pitch_class_entropy": lambda notes, opening: pitch_class_entropy(notes),
    "scale_consistency": lambda notes, opening: scale_consistency(notes),
    "notes_per_bar": lambda notes, opening: notes_per_bar(notes, CONTINUATION_BARS),
    "repeated_note_share": lambda notes, opening: repeated_note_share(notes),
    "opening_figure_share": opening_figure_share,
}


def openings(split: Split) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """The opening (``OPENING_BARS``) of every long-enough piece, and the ``CONTINUATION_BARS`` that follow.

    The opening ends at the bar line: notes ringing past it are cut there.
    """
    for _, opening, following in passages(split, per_piece=1):
        yield opening, following


def passages(split: Split, per_piece: int) -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
    """Up to ``per_piece`` passages of each piece, one after another from its start: (piece, opening, following).

    A passage is ``OPENING_BARS`` and the ``CONTINUATION_BARS`` after them,
    both moved to start at tick 0 of the opening, which ends at the bar line
    (notes ringing past it are cut there). A piece's passages end at the first
    with an empty half (a long rest) and at its end: a piece too short for one
    gives none.
    """
    bar = BEATS_PER_BAR * TICKS_PER_BEAT
    opening_end = OPENING_BARS * bar
    span = opening_end + CONTINUATION_BARS * bar
    for index in range(len(split)):
        notes = decode(split.piece(index))
        if len(notes) == 0:
            continue
        last, start, taken = int(notes[:, ONSET].max()), 0, 0
        while taken < per_piece and start + span - bar <= last:
            window = notes[(notes[:, ONSET] >= start) & (notes[:, ONSET] < start + span)].copy()
            window[:, ONSET] -= start
            opening = window[window[:, ONSET] < opening_end]
            following = window[window[:, ONSET] >= opening_end]
            start += span
            if len(opening) == 0 or len(following) == 0:
                break
            opening[:, DURATION] = np.minimum(opening[:, DURATION], opening_end - opening[:, ONSET])
            taken += 1
            yield index, opening, following


@dataclass(frozen=True)
class StatisticRange(Record):
    """One statistic over the pieces: the real bars' range and the sampled bars'."""

    real_p10: float
    real_p50: float
    real_p90: float
    sampled_p10: float
    sampled_p50: float
    sampled_p90: float
    inside: bool  # the sampled median within the real p10..p90


@dataclass(frozen=True)
class Continuations(Record):
    pieces: int
    opening_bars: int
    continuation_bars: int
    statistics: dict[str, StatisticRange]  # by name, as ``STATISTICS``; empty when no piece was long enough


def continue_opening(
    model: StepModel, opening: np.ndarray, settings: SamplingSettings, rng: np.random.Generator, key: bool = False
) -> np.ndarray:
    """The ``CONTINUATION_BARS`` sampled after an opening of ``openings``, from its bar line on: the new notes only."""
    opening_end = OPENING_BARS * BEATS_PER_BAR * TICKS_PER_BEAT
    generated = continue_notes(
        model,
        opening,
        bars=CONTINUATION_BARS,
        settings=settings,
        rng=rng,
        beats_per_bar=BEATS_PER_BAR,
        key=key,
        start_tick=opening_end,
    )
    return generated[generated[:, ONSET] >= opening_end]


def continuation_statistics(
    model: LSTMModel, split: Split, settings: SamplingSettings, seed: int, key: bool = False
) -> Continuations:
    """Sample a continuation of every long-enough test piece's opening and compare."""
    rng = np.random.default_rng(seed)
    real: dict[str, list[float]] = {name: [] for name in STATISTICS}
    sampled: dict[str, list[float]] = {name: [] for name in STATISTICS}
    used = 0
    for opening, following in openings(split):
        generated = continue_opening(model, opening, settings, rng, key=key)
        used += 1
        for name, statistic in STATISTICS.items():
            real[name].append(statistic(following, opening))
            sampled[name].append(statistic(generated, opening) if len(generated) else 0.0)
    statistics = {}
    for name in STATISTICS if used else ():
        r, s = np.array(real[name]), np.array(sampled[name])
        p10, p50, p90 = np.percentile(r, [10, 50, 90])
        median = float(np.median(s))
        statistics[name] = StatisticRange(
            real_p10=round(float(p10), 3),
            real_p50=round(float(p50), 3),
            real_p90=round(float(p90), 3),
            sampled_p10=round(float(np.percentile(s, 10)), 3),
            sampled_p50=round(median, 3),
            sampled_p90=round(float(np.percentile(s, 90)), 3),
            inside=bool(p10 <= median <= p90),
        )
    return Continuations(used, OPENING_BARS, CONTINUATION_BARS, statistics)


@dataclass(frozen=True)
class ModelRow(Record):
    """One model's scores on the test pieces (with its piece memory, or its network alone)."""

    model: str
    preset: str | None
    scores: Scores
    piece_memory: bool | None = None  # None: the network-alone row, where it is not said


@dataclass(frozen=True)
class GroupScores(Record):
    """Bits per note on the test pieces of one source (a corpus, or files)."""

    pieces: int
    notes: int
    bits_per_note: list[float]  # one for each model, in order
    markov_bits_per_note: float


@dataclass(frozen=True)
class Evaluation(Record):
    """Every figure of ``evaluate``, as ``evaluate --json`` writes them (``to_json``) and reads them back."""

    data: str
    data_sources: list[str]
    test_pieces: int
    test_notes: int
    test_events: int
    models: list[ModelRow]  # the first is the one evaluated
    network_alone: list[ModelRow]
    markov: Scores
    markov_order: int
    markov_memory_bits_per_note: float | None
    markov_validation_bits_per_note_by_order: list[float]
    by_group: dict[str, GroupScores]
    sampling: dict[str, Any]
    continuations: Continuations

    @property
    def improvement_over_markov(self) -> float:
        """The share of bits per note the evaluated model saves against the baseline."""
        return round(1 - self.models[0].scores.bits_per_note / self.markov.bits_per_note, 4)


def evaluate(
    model_dirs: list[Path],
    data_dir: Path,
    *,
    settings: SamplingSettings,
    key_mask: bool = False,
    random_seed: int = EvaluateSettings().random_seed,
    style: str | None = None,
    baseline_data: Path | None = None,
) -> Evaluation:
    """Every figure; the first model is the one evaluated, the others are scored beside it.

    The Markov baseline is fitted on ``baseline_data``'s training and
    validation pieces when given (the data the models were trained on, when
    ``data_dir`` is a held-out set such as whole composers), else on
    ``data_dir``'s own.
    """
    manifest = read_manifest(data_dir)
    test = read_split(data_dir, "test")
    fitted_on = Path(baseline_data) if baseline_data is not None else data_dir
    train, validation = (read_split(fitted_on, name) for name in ("train", "validation"))
    if len(test) == 0:
        raise DataError(f"{data_dir} has no test pieces; prepare it with a test_fraction above 0")
    if len(train) == 0:
        raise DataError(
            f"{fitted_on} has no training pieces to fit the Markov baseline on; name them with --baseline-data"
        )
    models = [(Path(d), load_model(d)) for d in model_dirs]

    logger.info(f"Fitting the Markov baseline on {len(train)} training pieces...")
    markov = MarkovModel(train.pieces(), max_order=MAX_MARKOV_ORDER)
    if len(validation):
        order, per_order = choose_markov_order(markov, validation)
    else:
        order, per_order = 4, []
    markov_pieces = markov_scores(markov, test, order)
    markov_memory = None
    if len(validation):
        logger.info("Fitting the same piece memory to the Markov baseline...")
        markov_memory = markov_with_memory(markov, order, validation, test)

    rows, per_piece, network_rows = [], [], []
    for path, model in models:
        logger.info(f"Scoring {path} on {len(test)} test pieces...")
        memory = model.memory is not None
        pieces, *alone = _scores(model, test, [model.memory, None] if memory else [None])
        per_piece.append(pieces)
        preset = model.info.preset if model.info is not None else None
        rows.append(ModelRow(str(path), preset, pieces.summary(), piece_memory=memory))
        if alone:
            network_rows.append(ModelRow(str(path), preset, alone[0].summary()))
    groups = np.array([source_of(name) for name in test.names])
    by_group = {}
    for group in sorted(set(groups)):
        select = groups == group
        by_group[group] = GroupScores(
            pieces=int(select.sum()),
            notes=int(test.notes[select].sum()),
            bits_per_note=[round(p.summary(select).bits_per_note, 4) for p in per_piece],
            markov_bits_per_note=round(markov_pieces.summary(select).bits_per_note, 4),
        )
    logger.info("Sampling continuations of the test pieces' openings...")
    continuations = continuation_statistics(models[0][1], test, settings, random_seed, key=key_mask)
    sampling = {**settings.__dict__, "key_mask": key_mask, "random_seed": random_seed}
    return Evaluation(
        data=str(data_dir),
        data_sources=list(manifest.sources),
        test_pieces=len(test),
        test_notes=int(test.notes.sum()),
        test_events=int(len(test.tokens) - len(test)),
        models=rows,
        network_alone=network_rows,
        markov=markov_pieces.summary(),
        markov_order=order,
        markov_memory_bits_per_note=markov_memory,
        markov_validation_bits_per_note_by_order=[round(v, 4) for v in per_order],
        by_group=by_group,
        sampling=sampling if style is None else {**sampling, "style": style},
        continuations=continuations,
    )


def format_report(result: Evaluation) -> list[str]:
    """The evaluate table, as lines of text."""

    def row(name: str, scores: Scores) -> str:
        return f"{name:<40} {scores.bits_per_note:>10.3f} {scores.bits_per_event:>11.3f} {scores.accuracy:>14.3f}"

    lines = [
        f"Held-out test set: {result.test_pieces} pieces, {result.test_notes:,} notes, "
        f"{result.test_events:,} events ({result.data}).",
        "",
        f"{'model':<40} {'bits/note':>10} {'bits/event':>11} {'next-note acc':>14}",
    ]
    for model in result.models:
        lines.append(
            row(f"{model.model} ({model.preset}{' + memory' if model.piece_memory else ''})", _rounded(model.scores))
        )
    lines.append(row(f"Markov, interpolated, order {result.markov_order}", _rounded(result.markov)))
    if result.network_alone or result.markov_memory_bits_per_note is not None:
        lines += ["", "Without and with the piece memory (what the piece itself played after the same events):"]
        for model in result.network_alone:
            lines.append(row(f"{model.model}, network alone", _rounded(model.scores)))
        if result.markov_memory_bits_per_note is not None:
            lines.append(f"{'Markov with a piece memory':<40} {result.markov_memory_bits_per_note:>10.3f}")
    lines.append("")
    if len(result.by_group) > 1:
        presets = [str(model.preset) for model in result.models]
        lines += ["", "Bits per note by source:"]
        columns = " ".join(f"{p:>9}" for p in presets)
        lines.append(f"{'source':<28} {'pieces':>6} {'notes':>7} {columns} {'Markov':>9}")
        for group, g in result.by_group.items():
            lines.append(
                f"{group:<28} {g.pieces:>6} {g.notes:>7} "
                + " ".join(f"{b:>9.3f}" for b in g.bits_per_note)
                + f" {g.markov_bits_per_note:>9.3f}"
            )
    gain = result.improvement_over_markov
    lines.append(
        f"{result.models[0].model}: {100 * abs(gain):.1f}% "
        f"{'fewer' if gain >= 0 else 'more'} bits per note than the Markov baseline."
    )
    cont = result.continuations
    lines += [
        "",
        f"Continuations: {cont.continuation_bars} bars sampled after the first {cont.opening_bars} "
        f"of {cont.pieces} test pieces, against the bars that really follow.",
        f"{'statistic':<22} {'real p10':>9} {'p50':>7} {'p90':>7} {'sampled p50':>12}  inside p10–p90",
    ]
    for name, r in cont.statistics.items():
        lines.append(
            f"{name:<22} {r.real_p10:>9.3f} {r.real_p50:>7.3f} {r.real_p90:>7.3f} "
            f"{r.sampled_p50:>12.3f}  {'yes' if r.inside else 'NO'}"
        )
    return lines


def _rounded(scores: Scores) -> Scores:
    """The scores as the JSON holds them (4 places), so the table and the file agree to the last digit."""
    return Scores(**scores.to_json())
