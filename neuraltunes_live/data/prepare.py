"""``prepare``: music files and corpora in, a split data directory out.

Files are imported in worker processes, one file a task, each through the
cache. A file that cannot be read is skipped with its reason and the run goes
on. Pieces are normalized, duplicates removed, whole tunes split by a fixed
seed, and the result written to a hidden folder beside DATA_DIR that is renamed
into place only when complete: an interrupted run leaves DATA_DIR as it was.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import time
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Iterable, Iterator

import numpy as np

from neuraltunes_live.config import PrepareSettings
from neuraltunes_live.core.encoding import VOCAB_SIZE, encode, normalize
from neuraltunes_live.core.notes import Piece
from neuraltunes_live.data import cache, dataset
from neuraltunes_live.data.midifile import MIDI_SUFFIXES, read_midi
from neuraltunes_live.data.score_import import CORPUS_PREFIX, SCORE_SUFFIXES, corpus_files, read_score
from neuraltunes_live.errors import DataError, ImportFailed
from neuraltunes_live.files import check_output_dir, output_errors, replace_folder


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
    counts: dataset.Counts
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
    jobs: list[FileJob],
    settings: PrepareSettings,
    cache_dir: Path | None,
    progress: Callable[[int], None] = lambda n: None,
) -> list[FileResult]:
    """Import every job, on ``settings.workers`` processes, through ``cache_dir`` (None: none); in job order."""
    tasks = [(i, job, settings.include_drums, cache_dir) for i, job in enumerate(jobs)]
    workers = min(settings.workers or os.cpu_count() or 1, len(tasks))
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
    settings: PrepareSettings = PrepareSettings(),
    *,
    use_cache: bool = True,
    held_out: bool = False,
    progress: Callable[[int], None] = lambda n: None,
    on_jobs: Callable[[int], None] = lambda n: None,
) -> PrepareReport:
    """Import, deduplicate, split and write; DataError when nothing could be used.

    Files are read through the cache in ``settings.cache_dir`` (empty: the
    user's cache folder) unless ``use_cache`` is false. ``held_out`` puts
    every piece in the test split: a set to measure on that is never trained
    on (whole composers held out as a style test, say).
    """
    started = time.perf_counter()
    out_dir = Path(out_dir)
    check_out_dir(out_dir)
    cache_dir = Path(settings.cache_dir or cache.default_cache_dir()) if use_cache else None
    jobs, problems = find_jobs(sources)
    on_jobs(len(jobs))
    files = problems + import_all(jobs, settings, cache_dir, progress)
    data = split_pieces([piece for result in files for piece in result.pieces], settings, files, held_out=held_out)
    counts = _counts(data, files, jobs)
    manifest = _manifest(data, files, sources, settings, counts, held_out)
    with output_errors(out_dir):
        replace_folder(out_dir, lambda folder: _write(folder, data, manifest))
    return PrepareReport(
        out_dir=out_dir,
        files=files,
        counts=counts,
        splits={name: len(members) for name, members in data.split.items()},
        duplicates=[(data.names[a], data.names[b]) for a, b in data.duplicates],
        seconds=time.perf_counter() - started,
    )


def split_pieces(
    pieces: list[Piece], settings: PrepareSettings, files: list[FileResult], held_out: bool = False
) -> Dataset:
    """Normalize, drop duplicates, split whole tunes and encode; DataError when there is nothing."""
    if not pieces:
        raise DataError(_nothing_prepared(files))
    normalized = [normalize(piece.notes) for piece in pieces]
    dedup = dataset.deduplicate(normalized)
    tune_keys = [dataset.tune_key(normalized[i]) for i in dedup.kept]
    if held_out:
        split = {"train": [], "validation": [], "test": list(range(len(tune_keys)))}
    else:
        split = dataset.split_by_tune(
            tune_keys,
            seed=settings.random_seed,
            validation_fraction=settings.validation_fraction,
            test_fraction=settings.test_fraction,
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


def _counts(data: Dataset, files: list[FileResult], jobs: list[FileJob]) -> dataset.Counts:
    return dataset.Counts(
        files=len(jobs),
        files_skipped=sum(1 for f in files if f.reason is not None),
        files_cached=sum(1 for f in files if f.cached),
        pieces_found=len(data.names),
        duplicates_removed=len(data.duplicates),
        pieces=len(data.kept),
        tunes=len(data.tunes),
        pieces_sharing_a_tune=sum(n for n in data.tunes.values() if n > 1),
        notes=int(sum(len(data.normalized[i]) for i in data.kept)),
        events=int(sum(len(t) for t in data.tokens.values())),
        vocab_size=VOCAB_SIZE,
    )


def _manifest(
    data: Dataset,
    files: list[FileResult],
    sources: list[str],
    settings: PrepareSettings,
    counts: dataset.Counts,
    held_out: bool = False,
) -> dataset.Manifest:
    """What the data folder holds and how it was made (``manifest.json``)."""
    return dataset.Manifest(
        created=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        sources=tuple(sources),
        options=split_options(settings, held_out),
        counts=counts,
        pieces={name: tuple(data.names[i] for i in data.members(name)) for name in data.split},
        duplicates=tuple(dataset.Duplicate(data.names[a], data.names[b]) for a, b in data.duplicates),
        files=tuple(
            dataset.FileEntry(
                source=f.label,
                status="skipped" if f.reason else "ok",
                reason=f.reason,
                pieces=len(f.pieces),
                cached=f.cached,
            )
            for f in files
        ),
        vocab_size=VOCAB_SIZE,
    )


def split_options(settings: PrepareSettings, held_out: bool = False) -> dataset.SplitOptions:
    """The settings that decide a data folder's contents, as its manifest records them."""
    return dataset.SplitOptions(
        random_seed=settings.random_seed,
        validation_fraction=settings.validation_fraction,
        test_fraction=settings.test_fraction,
        include_drums=settings.include_drums,
        held_out=held_out,
    )


def prepared_already(out_dir: Path, sources: Iterable[str], settings: PrepareSettings, held_out: bool = False) -> bool:
    """Whether ``out_dir`` holds these sources prepared with these settings (so preparing again would repeat it)."""
    try:
        manifest = dataset.read_manifest(out_dir)
    except DataError:
        return False
    return manifest.sources == tuple(sources) and manifest.options == split_options(settings, held_out)


def _write(folder: Path, data: Dataset, manifest: dataset.Manifest) -> None:
    for name in data.split:
        members = data.members(name)
        dataset.write_split(
            folder / f"{name}.npz", [data.tokens[i] for i in members], [len(data.normalized[i]) for i in members]
        )
    dataset.write_manifest(folder, manifest)


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
    yield f"  files      {c.files} read, {c.files_cached} from cache, {c.files_skipped} skipped"
    yield f"  pieces     {c.pieces} kept of {c.pieces_found} ({c.duplicates_removed} duplicates removed)"
    yield (
        f"  tunes      {c.tunes} ({c.pieces_sharing_a_tune} pieces share a tune "
        "with another; each tune stays in one split)"
    )
    yield f"  notes      {c.notes}"
    yield f"  events     {c.events} (vocabulary of {c.vocab_size})"
    yield (
        f"  split      train {s['train']}, validation {s['validation']}, "
        f"test {s['test']} pieces (random seed in manifest.json)"
    )
    skipped = report.skipped
    if skipped:
        yield f"Skipped {len(skipped)}:"
        for result in skipped:
            yield f"  {result.label}: {result.reason}"
