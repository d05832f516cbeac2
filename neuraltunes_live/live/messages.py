"""MIDI messages from the bytes a MIDI system delivers: one table, one decoder.

Everything the daemon hears passes through ``split`` once, in the generator
thread: a delivery (one event of the MIDI system) becomes the messages it
holds, and whatever is malformed is dropped with the reason, so one bad
event never costs the next. The rules:

- real-time bytes (clock, start, continue, stop, active sensing, reset) are
  single-byte messages wherever they appear, even inside another message,
  as the MIDI spec allows;
- what is left must be exactly one message: a status byte ``STATUS_LENGTHS``
  knows, followed by exactly its number of data bytes (0..127 each); a SysEx
  is F0, data bytes, F7;
- anything else (no status, an undefined status, too few or too many bytes, a
  SysEx without its F7, a data byte above 127) is dropped whole.
"""

from __future__ import annotations

from typing import NamedTuple

Message = tuple[int, ...]

#: Data bytes after each channel status (by its high nibble) and system status.
STATUS_LENGTHS: dict[int, int] = {
    0x80: 2,  # note off
    0x90: 2,  # note on
    0xA0: 2,  # polyphonic aftertouch
    0xB0: 2,  # control change
    0xC0: 1,  # program change
    0xD0: 1,  # channel aftertouch
    0xE0: 2,  # pitch bend
    0xF1: 1,  # MIDI time code quarter frame
    0xF2: 2,  # song position pointer
    0xF3: 1,  # song select
    0xF6: 0,  # tune request
}
SYSEX, END_OF_SYSEX = 0xF0, 0xF7
#: Single-byte messages that may come anywhere, even inside another message.
REAL_TIME = frozenset({0xF8, 0xFA, 0xFB, 0xFC, 0xFE, 0xFF})


class Split(NamedTuple):
    """What one delivery held: its messages, and why the rest was dropped (None: nothing was)."""

    messages: list[Message]
    dropped: str | None


def _length(status: int) -> int | None:
    return STATUS_LENGTHS.get(status & 0xF0 if status < 0xF0 else status)


def split(data: bytes | tuple[int, ...] | list[int]) -> Split:
    """The messages in one delivery of bytes, real-time ones first, and what was dropped."""
    raw = list(data)
    if any(not isinstance(b, int) or not 0 <= b <= 255 for b in raw):
        return Split([], "not bytes")
    real_time: list[Message] = [(b,) for b in raw if b in REAL_TIME]
    rest = [b for b in raw if b not in REAL_TIME]
    if not rest:
        return Split(real_time, None if raw else "an empty message")
    status, body = rest[0], rest[1:]
    if status < 0x80:
        return Split(real_time, "data bytes without a status byte")
    if status == SYSEX:
        if not body or body[-1] != END_OF_SYSEX:
            return Split(real_time, "a SysEx without its end (F7)")
        if any(b >= 0x80 for b in body[:-1]):
            return Split(real_time, "a SysEx with a status byte inside")
        return Split(real_time + [tuple(rest)], None)
    length = _length(status)
    if length is None:
        return Split(real_time, f"an undefined status byte {status:02X}")
    if len(body) != length:
        return Split(real_time, f"{len(body)} data bytes after {status:02X}, which takes {length}")
    if any(b >= 0x80 for b in body):
        return Split(real_time, f"a data byte above 127 after {status:02X}")
    return Split(real_time + [tuple(rest)], None)


def channel_messages(data: bytes | tuple[int, ...] | list[int]) -> list[Message]:
    """The channel messages (notes, controllers, ...) in one delivery: no clock, no SysEx, nothing malformed."""
    return [m for m in split(data).messages if m[0] < 0xF0]


def describe(data: bytes | tuple[int, ...] | list[int], most: int = 8) -> str:
    """Bytes as hex for a log line: "F0 01", cut after ``most``."""
    if not len(data):
        return "no bytes"
    shown = " ".join(f"{b:02X}" if isinstance(b, int) and 0 <= b <= 255 else "??" for b in list(data)[:most])
    return shown + (" ..." if len(data) > most else "")


class DropCounter:
    """Counts dropped deliveries and says so at most once every ``every`` seconds.

    ``dropped(data, why)`` counts one; ``due(t)`` gives the line to log, if
    one is due: how many since the last line, and the last one's bytes and reason.
    """

    def __init__(self, every: float = 1.0):
        self.every = every
        self.total = 0
        self._count = 0
        self._last: tuple[bytes | tuple[int, ...] | list[int], str] | None = None
        self._logged_at: float | None = None

    def dropped(self, data, why: str) -> None:
        self.total += 1
        self._count += 1
        self._last = (data, why)

    def due(self, t: float) -> str | None:
        if not self._count or (self._logged_at is not None and t - self._logged_at < self.every):
            return None
        assert self._last is not None  # counted, so one was kept
        data, why = self._last
        count, self._count, self._logged_at = self._count, 0, t
        many = f"{count} malformed MIDI messages" if count > 1 else "a malformed MIDI message"
        return f"dropped {many} (the last: {describe(data)}: {why}); still listening"
