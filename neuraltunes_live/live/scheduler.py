"""Sending notes on time: absolute deadlines, and nothing left sounding.

The generator thread hands over notes in *beats* (onset, duration) through
``Scheduler.submit``; the scheduler thread turns each into a note-on and a
note-off, keeps them in a heap, and sends each when its beat comes on the
timeline (a fixed tempo, or the DAW's clock). It never calls the model and
never computes a delay from "now": every wait is until an absolute time, so
late wake-ups do not add up. A deadline is looked up again after each wait of
at most ``max_wait`` seconds, so a tempo change or a clock Stop takes effect
at once. All notes go through the ``NoteTracker``; ``silence`` sends a
note-off for every sounding note, then Sustain off and All Notes Off.

With a ``TimedOutput`` (JACK) the scheduler does not send at the deadline:
it hands each event over ``lead`` seconds before it, with the deadline, and
the MIDI system writes it at its own frame. Its wake-ups then only need to
be early, not exact. What is cancelled after it was handed over is taken
back (``retract``): note-ons not yet written are dropped; note-offs stay,
since a note-off for a note never struck is harmless and one missing is not.
"""

from __future__ import annotations

import heapq
import itertools
import threading
from dataclasses import dataclass, field
from typing import Callable, Protocol

from neuraltunes_live.live.clock import Clock
from neuraltunes_live.live.messages import Message
from neuraltunes_live.live.notetracker import NoteTracker


class Timeline(Protocol):
    """Beats against clock time: a fixed tempo, or a DAW's MIDI clock."""

    def time_of(self, beat: float) -> float | None:
        """Clock time of ``beat``, or None while time is stopped."""

    def beat_at(self, t: float) -> float | None:
        """The beat at clock time ``t``, or None while time is stopped."""

    @property
    def seconds_per_beat(self) -> float | None:
        """The tempo, or None while it is not known yet."""


class TimedOutput(Protocol):
    """An output that takes events ahead of time with the clock time each is due (``JackMidiOutput``)."""

    @property
    def lead(self) -> float:
        """How long before its time an event must be handed over, in seconds."""

    def send_at(self, t: float, message: Message, tag: int) -> None:
        """Play ``message`` at clock time ``t``; ``tag`` is the response it belongs to."""

    def retract(self, tag: int | None, after: float | None) -> None:
        """Drop the note-ons handed over and not yet written: of response ``tag`` (all if None), due at
        ``after`` or later (all if None)."""


@dataclass(frozen=True)
class FixedTempo:
    """Beats at a steady tempo from ``origin`` (the clock time of beat 0)."""

    origin: float
    bpm: float

    def time_of(self, beat: float) -> float | None:
        return self.origin + beat * 60.0 / self.bpm

    def beat_at(self, t: float) -> float:
        return (t - self.origin) * self.bpm / 60.0

    @property
    def seconds_per_beat(self) -> float:
        return 60.0 / self.bpm


@dataclass(order=True)
class _Event:
    beat: float
    order: int  # note-offs (0) before note-ons (1) at one beat; then arrival
    seq: int
    pitch: int = field(compare=False)
    velocity: int = field(compare=False)
    response: int = field(compare=False)
    channel: int | None = field(default=None, compare=False)  # None: the tracker's own


@dataclass(frozen=True)
class Sent:
    deadline: float
    sent: float
    message: Message


