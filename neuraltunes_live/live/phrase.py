"""Hearing a phrase: from the player's first note to a pause (or a length limit).

A phrase starts at the first note-on. It ends when every key is up and
``silence_beats`` have passed since the last release, or when it has lasted
``max_phrase_beats`` (keys still down are cut there). A phrase of fewer than
``min_notes`` notes is ignored: a stray touch does not start a response.

Notes are put on the model's grid at the tempo in force, counting beats from
the phrase's first note-on, so what the player plays is what the model hears
whatever the tempo. Only note-on and note-off (and note-on at velocity 0) on
the listened channel count; clock, sysex, aftertouch, pitch bend, program and
control changes pass by without effect.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from neuraltunes_live.core.keys import estimate_key
from neuraltunes_live.core.notes import quantize
from neuraltunes_live.live.messages import Message


@dataclass(frozen=True)
class Phrase:
    notes: np.ndarray  # grid ticks from the first note-on's beat
    started: float  # clock time of the first note-on
    decided: float  # clock time the phrase was found complete


@dataclass
class _Held:
    start: float
    velocity: int


class PhraseDetector:
    """Feed it input messages and poll it; it returns each phrase once, when complete."""

    def __init__(
        self,
        *,
        silence_beats: float = 1.0,
        max_phrase_beats: float = 32.0,
        min_notes: int = 2,
        channel: int | None = None,
        adaptive: bool = False,
    ):
        self.silence_beats = silence_beats
        #: Adapt the silence that ends a phrase to how it ended (``end_wait``); else always ``silence_beats``.
        self.adaptive = adaptive
        self.max_phrase_beats = max_phrase_beats
        self.min_notes = min_notes
        self.channel = channel
        self._reset()

    def reset(self) -> None:
        """Forget the phrase in progress (accompany mode heard it)."""
        self._reset()

    def _reset(self) -> None:
        self._started: float | None = None
        self._held: dict[int, _Held] = {}
        self._done: list[tuple[float, float, int, int]] = []  # start, end, pitch, velocity
        self._last_release: float | None = None
        self._wait = self.silence_beats  # beats of silence that end the phrase, as it ended so far

    @property
    def active(self) -> bool:
        """True from a phrase's first note-on until it is returned or dropped."""
        return self._started is not None

    def note(self, message: Message) -> tuple[bool, int, int] | None:
        """``(pressed, pitch, velocity)`` of a note message on the listened channel, else None."""
        if len(message) < 3:
            return None
        status, pitch, velocity = message[0], message[1], message[2]
        kind, channel = status & 0xF0, status & 0x0F
        if kind not in (0x80, 0x90) or status >= 0xF0:
            return None
        if self.channel is not None and channel != self.channel:
            return None
        if not (0 <= pitch <= 127 and 0 <= velocity <= 127):
            return None  # malformed data bytes: ignore, never raise
        return kind == 0x90 and velocity > 0, pitch, velocity

    def feed(self, t: float, message: Message, seconds_per_beat: float) -> Phrase | None:
        """Take one input message at time ``t``; a Phrase if this completed one."""
        finished = self.poll(t, seconds_per_beat)
        note = self.note(message)
        if note is None:
            return finished
        pressed, pitch, velocity = note
        if pressed:
            if self._started is None:
                self._started = t
            if pitch in self._held:  # struck again without a release
                self._release(pitch, t)
            self._held[pitch] = _Held(t, velocity)
        else:
            if pitch in self._held:
                self._release(pitch, t)
                if not self._held:
                    self._last_release = t
                    if self.adaptive:
                        self._wait = end_wait(self._done, self._started or t, seconds_per_beat, self.silence_beats)
        return finished

    def _release(self, pitch: int, t: float) -> None:
        held = self._held.pop(pitch)
        self._done.append((held.start, t, pitch, held.velocity))

    def poll(self, t: float, seconds_per_beat: float) -> Phrase | None:
        """Call often (each few ms): completes a phrase on silence or length."""
        if self._started is None:
            return None
        if not self._held and self._last_release is not None:
            if t - self._last_release >= self._wait * seconds_per_beat:
                return self._finish(t, seconds_per_beat)
        if t - self._started >= self.max_phrase_beats * seconds_per_beat:
            # Keys still down are cut here; their later releases are ignored.
            for pitch in list(self._held):
                self._release(pitch, t)
            return self._finish(t, seconds_per_beat)
        return None

    @property
    def released(self) -> int:
        """How many notes of the phrase in progress have ended."""
        return len(self._done)

    def so_far(self, seconds_per_beat: float) -> np.ndarray | None:
        """The ended notes of the phrase in progress, on the grid (None when there is none)."""
        if self._started is None or not self._done:
            return None
        return _on_grid(self._done, self._started, seconds_per_beat)

    def _finish(self, t: float, seconds_per_beat: float) -> Phrase | None:
        started, done = self._started, self._done
        self._reset()
        if len(done) < self.min_notes or started is None:
            return None
        return Phrase(notes=_on_grid(done, started, seconds_per_beat), started=started, decided=t)


#: How much sooner a landing ends a phrase, and how much longer a breath may last, than ``silence_beats``.
LANDING, BREATH = 0.5, 1.5
#: The notes ``end_wait`` looks at: the phrase's last ones.
RECENT = 64


def end_wait(
    done: list[tuple[float, float, int, int]], started: float, seconds_per_beat: float, silence: float
) -> float:
    """Beats of silence that end a phrase, from how its last note ended (all keys are up).

    - A **landing** closes it after half of ``silence``: the phrase's tonic
      (the key estimated from the phrase itself, of four notes or more)
      struck on a beat and held about as long as its typical note.
    - A **breath** may last half again as long: a last note clearly shorter (3/4) than the
      phrase's typical note, which is how a player pauses mid-line.
    - Anything else waits ``silence``, the fixed rule's time.

    (A held note as a landing was tried and left out: a long note let go
    early leaves a gap inside a phrase, and half the silence cut 10 % of
    whole phrases in ``benchmarks/turn_taking.py``, against 3 % without it.)
    """
    if len(done) < 2:
        return silence
    done = done[-RECENT:]  # a flood of notes costs no more than a phrase
    starts = np.array([d[0] for d in done])
    lengths = (np.array([d[1] for d in done]) - starts) / seconds_per_beat
    last = int(np.argmax(starts))
    typical, length = float(np.median(lengths)), float(lengths[last])
    if len(done) >= 4:
        key = estimate_key(np.array([d[2] for d in done]), lengths)
        beat = (starts[last] - started) / seconds_per_beat
        on_beat = abs(beat - round(beat)) <= 0.125
        if key is not None and done[last][2] % 12 == key.tonic and on_beat and length >= 0.75 * typical:
            return silence * LANDING
    if length < typical * 0.75:  # clearly shorter: a few ms of timing never reads as a breath
        return silence * BREATH
    return silence


def _on_grid(done: list[tuple[float, float, int, int]], started: float, seconds_per_beat: float) -> np.ndarray:
    rows = np.array(done, dtype=np.float64)
    return quantize(
        (rows[:, 0] - started) / seconds_per_beat,
        (rows[:, 1] - started) / seconds_per_beat,
        rows[:, 2].astype(np.int32),
        rows[:, 3].astype(np.int32),
    )
