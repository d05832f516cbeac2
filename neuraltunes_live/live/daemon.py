"""The live daemon: the engine, a scheduler and two threads between two ports.

Threads:

* the MIDI system's input callback only puts ``(time, message)`` in the inbox
  (the time the MIDI system gives it, its frame on JACK; else the clock's now);
* the generator thread takes the inbox, feeds the engine (phrases, knobs, the
  DAW's clock) and samples ahead into the scheduler, every ``tick`` seconds;
* the scheduler thread sends at absolute deadlines, or on JACK hands each event
  to the port a period ahead with its time, and never calls the model;
* the main thread (``serve``) handles signals and watches the ports.

``Daemon`` knows nothing of rtmidi: it takes a ``send`` function and is fed
through ``receive``, so tests drive it with a fake clock and a list. Errors in
one message or one answer are logged, the answer is silenced, and the daemon
goes on.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import queue
import sys
import threading
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from neuraltunes_live.config import STYLES, Config
from neuraltunes_live.core.accompany import AccompanyModel
from neuraltunes_live.core.continuation import StepModel
from neuraltunes_live.live.accompanist import LiveAccompanist
from neuraltunes_live.live.clock import Clock
from neuraltunes_live.live.clockfollow import ClockFollower
from neuraltunes_live.live.controls import LEARNED, Controls, KnobLearner, KnobLog, LiveParameters, bars_text
from neuraltunes_live.live.controls import describe as describe_knobs
from neuraltunes_live.live.engine import Engine, SampledAnswer
from neuraltunes_live.live.messages import DropCounter, Message, split
from neuraltunes_live.live.notetracker import PLAYER, NoteTracker
from neuraltunes_live.live.phrase import Phrase
from neuraltunes_live.live.scheduler import FixedTempo, Scheduler, Sent, TimedOutput
from neuraltunes_live.live.status import Snapshot, answer_words, phrase_key

logger = logging.getLogger(__name__)

TICK_SECONDS = 0.002
#: What the take buttons do, as the log says it.
TAKE_BUTTONS = {
    "keep": "keep: the last answer loops until let go",
    "release": "keep let go: the loop stops",
    "again": "again: a new take of the answer",
    "undo": "undo: back to the take before",
}
#: Python hands the GIL between threads every 5 ms by default; the scheduler
#: thread must not wait that long behind the generator.
SWITCH_INTERVAL = 0.0002


@dataclass
class Delivery:
    """Bytes as the MIDI system delivered them: one message, or junk."""

    data: tuple[int, ...]


@dataclass
class Command:
    """Something for the generator thread to do (the engine is only touched there)."""

    run: Callable[[], None]


class Daemon:
    def __init__(
        self,
        model: StepModel,
        config: Config,
        *,
        clock: Clock,
        send: Callable[[Message], None],
        rng: np.random.Generator,
        on_sent: Callable[[Sent], None] | None = None,
        realtime: bool = True,
        hear: Callable[[Message], None] | None = None,
        on_phrase: Callable[[Phrase], None] | None = None,
        learned: Callable[[dict[str, int]], None] | None = None,
        timed: TimedOutput | None = None,
        accompaniment: AccompanyModel | None = None,
    ):
        """Wires the engine, the scheduler and the knobs between ``receive`` and ``send``.

        ``model``: the network answers are sampled from (swapped with ``swap_model``). ``config``:
        every setting, read once here. ``clock``: the time everything is on (a ``FrameClock`` on
        JACK). ``send``: sends one message to the output now, from the scheduler thread (or the
        generator's, for the player's notes passed through). ``rng``: every random choice.
        ``on_sent``: told of each message the scheduler sends, in its thread. ``realtime``: ask for
        real-time priority and a short GIL switch interval for the scheduler thread (only where it
        sends at deadlines: with ``timed`` JACK does the timing). ``hear``: gets the player's notes
        (the synth's ``--synth-input``), from the generator thread. ``on_phrase``: told of each
        phrase answered, from the generator thread. ``learned``: with ``serve --learn``, gets the
        knob map once every control is assigned, from the generator thread. ``timed``: an output
        that takes events ahead with their times (``JackMidiOutput``). ``accompaniment``: the model
        accompany mode plays with (None: the mode is refused).
        """
        live = config.live
        self.timed = timed
        self.realtime = realtime and timed is None
        self.clock = clock
        self.send = send
        self.output_channel = live.output_channel - 1
        self.passthrough = live.passthrough
        self.log_notes = live.log_notes
        #: Where the player's notes go besides the engine (the synth's ``--synth-input``), on their own channel.
        self.hear = hear
        #: Told of each phrase answered (the session recorder).
        self.on_phrase = on_phrase
        #: ``serve --learn``: control changes assign the controls in turn, then ``learned`` gets the map.
        self.learner = KnobLearner(config.controls.knob_channel()) if learned is not None else None
        self.learned = learned
        self.last_notes: np.ndarray | None = None  # the last phrase answered, for the status line
        self._key_of: tuple[np.ndarray | None, str] = (None, "")  # (those notes, their key), found once
        self.follower = ClockFollower() if live.clock == "external" else None
        timeline = self.follower if self.follower is not None else FixedTempo(clock.now(), live.tempo)
        self.tracker = NoteTracker(self.output_channel)
        self.scheduler = Scheduler(
            clock, send, self.tracker, timeline, on_sent=on_sent, offset=live.output_offset_ms / 1000, timed=timed
        )
        self.controls = Controls(config.controls, LiveParameters.starting(live, config.accompany))
        accompanist = None
        if accompaniment is not None:
            accompanist = LiveAccompanist(
                accompaniment,
                self.scheduler,
                timeline,
                self.controls,
                config.accompany,
                live,
                rng,
                number=lambda: self.engine.next_number(),
                on_start=lambda beat: logger.info(f"accompanying from beat {beat:g}"),
                on_stop=lambda beat, why: logger.info(f"accompaniment stopped at beat {beat:g}: {why}"),
            )
        self.engine = Engine(
            model,
            self.scheduler,
            timeline,
            self.controls,
            {name: config.style(name) for name in STYLES},
            live,
            rng,
            on_response=self._answering,
            on_skip=lambda phrase, why: logger.info(f"heard {len(phrase.notes)} notes; not answering: {why}"),
            on_control=self._control,
            accompanist=accompanist,
        )
        self.knobs = KnobLog(self.controls.current)
        self.drops = DropCounter()
        self.inbox: queue.SimpleQueue[tuple[float, Delivery | Command]] = queue.SimpleQueue()
        self.generator_stop = threading.Event()
        self.scheduler_stop = threading.Event()
        self._generator: threading.Thread | None = None
        self._switch_interval: float | None = None
        self._scheduler: threading.Thread | None = None

    # --- called from other threads ----------------------------------------

    def receive(self, data: Message | bytes, t: float | None = None) -> None:
        """The input callback: enqueue the bytes with their time, nothing more.

        ``t`` is when the MIDI system says they came (their frame, on JACK); None: now. The bytes
        are read (``messages.split``) in the generator thread.
        """
        self.inbox.put((self.clock.now() if t is None else t, Delivery(tuple(data))))

    def command(self, run: Callable[[], None]) -> None:
        self.inbox.put((self.clock.now(), Command(run)))

    def swap_model(self, model: StepModel) -> None:
        """Use ``model`` from the next answer on (the one playing finishes)."""
        self.command(lambda: setattr(self.engine, "model", model))

    def silence(self, why: str) -> None:
        """Stop the answer and end every sounding note (from any thread)."""

        def run() -> None:
            self.engine.halt()
            logger.info(why)

        self.command(run)

    # --- the generator thread ---------------------------------------------

    def _answering(self, number: int, phrase: Phrase, start_beat: float) -> None:
        live = self.controls.current
        response = self.engine.response
        length = "until stopped"
        if isinstance(response, SampledAnswer) and response.end_beat is not None:
            bars = round((response.end_beat - response.start_beat) / self.engine.settings.beats_per_bar)
            length = bars_text(bars) + (", as long as the call" if live.length == "follow" else "")
        tempo = ""
        if self.follower is not None and self.follower.bpm is not None:
            tempo = f", {self.follower.bpm:.3f} BPM from the DAW's clock"
        logger.info(
            f"heard {len(phrase.notes)} notes; answering ({live.style}, temperature x{live.temperature:.2f}, "
            f"{length}{tempo})"
        )
        self.last_notes = phrase.notes  # its key is found by the status line's thread, not here before the answer
        if self.on_phrase is not None:
            self.on_phrase(phrase)

    def _control(self, t: float, what: str) -> None:
        if what == "panic":
            logger.info("panic: answer stopped, every note closed")
            return
        if what in TAKE_BUTTONS:
            engine = self.engine
            takes = f"take {engine.take_index + 1} of {len(engine.takes)}" if engine.takes else "nothing answered yet"
            logger.info(f"{TAKE_BUTTONS[what]} ({takes})")
            return
        self.knobs.changed(t)
        if what == "mode":
            self._log_knobs(t, now=True)

    def _log_knobs(self, t: float, now: bool = False) -> None:
        line = self.knobs.due(t, self.controls.current, now=now)
        if line is not None:
            logger.info(line)

    def process(self, t: float, item: Delivery | Command) -> None:
        """One inbox item, at the time it arrived."""
        if isinstance(item, Command):
            item.run()
            return
        messages, dropped = split(item.data)
        if dropped is not None:
            self.drops.dropped(item.data, dropped)
        for message in messages:
            self._guarded(lambda: self._handle(t, message), "a message")

    def _handle(self, t: float, message: Message) -> None:
        if self.follower is not None and message[0] >= 0xF0:
            event = self.follower.feed(t, message)
            if event is not None and event.kind == "stop":
                self.engine.halt()
                logger.info("clock stopped: answer stopped, notes closed")
            elif event is not None:
                logger.info(f"clock {event.kind}")
            return
        if self.learner is not None and message[0] & 0xF0 == 0xB0:
            self._learn(message)
            return
        if self.log_notes and len(message) == 3 and message[0] & 0xF0 == 0x90 and message[2] > 0:
            logger.info(f"heard note {message[1]} at {t:.6f} s")
        self.engine.handle(t, message)
        if self.passthrough:
            self._pass(message)
        elif self.hear is not None and self.engine.detector.note(message) is not None:
            self.hear(message)

    def snapshot(self) -> Snapshot:
        """The state the status line shows (from its own thread: reads, never locks the scheduler)."""
        engine, live = self.engine, self.controls.current
        now = engine.timeline.beat_at(self.clock.now())
        looping = engine.looping
        until = engine.playing_until
        left = None if until is None or now is None else (until - now) / engine.settings.beats_per_bar
        if until is None and not looping and live.mode != "continuous":
            left = 0.0
        answer = answer_words(engine.take_index + 1, len(engine.takes), left, looping)
        notes = self.last_notes
        if notes is not None and self._key_of[0] is not notes:  # (an id could be a freed array's, reused)
            self._key_of = (notes, phrase_key(notes))
        heard = 0 if notes is None else len(notes)
        length = describe_knobs(live)["bars"]
        late = 0 if self.timed is None else getattr(self.timed, "late", 0)
        return Snapshot(heard, self._key_of[1], answer, live.mode, live.style, live.temperature, length, late)

    def _learn(self, message: Message) -> None:
        learner = self.learner
        assert learner is not None and self.learned is not None
        assigned = learner.feed(message)
        if assigned is None:
            return
        logger.info(f"learn: {dict(LEARNED)[assigned[0]]} is CC {assigned[1]}")
        if learner.asking is not None:
            logger.info(learner.prompt())
            return
        knobs, mapping = self.controls.map, dict(learner.assigned)  # every control, each its own number
        merged: dict[str, Any] = {**dataclasses.asdict(knobs), **mapping}
        self.controls.remap(type(knobs)(**merged))
        self.learner = None
        self.learned(mapping)

    def _pass(self, message: Message) -> None:
        """Send the player's note through the output's one tracker, as the player's."""
        note = self.engine.detector.note(message)
        if note is None:
            return
        pressed, pitch, velocity = note
        tracker = self.tracker
        for out in tracker.start(pitch, velocity, PLAYER) if pressed else tracker.stop(pitch, PLAYER):
            self.send(out)

    def work(self, timeout: float = TICK_SECONDS) -> None:
        """Wait up to ``timeout`` for input, take all there is, then tick the engine."""
        try:
            items = [self.inbox.get(timeout=timeout)]
        except queue.Empty:
            items = []
        while True:
            try:
                items.append(self.inbox.get_nowait())
            except queue.Empty:
                break
        for t, item in items:
            self._guarded(lambda: self.process(t, item), "a message")
        now = self.clock.now()
        self._guarded(lambda: self.engine.tick(now), "generating")
        self._log_knobs(now)
        line = self.drops.due(now)
        if line is not None:
            logger.info(line)

    def _guarded(self, run: Callable[[], None], what: str) -> None:
        try:
            run()
        except Exception as err:  # one bad message or answer must not stop the daemon
            self.engine.halt()
            # An error here is a bug: the traceback goes to the log with it.
            logger.error(
                f"error while {what} ({type(err).__name__}: {err}); answer silenced, still listening", exc_info=True
            )

    def _generator_loop(self) -> None:
        while not self.generator_stop.is_set():
            self.work()

    def _scheduler_loop(self) -> None:
        if self.realtime:
            _ask_for_realtime()
        self.scheduler.run(self.scheduler_stop)

    # --- lifetime -----------------------------------------------------------

    def start(self) -> None:
        if self.realtime:
            self._switch_interval = sys.getswitchinterval()
            sys.setswitchinterval(SWITCH_INTERVAL)
        self._scheduler = threading.Thread(target=self._scheduler_loop, name="scheduler", daemon=True)
        self._generator = threading.Thread(target=self._generator_loop, name="generator", daemon=True)
        self._scheduler.start()
        self._generator.start()

    def stop(self) -> None:
        """Stop generating, then silence every note and stop sending."""
        self.generator_stop.set()
        if self._generator is not None:
            self._generator.join()
        self.scheduler_stop.set()
        if self._scheduler is not None:
            self._scheduler.join()
        self.scheduler.silence()  # also when the threads never started; the player's notes too
        if self._switch_interval is not None:
            sys.setswitchinterval(self._switch_interval)  # the process's own, as it was
            self._switch_interval = None


def _ask_for_realtime() -> None:
    """Run the calling thread at real-time priority where the system allows it."""
    if not hasattr(os, "sched_setscheduler"):
        return
    try:
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(10))
        logger.info("scheduler thread runs at real-time priority")
    except OSError:
        pass  # not allowed (no rtprio limit): normal priority works, a little less steady
