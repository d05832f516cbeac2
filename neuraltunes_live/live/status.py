"""See what it heard: one status line at the bottom of the terminal, redrawn in place.

``describe`` (pure) puts the daemon's state into words: the last phrase
heard and its key, the answer playing (take, bars left, or the loop), mode,
style, temperature and length, and (on JACK) how many events came late.
``StatusLine`` redraws it a few times a second
from a thread of its own, only when the text changed, by returning the cursor
to the line's start and clearing to its end: no scrolling, no flicker. It
reads the daemon's state and never takes the scheduler's lock, so the
scheduler never waits for it. Log lines clear it first (``clear_for_log``)
and it is drawn again after them. Used only when standard error is a
terminal; piped or in a file, there is just the log.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass
from typing import Callable, TextIO

from neuraltunes_live.core.keys import estimate_key
from neuraltunes_live.core.notes import DURATION, PITCH
from neuraltunes_live.live.controls import bars_text


@dataclass(frozen=True)
class Snapshot:
    """What the status line shows, read from the daemon at one moment."""

    heard: int  # notes in the last phrase (0: none yet)
    key: str  # its estimated key
    answer: str  # "take 2 of 3, 1.5 bars left", "looping take 1", "until stopped", or ""
    mode: str
    style: str
    temperature: float
    length: str  # "4 bars" or "as long as the call"
    late: int = 0  # events that reached JACK after their frame, so far


def phrase_key(notes) -> str:
    """The key of a phrase's notes, as the status line names it."""
    key = estimate_key(notes[:, PITCH], notes[:, DURATION]) if len(notes) else None
    return "" if key is None else str(key)


def describe(snapshot: Snapshot) -> str:
    heard = f"heard {snapshot.heard} notes in {snapshot.key}" if snapshot.heard else "listening"
    answer = f" | answer: {snapshot.answer}" if snapshot.answer else ""
    return (
        f"{heard}{answer} | {snapshot.mode} | {snapshot.style} | temperature x{snapshot.temperature:.2f} "
        f"| {snapshot.length}{f' | {snapshot.late} late' if snapshot.late else ''}"
    )


def answer_words(take: int, takes: int, bars_left: float | None, looping: bool) -> str:
    """The answer part of the line; ``bars_left`` None: continuous."""
    if takes == 0:
        return ""
    if looping:
        return f"looping take {take} of {takes}"
    if bars_left is None:
        return f"take {take} of {takes}, until stopped"
    if bars_left <= 0:
        return ""
    return f"take {take} of {takes}, {bars_text(math.ceil(bars_left * 2) / 2)} left"


#: The line being drawn, if any: log lines clear it first.
ACTIVE: "StatusLine | None" = None


class StatusLine:
    """Redraws ``read()`` on ``stream`` every ``every`` seconds while it changes; ``close`` clears it."""

    def __init__(self, read: Callable[[], Snapshot], stream: TextIO, every: float = 0.2, width: int = 160):
        self.read, self.stream, self.every, self.width = read, stream, every, width
        self._shown = ""
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="status line", daemon=True)

    def start(self) -> "StatusLine":
        global ACTIVE
        ACTIVE = self
        self._thread.start()
        return self

    def draw(self, text: str) -> None:
        text = text[: self.width]
        with self._lock:
            if text != self._shown:
                self.stream.write("\r" + text + "\x1b[K")
                self.stream.flush()
                self._shown = text

    def clear_for_log(self) -> None:
        """Before a log line: the line is blanked (and drawn again at the next round)."""
        with self._lock:
            if self._shown:
                self.stream.write("\r\x1b[K")
                self.stream.flush()
                self._shown = ""

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            try:
                self.draw(describe(self.read()))
            except Exception:  # a status line must never take the daemon down
                continue

    def close(self) -> None:
        global ACTIVE
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()
        self.clear_for_log()
        if ACTIVE is self:
            ACTIVE = None
