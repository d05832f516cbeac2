"""Per-file cache of imported notes, so a second ``prepare`` takes seconds.

An entry is keyed by the file's absolute path, size and modification time and
by the import rules (``IMPORT_RULES``), so an edited file or a change of rules
reads the file again. Entries are ``.npz`` files written aside and renamed, so
an interrupted run leaves none half-written; one that cannot be read anyway is
treated as absent. Nothing is unpickled.
"""

from __future__ import annotations

import hashlib
import json
import os
import zipfile
from pathlib import Path

import numpy as np

from neuraltunes_live.core.notes import Piece
from neuraltunes_live.files import replace_file

#: Bump when a change to the importers changes the notes they produce.
IMPORT_RULES = 1


def default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "neuraltunes-live" / "import"


def entry_key(path: Path, options: dict) -> str:
    stat = path.stat()
    identity = [str(path.resolve()), stat.st_size, stat.st_mtime_ns, IMPORT_RULES, options]
    return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()


def load(cache_dir: Path, key: str) -> list[Piece] | None:
    """The cached pieces for ``key``, or None when there is no usable entry."""
    path = cache_dir / key[:2] / f"{key}.npz"
    try:
        with np.load(path, allow_pickle=False) as arrays:
            meta = json.loads(arrays["meta"].tobytes().decode("utf-8"))
            notes = arrays["notes"]
            bounds = arrays["bounds"]
    except FileNotFoundError:
        return None
    except (OSError, KeyError, ValueError, EOFError, zipfile.BadZipFile):
        return None  # damaged entry: read the file again
    return [
        Piece(name=name, notes=notes[bounds[i] : bounds[i + 1]], tempo_bpm=tempo)
        for i, (name, tempo) in enumerate(zip(meta["names"], meta["tempi"]))
    ]


def store(cache_dir: Path, key: str, pieces: list[Piece]) -> None:
    """Save ``pieces`` under ``key``; a cache that cannot be written is skipped."""
    folder = cache_dir / key[:2]
    meta = {"names": [p.name for p in pieces], "tempi": [p.tempo_bpm for p in pieces]}
    bounds = np.concatenate([[0], np.cumsum([len(p.notes) for p in pieces])]).astype(np.int64)
    notes = np.concatenate([p.notes for p in pieces]).astype(np.int32).reshape(-1, 4)

    def write(out) -> None:
        np.savez(
            out,
            notes=notes,
            bounds=bounds,
            meta=np.frombuffer(json.dumps(meta).encode("utf-8"), dtype=np.uint8),
        )

    try:
        folder.mkdir(parents=True, exist_ok=True)
        replace_file(folder / f"{key}.npz", write)
    except OSError:
        pass  # a full or read-only disk costs the cache, not the run
