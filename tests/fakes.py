"""Test doubles and builders shared by the tests: tokens, live messages, a scripted model.

(MIDI-file builders for mido live in ``conftest.py``.)
"""

from __future__ import annotations

import logging

import numpy as np

from neuraltunes_live.cli import LogLines
from neuraltunes_live.core.encoding import DURATION_BASE, MIN_PITCH, PITCH_BASE, SHIFT_BASE, VOCAB_SIZE


def shift(ticks):
    """The token of a time shift of ``ticks``."""
    return SHIFT_BASE + ticks - 1


def pitch(p):
    """The token of MIDI pitch ``p``."""
    return PITCH_BASE + p - MIN_PITCH


def duration(ticks):
    """The token of a duration of ``ticks``."""
    return DURATION_BASE + ticks - 1


def note_on(p, velocity=100, channel=0):
    """A live note-on message, as the MIDI system delivers it."""
    return (0x90 | channel, p, velocity)


def note_off(p, channel=0):
    return (0x80 | channel, p, 0)


class ScriptedModel:
    """A step model that wants ``follow(last token)`` next, strongly; the state is the last token."""

    def __init__(self, follow, strength=30.0):
        self.follow = follow
        self.strength = strength
        self.primed_with = None

    def _logits(self, token):
        logits = np.zeros(VOCAB_SIZE)
        wanted = self.follow(token)
        if wanted is not None:
            logits[wanted] = self.strength
        return logits

    def prime(self, tokens, state=None):
        self.primed_with = list(map(int, tokens))
        return np.stack([self._logits(int(t)) for t in tokens]), int(tokens[-1])

    def step(self, token, state):
        return self._logits(token), token


def repeated_notes_of(p, ticks):
    """Repeats: SHIFT(ticks) → PITCH(p) → DURATION(ticks) → SHIFT(ticks) ..."""

    def follow(token):
        if PITCH_BASE <= token < DURATION_BASE:
            return duration(ticks)
        if DURATION_BASE <= token:
            return shift(ticks)
        return pitch(p)

    return follow


def quarter_notes_of(p):
    """Quarter notes of ``p`` for ever."""
    return repeated_notes_of(p, 12)


def straight_eighths_of(p):
    """Straight eighths of ``p`` for ever."""
    return repeated_notes_of(p, 6)


class _Lines(logging.Handler):
    def __init__(self, lines: list[str]):
        super().__init__()
        self.lines = lines
        self.setFormatter(LogLines())

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.extend(self.format(record).splitlines())


def log_lines() -> list[str]:
    """A list that gathers the package's log lines (info and up) as the command line writes them.

    The ``conftest`` detaches it after the test.
    """
    lines: list[str] = []
    package = logging.getLogger("neuraltunes_live")
    package.addHandler(_Lines(lines))
    package.setLevel(logging.INFO)
    return lines


def detach_log_lines() -> None:
    package = logging.getLogger("neuraltunes_live")
    for handler in [h for h in package.handlers if isinstance(h, _Lines)]:
        package.removeHandler(handler)
