"""Melody and accompaniment pairs: what the accompaniment model is trained on (``prepare --player``).

Each piece is split into the *player's* line and the *accompaniment*, by a
``player`` rule:

- ``part:N``: the N-th part of a score (the soprano of a chorale is
  ``part:1``), or the N-th track of a MIDI file that holds notes;
- ``channel:N``: the notes on MIDI channel N (1..16) of a MIDI file.

Everything else in the piece is the accompaniment. Pieces are deduplicated
(same player's line and accompaniment up to transposition) and split by the
player's *tune* (``dataset.tune_key``), so a chorale melody harmonised twice
stays in one split and a test soprano is never heard in training. A file
that cannot be read, or has no notes on one side, is skipped with its
reason; the rest are kept.

The folder holds ``pairs.npz`` (per split: both sides' notes, where each
piece starts, its beats per bar) and ``pairs.json`` (what was read and how).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

import numpy as np

from neuraltunes_live.config import PrepareSettings
from neuraltunes_live.data import dataset
from neuraltunes_live.data.midifile import MIDI_SUFFIXES, piece_from_midifile, read_midifile
from neuraltunes_live.data.prepare import FileJob, find_jobs
from neuraltunes_live.data.score_import import SCORE_SUFFIXES, read_score_parts
from neuraltunes_live.errors import DataError, ImportFailed
from neuraltunes_live.files import check_output_dir, output_errors, replace_folder
from neuraltunes_live.records import Record

PAIRS, DESCRIPTION = "pairs.npz", "pairs.json"
FORMAT = "neuraltunes-live melody and accompaniment pairs"
_RULE = re.compile(r"^(part|channel):(\d+)$")


@dataclass(frozen=True)
class PlayerRule:
    """Which notes of a piece are the player's: a part (or MIDI track) or a MIDI channel, counted from 1."""

    kind: str  # "part" or "channel"
    number: int

    @classmethod
    def parse(cls, text: str) -> "PlayerRule":
        match = _RULE.match(text.strip())
        if not match or int(match[2]) < 1 or (match[1] == "channel" and int(match[2]) > 16):
            raise DataError(f"player {text!r}: write part:N (a score's part, a MIDI file's track) or channel:1..16")
        return cls(match[1], int(match[2]))

    def __str__(self) -> str:
        return f"{self.kind}:{self.number}"


@dataclass(frozen=True)
class Pair:
    name: str
    player: np.ndarray
    accompaniment: np.ndarray
    beats_per_bar: int = 4


def _midi_pair(path: Path, label: str, rule: PlayerRule) -> Pair:
    midi = read_midifile(path)
    with_notes = [i for i, t in enumerate(midi.tracks) if any(m.type == "note_on" for m in t)]

    def is_player(track: int, channel: int) -> bool:
        if rule.kind == "channel":
            return channel == rule.number - 1
        return rule.number - 1 < len(with_notes) and track == with_notes[rule.number - 1]

    player = piece_from_midifile(midi, name=label, select=is_player, empty_ok=True).notes
    accompaniment = piece_from_midifile(midi, name=label, select=lambda t, c: not is_player(t, c), empty_ok=True).notes
    if not len(player):
        raise ImportFailed(f"no notes in {rule}")
    if not len(accompaniment):
        raise ImportFailed(f"no notes besides {rule}")
    return Pair(label, player, accompaniment)


def read_pairs(job: FileJob, rule: PlayerRule) -> tuple[list[Pair], str | None]:
    """The pairs of one file, or none and why; never raises for a bad file."""
    suffix = job.path.suffix.lower()
    try:
        if suffix in MIDI_SUFFIXES:
            return [_midi_pair(job.path, job.label, rule)], None
        if suffix in SCORE_SUFFIXES:
            if rule.kind != "part":
                return [], "a score has parts, not channels: use part:N"
            parts = read_score_parts(job.path, job.label, rule.number)
            return [Pair(name, player, others, beats) for name, player, others, beats in parts], None
        return [], f"not a music file ({suffix or 'no extension'})"
    except ImportFailed as err:
        return [], str(err)
    except Exception as err:  # an importer bug must not cost the other files
        return [], f"import failed: {type(err).__name__}: {err}"


@dataclass(frozen=True)
class PairsManifest(Record):
    """What a pairs folder holds and how it was made (``pairs.json``)."""

    format: str
    created: str
    sources: tuple[str, ...]
    player: str
    options: dataset.SplitOptions
    files: int
    files_skipped: dict[str, str]  # file -> why
    pieces_found: int
    duplicates_removed: int
    pieces: dict[str, tuple[str, ...]]  # split -> names


@dataclass(frozen=True)
class PairSplit:
    """One split as read back."""

    names: list[str]
    player: list[np.ndarray]
    accompaniment: list[np.ndarray]
    beats_per_bar: list[int]

    def __len__(self) -> int:
        return len(self.names)


