"""Recording a session (``serve --record-dir DIR``): every exchange, and the whole session, as MIDI files.

The daemon tells the recorder what it heard (the input, as delivered) and
what it played (every message sent to the output), each with its clock time,
and when a new phrase began. An exchange runs from one phrase's first note to
the next phrase's; when it is over it is written as a two-track file (the
phrase, and the answer with every take), and the session file (everything
heard and played so far, on two tracks) is written again. Files are written
whole (a temporary file, then renamed) by a thread of the recorder's own, so
the daemon never waits on the disk, and a crash loses at most the exchange in
progress. A file that cannot be written is one warning line; playing goes on.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from pathlib import Path
from typing import Callable

from neuraltunes_live.data.midifile import write_timed_tracks
from neuraltunes_live.errors import OutputError
from neuraltunes_live.files import check_output_folder
from neuraltunes_live.live.messages import Message, channel_messages

logger = logging.getLogger(__name__)

Timed = list[tuple[float, Message]]


class SessionRecorder:
    """Collects what was heard and played; writes each exchange and the session as MIDI files."""

    def __init__(
        self,
        folder: Path,
        tempo_bpm: Callable[[], float],
        *,
        wall_clock: Callable[[], float] = time.time,
        write: Callable[[Path, list[tuple[str, Timed]], float], None] = write_timed_tracks,
    ):
        self.folder = Path(folder)
        self.tempo_bpm = tempo_bpm
        self.wall_clock = wall_clock
        self._write = write
        self._lock = threading.Lock()
        self._heard: Timed = []
        self._played: Timed = []
        self._starts: list[tuple[float, float]] = []  # (clock time, wall time) each phrase began
        self._written = 0  # exchanges written
        self._began: float | None = None
        self._stamp = ""
        self._jobs: queue.SimpleQueue[tuple[Path, list[tuple[str, Timed]], float] | None] = queue.SimpleQueue()
        self._warned: set[str] = set()  # causes already said: a full disk is one line, not one a file
        self._off = False
        self._thread = threading.Thread(target=self._writer, name="session recorder", daemon=True)
        self._thread.start()
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            check_output_folder(self.folder)
        except (OSError, OutputError) as err:
            self._off = True
            self._warn("folder", f"cannot record the session in {self.folder}: {err}; playing goes on")
        else:
            self._sweep()

    #: A temporary file older than this was left by a session killed while writing it.
    stale_seconds = 60.0

    def _sweep(self) -> None:
        """Remove the half-written temporary files a killed session left (never a .mid, never a fresh one)."""
        removed = 0
        for path in self.folder.glob(".*.mid.*.tmp"):
            try:
                if self.wall_clock() - path.stat().st_mtime > self.stale_seconds:
                    path.unlink()
                    removed += 1
            except OSError:
                continue  # gone already, or not ours to remove: it stays
        if removed:
            logger.info(f"removed {removed} half-written file(s) a stopped session left in {self.folder}")

    # --- from the daemon's threads ------------------------------------------------

    def heard(self, t: float, data: Message | bytes) -> None:
        """An input delivery (MIDI system thread): its channel messages are kept."""
        kept = channel_messages(data)
        if kept:
            with self._lock:
                self._heard.extend((t, m) for m in kept)
                if self._began is None:
                    self._began, self._stamp = t, time.strftime("%Y%m%d-%H%M%S", time.localtime(self.wall_clock()))

    def played(self, t: float, message: Message) -> None:
        """A message sent to the output (scheduler thread)."""
        if message and message[0] < 0xF0:
            with self._lock:
                self._played.append((t, message))

    def phrase(self, t: float) -> None:
        """A phrase began at clock time ``t`` (it is being answered): the exchange before it is over."""
        with self._lock:
            self._starts.append((t, self.wall_clock()))
            self._queue_finished(final=False)

    def close(self) -> None:
        """Write the last exchange and the session, and wait for the files."""
        with self._lock:
            self._queue_finished(final=True)
        self._jobs.put(None)
        self._thread.join()
        if not self._off and self._began is not None:
            logger.info(f"session recorded in {self.folder}")

    # --- writing ---------------------------------------------------------------

    def _queue_finished(self, *, final: bool) -> None:
        done = len(self._starts) if final else len(self._starts) - 1
        tempo = self.tempo_bpm()
        while self._written < done:
            start, wall = self._starts[self._written]
            end = self._starts[self._written + 1][0] if self._written + 1 < len(self._starts) else float("inf")
            within = lambda timed: [(t - start, m) for t, m in timed if start <= t < end]  # noqa: E731
            name = time.strftime("%Y%m%d-%H%M%S", time.localtime(wall))
            self._written += 1
            path = self.folder / f"{name}-exchange-{self._written:03d}.mid"
            self._jobs.put((path, [("phrase", within(self._heard)), ("answer", within(self._played))], tempo))
        if self._began is not None:
            began = self._began
            tracks = [
                ("heard", [(t - began, m) for t, m in self._heard]),
                ("played", [(t - began, m) for t, m in self._played if t >= began]),
            ]
            self._jobs.put((self.folder / f"session-{self._stamp}.mid", tracks, tempo))

    def _writer(self) -> None:
        while True:
            job = self._jobs.get()
            if job is None:
                return
            path, tracks, tempo = job
            if self._off:
                continue
            try:
                self._write(path, tracks, tempo)
            except OSError as err:
                cause = err.strerror or str(err)
                self._warn(cause, f"cannot write {path}: {cause}; the session goes on, this file is missing")

    def _warn(self, cause: str, line: str) -> None:
        if cause not in self._warned:
            self._warned.add(cause)
            logger.warning(line)
