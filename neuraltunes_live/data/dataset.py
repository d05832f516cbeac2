"""Prepared data: duplicates, the split by whole piece, and the arrays on disk.

Two pieces are *duplicates* when they have the same notes once moved to a
common key and start (the same piece twice, maybe transposed): only the first
is kept. Two pieces share a *tune* when their melodies, beat by beat, move by
the same steps (a chorale harmonized twice, a folk-song variant with other
ornaments): both are kept, in the same split, so a held-out piece never has its
tune in training.

A split file ``NAME.npz`` holds ``tokens`` (every piece's tokens, one after
another), ``offsets`` (piece i is ``tokens[offsets[i]:offsets[i+1]]``) and
``notes`` (notes per piece, for bits per note). ``manifest.json`` names the
pieces and records where they came from.
"""

from __future__ import annotations

import hashlib
import json
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from neuraltunes_live.core.encoding import ENCODING_VERSION
from neuraltunes_live.core.notes import DURATION, ONSET, PITCH, TICKS_PER_BEAT
from neuraltunes_live.errors import DataError
from neuraltunes_live.records import Record

SPLITS = ("train", "validation", "test")
MANIFEST = "manifest.json"
FORMAT = "neuraltunes-live prepared data"


def _digest(array: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(array, dtype=np.int32).tobytes()).hexdigest()


def content_key(notes: np.ndarray) -> str:
    """Same for two pieces with the same notes up to transposition and start time.

    ``notes`` must be normalized (sorted by onset, then pitch).
    """
    if len(notes) == 0:
        return _digest(notes)
    moved = notes.copy()
    moved[:, ONSET] -= moved[0, ONSET]
    moved[:, PITCH] -= moved[0, PITCH]
    return _digest(moved)