def prepare_pairs(
    sources: list[str],
    out_dir: str | Path,
    player: str,
    settings: PrepareSettings = PrepareSettings(),
    *,
    held_out: bool = False,
    progress: Callable[[int], None] = lambda n: None,
    on_jobs: Callable[[int], None] = lambda n: None,
) -> PairsManifest:
    """Read, deduplicate, split by the player's tune and write a pairs folder; DataError when none."""
    rule = PlayerRule.parse(player)
    out_dir = Path(out_dir)
    check_output_dir(out_dir)
    jobs, problems = find_jobs(sources)
    on_jobs(len(jobs))
    skipped = {p.label: p.reason or "" for p in problems}
    found: list[Pair] = []
    for job in jobs:
        pairs, why = read_pairs(job, rule)
        if why is not None:
            skipped[job.label] = why
        found.extend(pairs)
        progress(1)
    if not found:
        reasons = "; ".join(f"{k}: {v}" for k, v in list(skipped.items())[:3])
        raise DataError(f"no melody and accompaniment pairs with player {rule} ({reasons})")
    keys = [
        dataset.content_key(np.vstack([p.player, p.accompaniment + np.array([0, 200, 0, 0], np.int32)])) for p in found
    ]
    first: dict[str, int] = {}
    kept = []
    for index, key in enumerate(keys):
        if key not in first:
            first[key] = index
            kept.append(index)
    tunes = [dataset.tune_key(found[i].player) for i in kept]
    if held_out:
        split = {"train": [], "validation": [], "test": list(range(len(kept)))}
    else:
        split = dataset.split_by_tune(
            tunes,
            seed=settings.random_seed,
            validation_fraction=settings.validation_fraction,
            test_fraction=settings.test_fraction,
        )
    members = {name: [found[kept[j]] for j in split[name]] for name in dataset.SPLITS}
    manifest = PairsManifest(
        format=FORMAT,
        created=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        sources=tuple(sources),
        player=str(rule),
        options=dataset.SplitOptions(
            settings.random_seed, settings.validation_fraction, settings.test_fraction, False, held_out
        ),
        files=len(jobs),
        files_skipped=skipped,
        pieces_found=len(found),
        duplicates_removed=len(found) - len(kept),
        pieces={name: tuple(p.name for p in pairs) for name, pairs in members.items()},
    )

    def write(folder: Path) -> None:
        arrays: dict[str, np.ndarray] = {}
        for name, pairs in members.items():
            for side in ("player", "accompaniment"):
                parts = [getattr(p, side) for p in pairs]
                arrays[f"{name}_{side}"] = np.vstack(parts) if parts else np.zeros((0, 4), np.int32)
                arrays[f"{name}_{side}_offsets"] = np.concatenate([[0], np.cumsum([len(x) for x in parts])])
            arrays[f"{name}_beats_per_bar"] = np.array([p.beats_per_bar for p in pairs], np.int32)
        with open(folder / PAIRS, "wb") as out:
            np.savez(out, **arrays)  # type: ignore[arg-type]  # NumPy's stub reads **kwds as allow_pickle
        (folder / DESCRIPTION).write_text(json.dumps(manifest.to_json(), indent=1), encoding="utf-8")

    with output_errors(out_dir):
        replace_folder(out_dir, write)
    return manifest


def pairs_prepared_already(folder: Path, sources, settings: PrepareSettings, held_out: bool = False) -> bool:
    """Whether ``folder`` holds pairs prepared from ``sources`` with these settings (a recipe's data)."""
    if not is_pairs_folder(folder):
        return False
    try:
        manifest = read_pairs_manifest(folder)
    except DataError:
        return False
    options = dataset.SplitOptions(
        settings.random_seed, settings.validation_fraction, settings.test_fraction, False, held_out
    )
    return manifest.sources == tuple(sources) and manifest.player == settings.player and manifest.options == options


def is_pairs_folder(folder: str | Path) -> bool:
    return (Path(folder) / DESCRIPTION).is_file()


def read_pairs_manifest(folder: str | Path) -> PairsManifest:
    path = Path(folder) / DESCRIPTION
    try:
        return PairsManifest.from_json(json.loads(path.read_text(encoding="utf-8")))
    except FileNotFoundError as err:
        raise DataError(
            f"{folder}: no {DESCRIPTION}; make one with `neuraltunes-live prepare --player part:1`"
        ) from err
    except (OSError, ValueError, TypeError, KeyError) as err:
        raise DataError(f"{path}: unreadable ({err})") from err


def read_pair_split(folder: str | Path, name: str) -> PairSplit:
    """One split of a pairs folder; DataError says what is wrong."""
    manifest = read_pairs_manifest(folder)
    try:
        with np.load(Path(folder) / PAIRS) as data:
            sides = {}
            for side in ("player", "accompaniment"):
                notes, offsets = data[f"{name}_{side}"], data[f"{name}_{side}_offsets"]
                sides[side] = [notes[offsets[i] : offsets[i + 1]] for i in range(len(offsets) - 1)]
            beats = data[f"{name}_beats_per_bar"].tolist()
    except (OSError, KeyError, ValueError) as err:
        raise DataError(f"{folder}: {PAIRS} unreadable ({err})") from err
    names = list(manifest.pieces.get(name, ()))
    if not len(names) == len(sides["player"]) == len(beats):
        raise DataError(f"{folder}: {PAIRS} and {DESCRIPTION} disagree on the {name} pieces")
    return PairSplit(names, sides["player"], sides["accompaniment"], beats)
