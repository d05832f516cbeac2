"""``prepare``: music files and corpora in, a split data directory out.

Files are imported in worker processes, one file a task, each through the
cache. A file that cannot be read is skipped with its reason and the run goes
on. Pieces are normalized, duplicates removed, whole tunes split by a fixed
seed, and the result written to a hidden folder beside DATA_DIR that is renamed
into place only when complete: an interrupted run leaves DATA_DIR as it was.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Iterable, Iterator

import numpy as np

from neuraltunes_live.core.encoding import ENCODING_VERSION, VOCAB_SIZE, encode, normalize
from neuraltunes_live.core.notes import TICKS_PER_BEAT, Piece
from neuraltunes_live.data import cache, dataset
from neuraltunes_live.data.midifile import MIDI_SUFFIXES, read_midi
from neuraltunes_live.data.score_import import CORPUS_PREFIX, SCORE_SUFFIXES, corpus_files, read_score
from neuraltunes_live.errors import DataError, ImportFailed
from neuraltunes_live.files import check_output_dir, output_errors, replace_folder


@dataclass(frozen=True)
class PrepareOptions:
    seed: int = 1234
    validation_fraction: float = 0.1
    test_fraction: float = 0.1
    include_drums: bool = False
    workers: int = 0  # 0: one per core
    cache_dir: Path | None = field(default_factory=cache.default_cache_dir)  # None: no cache


@dataclass(frozen=True)
class FileJob:
    path: Path
    label: str  # how reports and piece names call the file


@dataclass
class FileResult:
    label: str
    pieces: list[Piece]
    reason: str | None = None  # why the file was skipped
    cached: bool = False


@dataclass
class PrepareReport:
    out_dir: Path
    files: list[FileResult]
    counts: dict[str, int]
    splits: dict[str, int]
    duplicates: list[tuple[str, str]]
    seconds: float

    @property
    def skipped(self) -> list[FileResult]:
        return [f for f in self.files if f.reason is not None]


def find_jobs(sources: Iterable[str]) -> tuple[list[FileJob], list[FileResult]]:
    """Files named by SOURCE arguments, and the sources that name none."""
    jobs: list[FileJob] = []
    problems: list[FileResult] = []
    seen: set[Path] = set()

    def add(path: Path, label: str) -> None:
        resolved = path.resolve()
        if resolved not in seen:
            seen.add(resolved)
            jobs.append(FileJob(path, label))

    for source in sources:
        if source.startswith(CORPUS_PREFIX):
            try:
                for label, path in corpus_files(source):
                    add(path, label)
            except ImportFailed as err:
                problems.append(FileResult(source, [], str(err)))
            continue
        path = Path(source)
        if path.is_dir():
            found = sorted(
                p
                for p in path.rglob("*")
                if p.is_file() and not any(part.startswith(".") for part in p.relative_to(path).parts)
            )
            if not found:
                problems.append(FileResult(source, [], "folder holds no files"))
            for file in found:
                add(file, str(file))
        elif path.is_file():
            add(path, source)
        else:
            problems.append(FileResult(source, [], "no such file, folder or music21: corpus"))
    return jobs, problems


def import_file(job: FileJob, include_drums: bool, cache_dir: Path | None) -> FileResult:
    """Pieces of one file, through the cache; never raises for a bad file."""
    suffix = job.path.suffix.lower()
    if suffix not in MIDI_SUFFIXES + SCORE_SUFFIXES:
        kind = f"{suffix} file" if suffix else "file without an extension"
        return FileResult(job.label, [], f"not a music file ({kind})")
    try:
        key = cache.entry_key(job.path, {"include_drums": include_drums}) if cache_dir else None
    except OSError as err:
        return FileResult(job.label, [], f"cannot read file: {err.strerror or err}")
    if key and cache_dir:
        hit = cache.load(cache_dir, key)
        if hit is not None:
            return FileResult(job.label, hit, cached=True)
    try:
        if suffix in MIDI_SUFFIXES:
            pieces = [read_midi(job.path, name=job.label, include_drums=include_drums)]
        else:
            pieces = read_score(job.path, name=job.label)
    except ImportFailed as err:
        return FileResult(job.label, [], str(err))
    except Exception as err:  # an importer bug must not cost the other files
        return FileResult(job.label, [], f"import failed: {type(err).__name__}: {err}")
    if key and cache_dir:
        cache.store(cache_dir, key, pieces)
    return FileResult(job.label, pieces)


def _import_task(args: tuple[int, FileJob, bool, Path | None]) -> tuple[int, FileResult]:
    index, job, include_drums, cache_dir = args
    return index, import_file(job, include_drums, cache_dir)


def _worker_signals() -> None:
    # Ctrl-C is the parent's to handle: it stops the pool and cleans up. And a
    # worker ends quietly on the SIGTERM that stops the pool, whatever handler
    # the parent had for it (the CLI turns SIGTERM into KeyboardInterrupt).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


def _start_pool(workers: int):
    """A process pool whose workers never see Ctrl-C, not even while they start."""
    try:
        saved = signal.signal(signal.SIGINT, signal.SIG_IGN), signal.signal(signal.SIGTERM, signal.SIG_DFL)
    except ValueError:  # not the main thread: signals are not ours to set
        return multiprocessing.get_context().Pool(workers, initializer=_worker_signals)
    try:
        return multiprocessing.get_context().Pool(workers, initializer=_worker_signals)
    finally:
        signal.signal(signal.SIGINT, saved[0])
        signal.signal(signal.SIGTERM, saved[1])


def import_all(
    jobs: list[FileJob], options: PrepareOptions, progress: Callable[[int], None] = lambda n: None
) -> list[FileResult]:
    """Import every job, on ``options.workers`` processes; results in job order."""
    tasks = [(i, job, options.include_drums, options.cache_dir) for i, job in enumerate(jobs)]
    workers = min(options.workers or os.cpu_count() or 1, len(tasks))
    results: list[FileResult | None] = [None] * len(tasks)
    if workers <= 1:
        for task in tasks:
            index, result = _import_task(task)
            results[index] = result
            progress(1)
        return results  # type: ignore[return-value]
    pool = _start_pool(workers)
    try:
        for index, result in pool.imap_unordered(_import_task, tasks, chunksize=1):
            results[index] = result
            progress(1)
    except BaseException:
        pool.terminate()
        raise
    else:
        pool.close()
    finally:
        pool.join()
    return results  # type: ignore[return-value]


def check_out_dir(out_dir: Path) -> None:
    """Refuse to replace a folder that is not prepared data (it may be anything), or one we cannot write."""
    if out_dir.exists():
        if not out_dir.is_dir():
            raise DataError(f"{out_dir} exists and is not a folder; choose another --out")
        if any(out_dir.iterdir()) and not (out_dir / dataset.MANIFEST).exists():
            raise DataError(
                f"{out_dir} exists and is not prepared data; choose another --out "
                "(prepare only replaces its own output)"
            )
    check_output_dir(out_dir)


@dataclass
class Dataset:
    """Imported pieces normalized, deduplicated and split by tune, ready to write."""

    names: list[str]  # of every piece found
    normalized: list[np.ndarray]  # notes of every piece found
    kept: list[int]  # the pieces left after deduplication
    duplicates: list[tuple[int, int]]  # (piece, the earlier piece it repeats)
    tunes: Counter  # pieces per tune
    split: dict[str, list[int]]  # split name -> positions in ``kept``
    tokens: dict[int, np.ndarray]  # events of each kept piece

    def members(self, name: str) -> list[int]:
        """The pieces (indices into ``names``) of one split."""
        return [self.kept[j] for j in self.split[name]]


def prepare(
    sources: list[str],
    out_dir: str | Path,
    options: PrepareOptions = PrepareOptions(),
    progress: Callable[[int], None] = lambda n: None,
    on_jobs: Callable[[int], None] = lambda n: None,
) -> PrepareReport:
    """Import, deduplicate, split and write; DataError when nothing could be used."""
    started = time.perf_counter()
    out_dir = Path(out_dir)
    check_out_dir(out_dir)
    jobs, problems = find_jobs(sources)
    on_jobs(len(jobs))
    files = problems + import_all(jobs, options, progress)
    data = split_pieces([piece for result in files for piece in result.pieces], options, files)
    counts = _counts(data, files, jobs)
    with output_errors(out_dir):
        replace_folder(out_dir, lambda folder: _write(folder, data, _manifest(data, files, sources, options, counts)))
    return PrepareReport(
        out_dir=out_dir,
        files=files,
        counts=counts,
        splits={name: len(members) for name, members in data.split.items()},
        duplicates=[(data.names[a], data.names[b]) for a, b in data.duplicates],
        seconds=time.perf_counter() - started,
    )


def split_pieces(pieces: list[Piece], options: PrepareOptions, files: list[FileResult]) -> Dataset:
    """Normalize, drop duplicates, split whole tunes and encode; DataError when there is nothing."""
    if not pieces:
        raise DataError(_nothing_prepared(files))
    normalized = [normalize(piece.notes) for piece in pieces]
    dedup = dataset.deduplicate(normalized)
    tune_keys = [dataset.tune_key(normalized[i]) for i in dedup.kept]
    split = dataset.split_by_tune(
        tune_keys,
        seed=options.seed,
        validation_fraction=options.validation_fraction,
        test_fraction=options.test_fraction,
    )
    return Dataset(
        names=[piece.name for piece in pieces],
        normalized=normalized,
        kept=list(dedup.kept),
        duplicates=list(dedup.duplicates),
        tunes=Counter(tune_keys),
        split=split,
        tokens={i: encode(normalized[i]) for i in dedup.kept},
    )


def _counts(data: Dataset, files: list[FileResult], jobs: list[FileJob]) -> dict[str, int]:
    return {
        "files": len(jobs),
        "files_skipped": sum(1 for f in files if f.reason is not None),
        "files_cached": sum(1 for f in files if f.cached),
        "pieces_found": len(data.names),
        "duplicates_removed": len(data.duplicates),
        "pieces": len(data.kept),
        "tunes": len(data.tunes),
        "pieces_sharing_a_tune": sum(n for n in data.tunes.values() if n > 1),
        "notes": int(sum(len(data.normalized[i]) for i in data.kept)),
        "events": int(sum(len(t) for t in data.tokens.values())),
        "vocab_size": VOCAB_SIZE,
    }


def _manifest(
    data: Dataset, files: list[FileResult], sources: list[str], options: PrepareOptions, counts: dict[str, int]
) -> dict:
    """What the data folder holds and how it was made (``manifest.json``)."""
    return {
        "format": dataset.FORMAT,
        "encoding_version": ENCODING_VERSION,
        "vocab_size": VOCAB_SIZE,
        "ticks_per_beat": TICKS_PER_BEAT,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "sources": list(sources),
        "options": {k: v for k, v in asdict(options).items() if k not in ("workers", "cache_dir")},
        "counts": counts,
        "pieces": {name: [data.names[i] for i in data.members(name)] for name in data.split},
        "duplicates": [{"piece": data.names[a], "same_as": data.names[b]} for a, b in data.duplicates],
        "files": [
            {
                "source": f.label,
                "status": "skipped" if f.reason else "ok",
                "reason": f.reason,
                "pieces": len(f.pieces),
                "cached": f.cached,
            }
            for f in files
        ],
    }


def _write(folder: Path, data: Dataset, manifest: dict) -> None:
    for name in data.split:
        members = data.members(name)
        dataset.write_split(
            folder / f"{name}.npz", [data.tokens[i] for i in members], [len(data.normalized[i]) for i in members]
        )
    (folder / dataset.MANIFEST).write_text(json.dumps(manifest, indent=1), encoding="utf-8")


def _nothing_prepared(files: list[FileResult]) -> str:
    if not files:
        return "nothing to prepare: the sources name no files"
    reasons = "; ".join(f"{f.label}: {f.reason}" for f in files[:5])
    more = f" (and {len(files) - 5} more)" if len(files) > 5 else ""
    return f"nothing prepared: no file gave any notes ({reasons}{more})"


def iter_summary(report: PrepareReport) -> Iterator[str]:
    """The lines ``prepare`` prints when it is done."""
    c = report.counts
    s = report.splits
    yield f"Prepared {report.out_dir} in {report.seconds:.1f} s"
    yield (f"  files      {c['files']} read, {c['files_cached']} from cache, {c['files_skipped']} skipped")
    yield (f"  pieces     {c['pieces']} kept of {c['pieces_found']} ({c['duplicates_removed']} duplicates removed)")
    yield (
        f"  tunes      {c['tunes']} ({c['pieces_sharing_a_tune']} pieces share a tune "
        "with another; each tune stays in one split)"
    )
    yield f"  notes      {c['notes']}"
    yield f"  events     {c['events']} (vocabulary of {c['vocab_size']})"
    yield (
        f"  split      train {s['train']}, validation {s['validation']}, "
        f"test {s['test']} pieces (seed in manifest.json)"
    )
    skipped = report.skipped
    if skipped:
        yield f"Skipped {len(skipped)}:"
        for result in skipped:
            yield f"  {result.label}: {result.reason}"
