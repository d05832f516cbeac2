"""Every note-on sent, until its note-off: so none is ever left sounding.

Messages are raw MIDI bytes as tuples (``(0x90 | channel, pitch, velocity)``),
what rtmidi sends; the port layer needs no translation and this module needs
no MIDI library. The tracker is the only way notes reach the output: it
answers each request with the messages to send, and ``close_all`` with a
note-off for every open note, then Sustain off (CC 64 = 0) and All Notes Off
(CC 123) on the channel, for synths that missed something.
"""

from __future__ import annotations

import threading

from neuraltunes_live.live.messages import Message

NOTE_OFF, NOTE_ON, CONTROL_CHANGE = 0x80, 0x90, 0xB0
SUSTAIN, ALL_NOTES_OFF = 64, 123


def note_on(channel: int, pitch: int, velocity: int) -> Message:
    return (NOTE_ON | channel, pitch, velocity)


def note_off(channel: int, pitch: int) -> Message:
    return (NOTE_OFF | channel, pitch, 0)


def control_change(channel: int, controller: int, value: int) -> Message:
    return (CONTROL_CHANGE | channel, controller, value)


#: Who started a note: the answer (the scheduler) or the player (passed through).
ANSWER, PLAYER = "answer", "player"


class NoteTracker:
    """Open notes of one output, and whose each is; thread-safe.

    Everything sent to one output goes through its one tracker, the player's
    passed-through notes as well as the answer's, so a note-off can only end
    the note its owner started, and a panic or a stop ends them all. Notes go
    on ``channel`` unless another is named (the accompaniment's own channel).
    """

    def __init__(self, channel: int = 0):
        if not 0 <= channel <= 15:
            raise ValueError(f"MIDI channel must be 0..15, got {channel}")
        self.channel = channel
        self._open: dict[tuple[int, int], str] = {}  # (channel, pitch) -> who started the note sounding now
        self._used = {channel}  # every channel a note was sent on: close_all clears them all
        self._lock = threading.Lock()

    def start(self, pitch: int, velocity: int, owner: str = ANSWER, channel: int | None = None) -> list[Message]:
        """Messages that start ``pitch`` for ``owner``; a pitch already sounding is ended first."""
        velocity = max(1, min(127, velocity))
        channel = self.channel if channel is None else channel
        with self._lock:
            messages = []
            if (channel, pitch) in self._open:
                # One channel sounds one note per pitch; end it so the new
                # one's note-off cannot be taken for the old one's.
                messages.append(note_off(channel, pitch))
            self._open[(channel, pitch)] = owner
            self._used.add(channel)
            messages.append(note_on(channel, pitch, velocity))
            return messages

    def stop(self, pitch: int, owner: str = ANSWER, channel: int | None = None) -> list[Message]:
        """The note-off for ``pitch`` if it sounds and ``owner`` started it, else nothing.

        (The other's note on the same pitch took over the key: its own
        note-off ends it.)
        """
        key = (self.channel if channel is None else channel, pitch)
        with self._lock:
            if self._open.get(key) != owner:
                return []
            del self._open[key]
            return [note_off(key[0], pitch)]

    def close_all(self) -> list[Message]:
        """Note-offs for every open note, then Sustain off and All Notes Off on every channel used."""
        with self._lock:
            messages = [note_off(channel, pitch) for channel, pitch in sorted(self._open)]
            self._open.clear()
            used = sorted(self._used)
        for channel in used:
            messages.append(control_change(channel, SUSTAIN, 0))
            messages.append(control_change(channel, ALL_NOTES_OFF, 0))
        return messages

    @property
    def sounding(self) -> frozenset[int]:
        """Pitches sounding on the tracker's own channel."""
        return self.sounding_on(self.channel)

    def sounding_on(self, channel: int) -> frozenset[int]:
        with self._lock:
            return frozenset(p for c, p in self._open if c == channel)