def tune_key(notes: np.ndarray) -> str:
    """Same for two pieces whose melodies move by the same steps, beat by beat.

    The melody is the highest note sounding on each beat, with repeats merged:
    passing notes and ornaments between beats, held or repeated notes, other
    harmony below and another key all leave it unchanged.
    """
    if len(notes) == 0:
        return _digest(notes)
    onsets, ends = notes[:, ONSET], notes[:, ONSET] + notes[:, DURATION]
    first_beat = -(-onsets // TICKS_PER_BEAT)  # first beat at or after the onset
    past_beat = -(-ends // TICKS_PER_BEAT)  # first beat at or after the end
    top = np.full(int(past_beat.max()), -1, dtype=np.int32)
    for a, b, pitch in zip(first_beat.tolist(), past_beat.tolist(), notes[:, PITCH].tolist()):
        top[a:b] = np.maximum(top[a:b], pitch)
    top = top[top >= 0]
    if len(top) == 0:  # nothing sounds on a beat: the highest note of each onset
        last_of_onset = np.append(onsets[1:] != onsets[:-1], True)
        top = notes[last_of_onset, PITCH].astype(np.int32)
    melody = top[np.concatenate([[True], top[1:] != top[:-1]])]
    return _digest(np.diff(melody))


@dataclass(frozen=True)
class Deduplicated:
    kept: list[int]  # indices of the pieces kept
    duplicates: list[tuple[int, int]]  # (dropped piece, the kept piece it repeats)


def deduplicate(normalized_notes: list[np.ndarray]) -> Deduplicated:
    """Keep the first of each set of duplicate pieces."""
    first: dict[str, int] = {}
    kept, duplicates = [], []
    for index, notes in enumerate(normalized_notes):
        key = content_key(notes)
        if key in first:
            duplicates.append((index, first[key]))
        else:
            first[key] = index
            kept.append(index)
    return Deduplicated(kept, duplicates)


def split_by_tune(
    tune_keys: list[str], *, seed: int, validation_fraction: float, test_fraction: float
) -> dict[str, list[int]]:
    """Assign piece indices to train/validation/test, whole tunes at a time.

    Tunes are shuffled by ``seed`` from a fixed order (sorted keys), so the
    split depends on the pieces and the seed, not on file or worker order.
    Held-out sets fill up to their fraction of pieces, and get at least one
    tune each; with fewer than three tunes everything is training data.
    """
    groups: dict[str, list[int]] = {}
    for index, key in enumerate(tune_keys):
        groups.setdefault(key, []).append(index)
    order = sorted(groups)
    rng = np.random.default_rng(seed)
    shuffled = [order[i] for i in rng.permutation(len(order))]

    total = len(tune_keys)
    if len(shuffled) < 3:  # nothing sensible to hold out: train on all of it
        return {"train": list(range(total)), "validation": [], "test": []}
    targets = {"test": test_fraction * total, "validation": validation_fraction * total}
    tunes: dict[str, list[str]] = {name: [] for name in SPLITS}

    def size(name: str) -> int:
        return sum(len(groups[key]) for key in tunes[name])

    for key in shuffled:
        for name in ("test", "validation"):
            if targets[name] > 0 and (not tunes[name] or size(name) < targets[name]):
                tunes[name].append(key)
                break
        else:
            tunes["train"].append(key)
    if not tunes["train"]:
        # One big tune filled a held-out set: give training the last tune taken.
        donor = "validation" if len(tunes["validation"]) > 1 else "test"
        tunes["train"].append(tunes[donor].pop())
    split = {name: [i for key in keys for i in groups[key]] for name, keys in tunes.items()}
    return {name: sorted(indices) for name, indices in split.items()}


def write_split(path: Path, token_arrays: list[np.ndarray], note_counts: list[int]) -> None:
    """Write one split's pieces as ``tokens``/``offsets``/``notes`` arrays."""
    lengths = [len(tokens) for tokens in token_arrays]
    offsets = np.concatenate([[0], np.cumsum(lengths, dtype=np.int64)]).astype(np.int64)
    tokens = np.concatenate(token_arrays).astype(np.int16) if token_arrays else np.zeros(0, np.int16)
    with open(path, "wb") as out:
        np.savez(out, tokens=tokens, offsets=offsets, notes=np.array(note_counts, dtype=np.int64))


@dataclass(frozen=True)
class Split:
    """One split as read back: tokens of every piece, and where each starts."""

    tokens: np.ndarray
    offsets: np.ndarray
    notes: np.ndarray
    names: list[str]

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def piece(self, index: int) -> np.ndarray:
        return self.tokens[self.offsets[index] : self.offsets[index + 1]]

    def pieces(self) -> list[np.ndarray]:
        """Every piece's tokens, in order."""
        return [self.piece(i) for i in range(len(self))]


@dataclass(frozen=True)
class SplitOptions(Record):
    """How a data folder was split (``prepare``'s settings that decide its contents)."""

    random_seed: int
    validation_fraction: float
    test_fraction: float
    include_drums: bool
    held_out: bool = False  # every piece is a test piece: a set never trained on


@dataclass(frozen=True)
class Counts(Record):
    """How much a data folder holds, and what was left out making it."""

    files: int
    files_skipped: int
    files_cached: int
    pieces_found: int
    duplicates_removed: int
    pieces: int
    tunes: int
    pieces_sharing_a_tune: int
    notes: int
    events: int
    vocab_size: int


@dataclass(frozen=True)
class FileEntry(Record):
    """One file a data folder was prepared from."""

    source: str
    status: str  # "ok" or "skipped"
    reason: str | None
    pieces: int
    cached: bool


@dataclass(frozen=True)
class Duplicate(Record):
    piece: str
    same_as: str


@dataclass(frozen=True)
class Manifest(Record):
    """``manifest.json``: what a data folder holds and how it was made."""

    created: str
    sources: tuple[str, ...]
    options: SplitOptions
    counts: Counts
    pieces: dict[str, tuple[str, ...]]  # split name -> the names of its pieces
    duplicates: tuple[Duplicate, ...] = ()
    files: tuple[FileEntry, ...] = ()
    format: str = FORMAT
    encoding_version: int = ENCODING_VERSION
    vocab_size: int = 0
    ticks_per_beat: int = TICKS_PER_BEAT
    extra: dict[str, Any] = field(default_factory=dict)  # anything a later version adds


def source_of(name: str) -> str:
    """Where a piece came from, as reports group pieces and training weighs them: its corpus or first folder."""
    return name.split("/", 1)[0] if "/" in name else "(files)"


def write_manifest(folder: Path, manifest: Manifest) -> None:
    (folder / MANIFEST).write_text(json.dumps(manifest.to_json(), indent=1), encoding="utf-8")


def read_manifest(data_dir: str | Path) -> Manifest:
    """The manifest of a prepared data directory; DataError says what is wrong."""
    path = Path(data_dir) / MANIFEST
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as err:
        raise DataError(f"{data_dir}: no {MANIFEST}; make one with `neuraltunes-live prepare`") from err
    except (OSError, ValueError) as err:
        raise DataError(f"{path}: unreadable manifest ({err})") from err
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise DataError(f"{path}: not a neuraltunes-live data manifest")
    version = data.get("encoding_version")
    if version != ENCODING_VERSION:
        raise DataError(
            f"{data_dir}: prepared with encoding version {version}, this version reads "
            f"{ENCODING_VERSION}; prepare it again"
        )
    options = data.get("options")
    if isinstance(options, dict) and "seed" in options:  # a folder prepared before the key was named
        options["random_seed"] = options.pop("seed")
    try:
        return Manifest.from_json(data, MANIFEST)
    except ValueError as err:
        raise DataError(f"{path}: {err}; prepare it again") from err


def read_split(data_dir: str | Path, name: str) -> Split:
    """One split of a prepared data directory, checked against its manifest."""
    if name not in SPLITS:
        raise DataError(f"unknown split {name!r}; splits are {', '.join(SPLITS)}")
    manifest = read_manifest(data_dir)
    path = Path(data_dir) / f"{name}.npz"
    try:
        with np.load(path, allow_pickle=False) as arrays:
            tokens, offsets, notes = arrays["tokens"], arrays["offsets"], arrays["notes"]
    except (OSError, KeyError, ValueError, EOFError, zipfile.BadZipFile) as err:
        raise DataError(f"{path}: missing or damaged ({err})") from err
    names = list(manifest.pieces.get(name, ()))
    if len(offsets) != len(names) + 1 or len(notes) != len(names) or offsets[-1] != len(tokens):
        raise DataError(f"{path}: does not match {MANIFEST}; prepare it again")
    return Split(tokens=tokens, offsets=offsets, notes=notes, names=names)