class Scheduler:
    """Holds pending note events and sends them at their deadlines."""

    def __init__(
        self,
        clock: Clock,
        send: Callable[[Message], None],
        tracker: NoteTracker,
        timeline: Timeline,
        *,
        max_wait: float = 0.005,
        on_sent: Callable[[Sent], None] | None = None,
        offset: float = 0.0,
        timed: TimedOutput | None = None,
    ):
        """Sends ``tracker``'s messages through ``send`` at the times ``timeline`` gives the beats.

        ``clock``: the time the deadlines are on (also of ``timeline``). ``send``: sends one message
        now (the scheduler thread's, or whichever thread cancels). ``max_wait``: the longest wait
        before a deadline is looked up again. ``on_sent``: told of each message sent (or handed over)
        with its deadline, from the same thread. ``offset``: seconds added to every deadline.
        ``timed``: hand events over ahead with their times instead of sending them when due.
        """
        self.clock = clock
        self.timed = timed
        #: Seconds added to every deadline (``output_offset_ms``): later for a positive offset, earlier
        #: for a negative one, so answers land on the DAW's grid after its monitoring latency.
        self.offset = offset
        self.send = send
        self.tracker = tracker
        self.timeline = timeline
        self.max_wait = max_wait
        self.on_sent = on_sent
        self._heap: list[_Event] = []
        self._seq = itertools.count()
        self._lock = threading.Condition()

    def set_timeline(self, timeline: Timeline) -> None:
        with self._lock:
            self.timeline = timeline
            self._lock.notify_all()

    def submit(self, onset: float, pitch: int, duration: float, velocity: int, response: int = 0) -> None:
        """Schedule a note, times in beats on the timeline."""
        with self._lock:
            heapq.heappush(self._heap, _Event(onset, 1, next(self._seq), pitch, velocity, response))
            heapq.heappush(self._heap, _Event(onset + duration, 0, next(self._seq), pitch, 0, response))
            self._lock.notify_all()

    def strike(self, beat: float, pitch: int, velocity: int, response: int, channel: int | None = None) -> None:
        """Schedule a note-on alone (its note-off comes with ``release``, when it is known)."""
        with self._lock:
            heapq.heappush(self._heap, _Event(beat, 1, next(self._seq), pitch, velocity, response, channel))
            self._lock.notify_all()

    def release(self, beat: float, pitch: int, response: int, channel: int | None = None) -> None:
        """Schedule the note-off of a note struck with ``strike``."""
        with self._lock:
            heapq.heappush(self._heap, _Event(beat, 0, next(self._seq), pitch, 0, response, channel))
            self._lock.notify_all()

    @property
    def lead(self) -> float:
        """How far ahead of its deadline an event leaves the scheduler (0 where it is sent when due)."""
        return 0.0 if self.timed is None else self.timed.lead

    def pending(self) -> int:
        with self._lock:
            return len(self._heap)

    def last_beat(self) -> float | None:
        """The latest beat anything is scheduled for (how far ahead the queue reaches)."""
        with self._lock:
            return max((e.beat for e in self._heap), default=None)

    def cancel(self, response: int | None = None) -> None:
        """Drop pending events (of one response, or all) and end their sounding notes."""
        with self._lock:
            keep = [e for e in self._heap if response is not None and e.response != response]
            dropped = [e for e in self._heap if not (response is not None and e.response != response)]
            self._heap = keep
            heapq.heapify(self._heap)
            if self.timed is not None:
                self.timed.retract(response, None)
            # A note whose note-on went out but whose note-off was dropped must end now.
            for event in dropped:
                if event.order == 0:
                    for message in self.tracker.stop(event.pitch, channel=event.channel):
                        self._emit(self.clock.now(), message)

    def cut(self, response: int, beat: float) -> None:
        """End a response at ``beat``: its events from there on are dropped, and a note it
        started before ``beat`` that would sound past it gets its note-off at ``beat``."""
        with self._lock:
            dropped = [e for e in self._heap if e.response == response and e.beat >= beat]
            if not dropped:
                return
            gone = {id(e) for e in dropped}
            self._heap = [e for e in self._heap if id(e) not in gone]
            if self.timed is not None:
                at = self.timeline.time_of(beat)
                self.timed.retract(response, None if at is None else at + self.offset)
            unstruck = {e.seq for e in dropped if e.order == 1}  # note-ons that will not be sent
            for event in dropped:
                if event.order == 0 and event.seq - 1 not in unstruck:
                    self._heap.append(_Event(beat, 0, next(self._seq), event.pitch, 0, response, event.channel))
            heapq.heapify(self._heap)
            self._lock.notify_all()

    def silence(self) -> None:
        """Drop everything pending; note-off every sounding note; Sustain off, All Notes Off."""
        with self._lock:
            self._heap.clear()
            if self.timed is not None:
                self.timed.retract(None, None)
            for message in self.tracker.close_all():
                self._emit(self.clock.now(), message)

    def _emit(self, deadline: float, message: Message, response: int | None = None) -> None:
        """Send now; or, for a planned event (``response`` given) on a timed output, hand it over."""
        if response is not None and self.timed is not None:
            self.timed.send_at(deadline, message, response)
        else:
            self.send(message)
        if self.on_sent is not None:
            self.on_sent(Sent(deadline, self.clock.now(), message))

    def run_once(self) -> bool:
        """Send what is due, or wait a while for it; False when nothing is pending."""
        with self._lock:
            if not self._heap:
                return False
            event = self._heap[0]
            deadline = self.timeline.time_of(event.beat)
            if deadline is not None:
                deadline += self.offset
        now = self.clock.now()
        if deadline is None:  # time stopped: look again shortly
            self.clock.sleep_until(now + self.max_wait)
            return True
        due = deadline - self.lead
        if due > now:
            self.clock.sleep_until(min(due, now + self.max_wait))
            if self.clock.now() < due:
                return True
        with self._lock:
            if not self._heap or self._heap[0] is not event:
                return True  # cancelled or overtaken while waiting
            heapq.heappop(self._heap)
            if event.order == 1:
                messages = self.tracker.start(event.pitch, event.velocity, channel=event.channel)
            else:
                messages = self.tracker.stop(event.pitch, channel=event.channel)
            for message in messages:
                self._emit(deadline, message, event.response)
        return True

    def run_until_idle(self) -> None:
        """Send everything pending (with a fake clock: instantly, at exact times)."""
        while self.run_once():
            pass

    def run(self, stop: threading.Event) -> None:
        """The scheduler thread's loop; on stop, silence everything."""
        try:
            while not stop.is_set():
                if not self.run_once():
                    with self._lock:
                        self._lock.wait(timeout=self.max_wait)
        finally:
            self.silence()
