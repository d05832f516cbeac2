"""Call and response: the daemon's logic, free of threads, ports and real time.

The engine takes input messages (with the time each arrived) and a regular
``tick``; it detects phrases, follows the knobs, and keeps the scheduler fed a
few beats ahead with the continuation, note by note, reading the knobs at
every note. The daemon runs it in its generator thread; tests drive it with a
fake clock and a scripted model and compare exact event lists.

Time: beats on one timeline (a fixed tempo, or the DAW's clock). A phrase is
quantized from its first note-on; the response starts on the next beat after
the phrase is complete (``start = "beat"``), the next bar line (``"bar"``), or
at once (``"immediate"``). Beats and bars count from the phrase's first note
(``grid = "phrase"``: the player sets the downbeat, as with the internal
tempo) or from the timeline's beat 0 (``"clock"``: the DAW's bars). The
model's own timing is kept from there: the first sampled note falls in the
start beat, at the place in the beat the model chose; with ``"immediate"`` it
sounds at once and the rest keep their distance from it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from neuraltunes_live.config import LiveSettings, StyleSettings
from neuraltunes_live.core.continuation import MAX_PRIME_NOTES, Continuer, PrimeCache, StepModel, phrase_tokens
from neuraltunes_live.core.notes import DURATION, ONSET, TICKS_PER_BEAT
from neuraltunes_live.core.sampling import SamplingSettings
from neuraltunes_live.live.accompanist import LiveAccompanist
from neuraltunes_live.live.controls import Controls
from neuraltunes_live.live.messages import Message
from neuraltunes_live.live.phrase import Phrase, PhraseDetector
from neuraltunes_live.live.scheduler import Scheduler, Timeline

START_GRACE_SECONDS = 0.015


def follow_bars(phrase: Phrase, beats_per_bar: int, most: int) -> int:
    """How many bars an answer that follows the call lasts: the call's whole bars, 1 to ``most``.

    The call is counted from its first note's beat to its last note's end,
    so a two-bar phrase whose last note is let go a little early is still two bars.
    """
    notes = phrase.notes
    beats = float((notes[:, ONSET] + notes[:, DURATION]).max()) / TICKS_PER_BEAT if len(notes) else 0.0
    return min(max(1, math.ceil(beats / beats_per_bar - 1e-9)), most)


def answer_offset(start_beat: float, first_onset: int, start: str) -> float:
    """The beat to add to the continuation's own beats (its ticks / ``TICKS_PER_BEAT``) to place the answer.

    The first note falls in ``start_beat``, where in the beat the model placed
    it; with ``start = "immediate"`` it sounds on ``start_beat`` itself.
    """
    if start == "immediate":
        return start_beat - first_onset / TICKS_PER_BEAT
    return start_beat - math.floor(first_onset / TICKS_PER_BEAT)


@dataclass
class Take:
    """An answer as it was played: notes in beats from its start, and its length in beats."""

    notes: list[tuple[float, int, float, int]] = field(default_factory=list)  # beat, pitch, duration, velocity
    length: float = 0.0


@dataclass
class SampledAnswer:
    number: int
    continuer: Continuer
    offset_beats: float | None  # timeline beat of the phrase's tick 0, once known
    start_beat: float
    end_beat: float | None  # None: continuous
    next_note: tuple[int, int, int, int] | None = None
    take: Take = field(default_factory=Take)  # what it played, for again, undo and keep


@dataclass
class Replay:
    """A take played again from ``start_beat``: once (undo) or round and round (keep)."""

    number: int
    take: Take
    start_beat: float
    loop: bool
    index: int = 0
    cycle: int = 0


class Engine:
    def __init__(
        self,
        model: StepModel,
        scheduler: Scheduler,
        timeline: Timeline,
        controls: Controls,
        styles: dict[str, StyleSettings],
        settings: LiveSettings,
        rng: np.random.Generator,
        *,
        on_response: Callable[[int, Phrase, float], None] | None = None,
        on_skip: Callable[[Phrase, str], None] | None = None,
        on_control: Callable[[float, str], None] | None = None,
        accompanist: LiveAccompanist | None = None,
    ):
        """Wire the engine; nothing runs until ``tick`` and ``handle`` are called (the daemon does).

        - ``model``: what answers are sampled from, one event a step (the LSTM with its piece memory).
        - ``scheduler``: where each answer note goes with its due time, in seconds on the daemon's clock.
        - ``timeline``: beats against that clock (the internal tempo, or the DAW's MIDI clock followed).
        - ``controls``: the knobs' state (temperature, bars, style, mode, keep, again, undo), read per answer.
        - ``styles``: the sampling settings of each named style (``config.Config.style``).
        - ``settings``: ``[live]``: how phrases end, how long answers are, where they start, channels.
        - ``rng``: every random choice is drawn from it, so a seeded session repeats.
        - ``on_response(number, phrase, start)``: an answer was decided; ``start`` in seconds.
        - ``on_skip(phrase, why)``: a phrase was heard but not answered, and why (for the log).
        - ``on_control(t, what)``: a control message changed ``what`` (a parameter's name, or "panic") at ``t``.
        - ``accompanist``: plays along in accompany mode (None: no accompaniment model, the mode is refused).
        """
        self.model = model
        self.scheduler = scheduler
        self.timeline = timeline
        self.controls = controls
        self.styles = styles
        self.settings = settings
        self.rng = rng
        self.on_response = on_response
        self.on_skip = on_skip
        self.on_control = on_control
        self.detector = PhraseDetector(
            silence_beats=settings.silence_beats,
            max_phrase_beats=settings.max_phrase_beats,
            min_notes=settings.min_notes,
            channel=settings.channel(),
            adaptive=settings.phrase_end == "adaptive",
        )
        self.response: SampledAnswer | Replay | None = None
        self._responses = 0
        #: The last phrase answered, the takes of its answer (again adds one, undo steps back) and
        #: which is playing; ``keep`` while the keep button is held.
        self.last_phrase: Phrase | None = None
        self.takes: list[Take] = []
        self.take_index = -1
        self.keep = False
        self.grid_origin = 0.0  # the beat the first answer to the last phrase started on: takes' bar lines
        self.playing_until: float | None = None  # the beat the answer playing ends on (None: it does not)
        self.cache = PrimeCache(model)
        self._cached_notes = 0  # notes of the phrase in progress already primed
        self.accompanist = accompanist
        self._mode = controls.current.mode  # the mode playing (a knob's change takes effect at a bar line)
        if self._mode == "accompany" and accompanist is not None:
            accompanist.begin()

    @property
    def seconds_per_beat(self) -> float:
        """The timeline's tempo; 120 BPM until an external clock has given one."""
        return self.timeline.seconds_per_beat or 0.5

    def sampling(self) -> SamplingSettings:
        live = self.controls.current
        style = self.styles[live.style]
        return style.sampling(live.temperature * style.temperature)

    # --- input ------------------------------------------------------------

    def next_number(self) -> int:
        """A new response number (answers, replays and stretches of accompaniment share the count)."""
        self._responses += 1
        return self._responses

    @property
    def accompanying(self) -> bool:
        return self._mode == "accompany"

    def handle(self, t: float, message: Message) -> None:
        """One input message, at clock time ``t``."""
        changed = self.controls.handle(message)
        if changed == "panic":
            self.halt()
        elif changed == "mode":
            self._switch_mode(t)
        elif changed in ("keep", "release", "again", "undo") and not self.accompanying:
            getattr(self, f"_{changed}")(t)
        if changed is not None and self.on_control is not None:
            self.on_control(t, changed)
        note = self.detector.note(message)
        if self.accompanying:
            if note is not None and self.accompanist is not None:
                self.accompanist.hear(t, note[0], note[1])
            return
        pressed = note is not None and note[0]
        if pressed and self.response is not None and self.settings.on_play == "interrupt" and not self.looping:
            self.stop_response(silence=False)
        phrase = self.detector.feed(t, message, self.seconds_per_beat)
        if phrase is not None:
            self.start_response(phrase)

    def tick(self, t: float) -> None:
        """Call every few milliseconds: ends phrases on silence, generates ahead.

        Where the output takes events ahead (JACK), a phrase is found complete ``lead`` seconds
        before its silence is over, so that its answer can be handed over in time to start on the
        beat the silence ends on, as it does where notes are sent when due.
        """
        if self.accompanying:
            if self.accompanist is not None:
                self.accompanist.tick(t)
            return
        phrase = self.detector.poll(t + self.scheduler.lead, self.seconds_per_beat)
        if phrase is not None:
            self.start_response(phrase)
        self.generate_ahead(t)
        self.prime_ahead()

    def _next_bar(self, t: float) -> float | None:
        """The next bar line: of the accompaniment playing, of the answers' grid, or of the timeline."""
        now = self.timeline.beat_at(t)
        if now is None:
            return None
        bar = self.settings.beats_per_bar
        origin = self.grid_origin if self.takes else 0.0
        if self.accompanying and self.accompanist is not None and self.accompanist.origin is not None:
            origin = self.accompanist.origin
        return origin + math.ceil((now - origin) / bar - 1e-9) * bar

    def _switch_mode(self, t: float) -> None:
        """A new mode from the mode knob. Between call and continuous: at once, the answer stopped.
        Into or out of accompany: at the next bar line, where what plays ends and the other begins."""
        mode = self.controls.current.mode
        if mode == "accompany" and self.accompanist is None:
            self.controls.refuse_mode(self._mode)
            if self.on_skip is not None:
                self.on_skip(Phrase(np.zeros((0, 4), np.int32), t, t), "there is no accompaniment model")
            return
        if "accompany" not in (mode, self._mode):
            self._mode = mode
            self.halt()
            return
        at = self._next_bar(t)
        if at is None:  # the clock is stopped: nothing plays, switch at once
            self._mode = mode
            self.halt()
            return
        if mode == "accompany":
            self.keep = False
            if self.response is not None:
                self.scheduler.cut(self.response.number, at)
                self.response = None
            self.playing_until = None
            self._mode = mode
            assert self.accompanist is not None
            self.accompanist.start_at(at, t)
        else:
            assert self.accompanist is not None
            self.accompanist.stop(at, "mode changed")
            self._mode = mode
            self.detector.reset()

    def prime_ahead(self) -> None:
        """Prime the phrase being played, up to its last ended note."""
        if self.cache.model is not self.model:
            self.cache = PrimeCache(self.model)
        released = self.detector.released if self.detector.active else 0
        if released == self._cached_notes or released > MAX_PRIME_NOTES:
            return  # (a phrase longer than the context is cut, and primed whole at its end)
        self._cached_notes = released
        notes = self.detector.so_far(self.seconds_per_beat)
        if notes is not None and len(notes):
            self.cache.prime(phrase_tokens(notes, self.settings.beats_per_bar)[0])

    # --- responses --------------------------------------------------------

    def halt(self) -> None:
        """Stop outright (a panic, a mode change, a clock Stop, an error): the answer or loop ends,
        every note is closed, and keep is let go, so the next answer does not go round."""
        self.keep = False
        self.stop_response(silence=True)
        if self.accompanist is not None:
            self.accompanist.reset()
            if self.accompanying:  # it plays along again from the player's next note (or its count-in)
                self.accompanist.begin()

    def stop_response(self, *, silence: bool) -> None:
        """End the response: drop its pending notes and end its sounding ones."""
        if self.response is not None:
            self.scheduler.cancel(self.response.number)
            self.response = None
        if silence:
            self.scheduler.silence()

    def _start_beat(self, phrase: Phrase) -> float | None:
        now = self.timeline.beat_at(phrase.decided)
        if now is None:
            return None
        if self.settings.start == "immediate":
            return now
        # A phrase found complete just after a beat (a pause of whole beats
        # ends on one) still answers on that beat, a few ms late at most.
        grace = START_GRACE_SECONDS / self.seconds_per_beat
        origin = 0.0
        if self.settings.grid == "phrase":
            first = self.timeline.beat_at(phrase.started)
            origin = now if first is None else first
        unit = self.settings.beats_per_bar if self.settings.start == "bar" else 1
        return origin + math.ceil((now - grace - origin) / unit) * unit

    @property
    def looping(self) -> bool:
        """Keep is held and the loop plays: what the player plays is a solo over it."""
        return self.keep and isinstance(self.response, Replay) and self.response.loop

    def start_response(self, phrase: Phrase) -> None:
        if self.looping:
            if self.on_skip is not None:
                self.on_skip(phrase, "keep is held, so that was a solo over the loop")
            return
        if self.response is not None:
            self.stop_response(silence=False)
        start = self._start_beat(phrase)
        if start is None:
            if self.on_skip is not None:
                self.on_skip(phrase, "the external clock is stopped")
            return
        live = self.controls.current
        bars = (
            live.bars
            if live.length == "fixed"
            else follow_bars(phrase, self.settings.beats_per_bar, self.controls.map.max_bars)
        )
        self.response = self._sampled_answer(phrase, start, bars * self.settings.beats_per_bar, cache=self.cache)
        self.cache.reset()
        self._cached_notes = 0
        self.last_phrase, self.takes, self.take_index, self.grid_origin = phrase, [self.response.take], 0, start
        self.playing_until = self.response.end_beat
        if self.on_response is not None:
            self.on_response(self._responses, phrase, start)

    def _sampled_answer(
        self, phrase: Phrase, start: float, length: float, cache: PrimeCache | None = None
    ) -> SampledAnswer:
        """A new take of the answer to ``phrase``, with the knobs as they are: primed on the phrase,
        sampled from beat ``start`` for ``length`` beats (on and on in continuous mode)."""
        self._responses += 1
        continuer = Continuer(self.model, self.rng)
        style = self.styles[self.controls.current.style]
        continuer.prime(phrase.notes, self.settings.beats_per_bar, use_key=style.key_mask, cache=cache)
        end = None if self.controls.current.mode == "continuous" else start + length
        answer = SampledAnswer(self._responses, continuer, None, start, end)
        answer.take.length = length
        return answer

    def generate_ahead(self, t: float) -> None:
        """Sample (or replay) and schedule notes until the queue reaches ``lookahead_beats`` ahead."""
        response = self.response
        if response is None:
            return
        now = self.timeline.beat_at(t)
        if now is None:
            return  # the external clock is stopped
        horizon = now + self.settings.lookahead_beats
        if isinstance(response, Replay):
            self._replay_ahead(response, horizon)
            return
        while True:
            if response.next_note is None:
                response.next_note = response.continuer.next_note(self.sampling)
            onset, pitch, duration, velocity = response.next_note
            if response.offset_beats is None:
                response.offset_beats = answer_offset(response.start_beat, onset, self.settings.start)
            beat = response.offset_beats + onset / TICKS_PER_BEAT
            if response.end_beat is not None and beat >= response.end_beat:
                self.response = None  # the response is complete; its notes are queued
                if self.keep:  # held: it goes round again from its end
                    self._start_replay(response.take, response.end_beat, loop=True)
                return
            if beat > horizon:
                return
            self.scheduler.submit(beat, pitch, duration / TICKS_PER_BEAT, velocity, response.number)
            response.take.notes.append((beat - response.start_beat, pitch, duration / TICKS_PER_BEAT, velocity))
            response.next_note = None

    # --- takes: keep, again, undo ------------------------------------------------

    def _replay_ahead(self, replay: Replay, horizon: float) -> None:
        notes, length = replay.take.notes, replay.take.length
        while True:
            if replay.index >= len(notes):
                if not replay.loop or not notes or length <= 0:
                    self.response = None
                    return
                replay.cycle, replay.index = replay.cycle + 1, 0
            offset, pitch, duration, velocity = notes[replay.index]
            if offset >= length:  # a continuous take goes on past its length: only that much is played
                replay.index = len(notes)
                continue
            beat = replay.start_beat + replay.cycle * length + offset
            if beat > horizon:
                return
            # A note ends with its take: a loop's next round strikes it again.
            self.scheduler.submit(beat, pitch, min(duration, length - offset), velocity, replay.number)
            replay.index += 1

    def _start_replay(self, take: Take, beat: float, *, loop: bool) -> None:
        self._responses += 1
        self.response = Replay(self._responses, take, beat, loop)
        self.playing_until = None if loop else beat + take.length

    def _acts_at(self, t: float) -> float | None:
        """The beat keep, again and undo act on: the next bar line of the answers' grid, or now."""
        now = self.timeline.beat_at(t)
        if now is None or self.controls.map.takes_effect == "now" or not self.takes:
            return now
        bar, origin = self.settings.beats_per_bar, self.grid_origin
        return origin + math.ceil((now - origin) / bar - 1e-9) * bar

    def _cut_at(self, beat: float) -> None:
        """End what plays at ``beat`` (the notes before it play on)."""
        if self.response is not None:
            self.scheduler.cut(self.response.number, beat)
            self.response = None

    def _keep(self, t: float) -> None:
        self.keep = True
        response = self.response
        if isinstance(response, SampledAnswer) and response.end_beat is not None:
            return  # it plays to its end, then goes round
        at = self._acts_at(t)
        if at is None:
            return
        if isinstance(response, SampledAnswer):  # continuous: the last `bars` bars played go round
            length = self.controls.current.bars * self.settings.beats_per_bar
            since = at - length - response.start_beat
            notes = [(b - since, p, d, v) for b, p, d, v in response.take.notes if since <= b < since + length]
            take = Take(notes, length)
        elif self.takes:
            take = self.takes[self.take_index]
        else:
            return
        self._cut_at(at)
        self._start_replay(take, at, loop=True)

    def _release(self, t: float) -> None:
        self.keep = False
        if isinstance(self.response, Replay) and self.response.loop:
            at = self._acts_at(t)
            if at is not None:
                self._cut_at(at)

    def _again(self, t: float) -> None:
        """Another take of the answer to the last phrase, from the next bar line (or now)."""
        phrase, at = self.last_phrase, self._acts_at(t)
        if phrase is None or at is None:
            return
        length = self.takes[self.take_index].length if self.takes else 0.0
        self._cut_at(at)
        response = self._sampled_answer(phrase, at, length)
        self.takes.append(response.take)
        self.take_index = len(self.takes) - 1
        self.response = response
        self.playing_until = response.end_beat

    def _undo(self, t: float) -> None:
        """Back to the take before, played again as it was, from the next bar line (or now)."""
        at = self._acts_at(t)
        if self.take_index <= 0 or at is None:
            return
        self._cut_at(at)
        self.take_index -= 1
        self._start_replay(self.takes[self.take_index], at, loop=self.keep)
