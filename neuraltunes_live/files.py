"""Writing a file or a folder all or nothing: a temporary one beside it, renamed onto it.

An interrupted or failed write (a full disk, Ctrl-C, an exception in the
writer) leaves the old file or folder, if any, as it was, and nothing
temporary behind. What is written gets the permissions ``open()`` and
``mkdir()`` would give it under the user's umask (the temporary-file helpers
make them private to their owner).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, BinaryIO, Callable, Iterator

from neuraltunes_live.errors import OutputError


def current_umask() -> int:
    """The process's umask (reading it means setting it: set it straight back)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def replace_file(path: str | os.PathLike, write: Callable[[BinaryIO], object]) -> None:
    """Call ``write`` on a temporary file in ``path``'s folder, then rename it onto ``path``.

    Raises what ``write`` or the file system raised, after removing the
    temporary file.
    """
    path = Path(path)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(handle, 0o666 & ~current_umask())
        with os.fdopen(handle, "wb") as out:
            write(out)
        os.replace(temporary, path)
    except BaseException:
        try:
            os.unlink(temporary)
        except OSError:
            pass
        raise


def write_json(path: str | os.PathLike, data: Any) -> None:
    """Write ``data`` as indented JSON into ``path`` whole (``replace_file``); OutputError if it cannot be."""
    text = (json.dumps(data, indent=2) + "\n").encode("utf-8")
    with output_errors(path):
        replace_file(path, lambda out: out.write(text))


def replace_folder(out_dir: str | os.PathLike, write: Callable[[Path], None]) -> None:
    """Fill a hidden sibling folder with ``write``, then swap it in for ``out_dir``."""
    out_dir = Path(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    partial = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.partial-", dir=out_dir.parent))
    try:
        os.chmod(partial, 0o777 & ~current_umask())
        write(partial)
        if out_dir.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.old-", dir=out_dir.parent))
            os.rename(out_dir, old / out_dir.name)
            os.rename(partial, out_dir)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.rename(partial, out_dir)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise


def check_output_file(path: str | os.PathLike, suffixes: tuple[str, ...] = ()) -> None:
    """Refuse, before any work is done, a file path that cannot be written (OutputError says why).

    ``suffixes``, if given, are the endings the file may have (".png", ...).
    """
    path = Path(path)
    if path.is_dir():
        raise OutputError(f"cannot write {path}: it is a folder; name a file in it")
    if suffixes and path.suffix.lower() not in suffixes:
        raise OutputError(f"cannot write {path}: the name must end in {' or '.join(suffixes)}")
    check_output_folder(path.parent, for_path=path)


def check_output_folder(folder: str | os.PathLike, *, for_path: str | os.PathLike | None = None) -> None:
    """Refuse a folder that does not exist or cannot be written to (a read-only disk, say)."""
    folder = Path(folder)
    target = for_path if for_path is not None else folder
    if not folder.is_dir():
        raise OutputError(f"cannot write {target}: folder {folder} does not exist")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise OutputError(f"cannot write {target}: folder {folder} is not writable (permissions or a read-only disk)")


@contextlib.contextmanager
def output_errors(path: str | os.PathLike) -> Iterator[None]:
    """Turn an OSError while writing ``path`` into one OutputError naming it and the cause."""
    try:
        yield
    except OSError as err:
        raise OutputError(f"cannot write {path}: {err.strerror or err}") from err


def check_output_dir(out_dir: str | os.PathLike) -> None:
    """Refuse, before any work, a folder to write that cannot be: a file, or under a folder we cannot write."""
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise OutputError(f"cannot write {out_dir}: it is a file, not a folder")
    existing = out_dir.parent
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise OutputError(f"cannot write {out_dir}: {existing} is not a folder")
    check_output_folder(existing, for_path=out_dir)
