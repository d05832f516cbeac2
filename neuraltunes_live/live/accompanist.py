"""Accompany mode: playing along while the player plays, step by step, free of threads and real time.

The engine hands it the player's notes (with the clock time each came) and
a regular ``tick``. It plays on a grid of eighth-note steps
(``core.accompany``): it listens ``listen_ms`` into each step for a note
played on it, then chooses the step's chord from what the player has played
up to then and what it played itself, and hands the notes to the scheduler
as soon as the output can place them exactly (the output's ``lead`` and
``DECIDE_AHEAD`` later), on the accompaniment's own channel: every note
starts the same time after its step (``latency``). A note's end is sent
when the accompaniment moves on, so nothing is left sounding:

- it starts on the player's first note (the player sets the grid: ``grid =
  "phrase"``; on the DAW's clock, ``"clock"``, the beat grid is the DAW's), or
  with ``count_in_beats`` that many beats after it was switched on, whether
  the player plays or not;
- it stops, ending its notes on a step, after ``stop_beats`` of silence from
  the player; a clock Stop, a panic or a mode change stops it at once
  (``halt``: the scheduler closes every note), a mode knob at the bar line.
"""

from __future__ import annotations

import math
from typing import Callable

import numpy as np

from neuraltunes_live.config import AccompanySettings, LiveSettings
from neuraltunes_live.core import accompany as acc
from neuraltunes_live.core.notes import TICKS_PER_BEAT
from neuraltunes_live.live.controls import Controls
from neuraltunes_live.live.scheduler import Scheduler, Timeline

#: Time to choose and voice a step, between its decision and its notes' hand-over (besides the output's lead).
DECIDE_AHEAD = 0.005
#: A step, in beats.
STEP_BEATS = acc.STEP_TICKS / TICKS_PER_BEAT


class LiveAccompanist:
    """The accompaniment while the player plays: ``hear`` the player's notes, ``tick`` to play on."""

    def __init__(
        self,
        model: acc.AccompanyModel,
        scheduler: Scheduler,
        timeline: Timeline,
        controls: Controls,
        settings: AccompanySettings,
        live: LiveSettings,
        rng: np.random.Generator,
        *,
        number: Callable[[], int],
        on_start: Callable[[float], None] | None = None,
        on_stop: Callable[[float, str], None] | None = None,
    ):
        """``number()`` gives each stretch of accompaniment its response number (the engine's count);
        ``on_start(beat)`` and ``on_stop(beat, why)`` are told when it starts and stops."""
        self.model = model
        self.scheduler = scheduler
        self.timeline = timeline
        self.controls = controls
        self.settings = settings
        self.live = live
        self.rng = rng
        self.number = number
        self.on_start = on_start
        self.on_stop = on_stop
        self.channel = settings.channel - 1
        self.origin: float | None = None  # the beat of step 0
        self.step = 0  # the next step to play
        self.playing: acc.Accompanist | None = None
        self.response = 0
        self.held: dict[int, int] = {}  # pitch -> onset tick of the keys down
        self.recent: list[tuple[int, int, int]] = []  # (onset tick, pitch, end tick) of notes let go
        self.last_heard: float | None = None  # the beat of the player's last note-on or release
        self._count_in = False  # a count-in starts at the next tick

    @property
    def active(self) -> bool:
        return self.origin is not None

    def begin(self) -> None:
        """Wait for the player, or with a count-in start that many beats after the next ``tick``."""
        self.reset()
        self._count_in = self.settings.count_in_beats > 0

    def start_at(self, beat: float, t: float) -> None:
        """Start on ``beat`` (a bar line: the mode was switched on at clock time ``t``).

        It plays on from there while the player plays, and stops after ``stop_beats`` without.
        """
        self.reset()
        self._start(beat, 0)
        self.last_heard = self.timeline.beat_at(t)

    def reset(self) -> None:
        """Forget everything (after ``halt``: the scheduler has closed the notes)."""
        self.origin, self.playing, self.step = None, None, 0
        self.held.clear()
        self.recent.clear()
        self.last_heard = None
        self._count_in = False

    def _start(self, origin: float, first_step: int) -> None:
        self.origin, self.step, self.response = origin, first_step, self.number()
        self.playing = acc.Accompanist(self.model, self.rng, self.live.beats_per_bar, first_step=first_step)
        if self.on_start is not None:
            self.on_start(origin + first_step * STEP_BEATS)

    def _tick_of(self, beat: float) -> int:
        assert self.origin is not None
        return round((beat - self.origin) / STEP_BEATS) * acc.STEP_TICKS  # onto the nearest step

    def hear(self, t: float, pressed: bool, pitch: int) -> None:
        """A note of the player's, at clock time ``t``."""
        beat = self.timeline.beat_at(t)
        if beat is None:
            return
        self.last_heard = beat
        if self.origin is None:
            if not pressed:
                return
            origin: float
            if self.live.grid == "clock":  # the DAW's beats: step 0 on the beat before the note
                origin = math.floor(beat)
            else:  # the player's first note is step 0
                origin = beat
            hears_now = self.model.arch.lookahead >= 1
            self._start(origin, int(round((beat - origin) / STEP_BEATS)) + (0 if hears_now else 1))
        tick = self._tick_of(beat)
        if pressed:
            self.held[pitch] = tick
        elif pitch in self.held:
            self.recent.append((self.held.pop(pitch), pitch, tick))

    def player_token(self, step: int) -> int:
        """The player's token of ``step`` from what has been heard (keys down sound on)."""
        lo, hi = step * acc.STEP_TICKS, (step + 1) * acc.STEP_TICKS
        struck = held = -1
        for onset, pitch, end in self.recent + [(o, p, hi + 1) for p, o in self.held.items()]:
            if lo <= onset < hi:
                struck = max(struck, pitch)
            elif onset < lo < end:
                held = max(held, pitch)
        if struck >= 0:
            return acc.struck(struck)
        return acc.held(held) if held >= 0 else acc.REST

    @property
    def latency(self) -> float:
        """Seconds from a step's time to its notes': listening, choosing, and the output's lead."""
        return self.settings.listen_ms / 1000 + DECIDE_AHEAD + self.scheduler.lead

    def _after(self, beat: float) -> float:
        """The beat the notes of the step at ``beat`` start on."""
        return beat + self.latency / (self.timeline.seconds_per_beat or 0.5)

    def tick(self, t: float) -> None:
        """Play every step whose listening time is over."""
        if self._count_in:
            now = self.timeline.beat_at(t)
            if now is None:
                return  # the DAW's clock is stopped: count in when it runs
            self._count_in = False
            self._start(math.ceil(now - 1e-9) + self.settings.count_in_beats, 0)
        if self.origin is None or self.playing is None:
            return
        listen = self.settings.listen_ms / 1000 if self.model.arch.lookahead >= 1 else -self.latency
        while True:
            beat = self.origin + self.step * STEP_BEATS
            due = self.timeline.time_of(beat)
            if due is None or due + listen > t:
                return
            if self._silent_since(beat):
                self.stop(beat, "the player stopped")
                return
            self._play_step(beat)

    def _silent_since(self, beat: float) -> bool:
        if self.held:
            return False
        if self.last_heard is None:  # a count-in: it plays until the player has started and stopped
            return False
        return beat - self.last_heard >= self.settings.stop_beats

    def _play_step(self, beat: float) -> None:
        assert self.playing is not None
        live = self.controls.current
        knobs = acc.AccompanyKnobs(
            temperature=self.settings.temperature * live.temperature,
            activity=live.activity,
            register=live.register,
            texture=live.texture,
        )
        heard = self.player_token(self.step - 1)
        now = np.array([self.player_token(self.step)]) if self.model.arch.lookahead >= 1 else None
        _, ended, started = self.playing.next_step(heard, knobs, now)
        at = self._after(beat) if self.model.arch.lookahead >= 1 else beat
        for pitch in ended:
            self.scheduler.release(at, pitch, self.response, self.channel)
        for pitch, velocity in started:
            self.scheduler.strike(at, pitch, velocity, self.response, self.channel)
        self.step += 1
        # Notes long let go can no longer be the token of a step still to come.
        cutoff = (self.step - 2) * acc.STEP_TICKS
        self.recent = [n for n in self.recent if n[2] > cutoff]

    def stop(self, beat: float, why: str) -> None:
        """End the accompaniment's notes at ``beat`` and wait for the player again."""
        playing = self.playing
        self.reset()
        if playing is None:
            return
        at = self._after(beat) if self.model.arch.lookahead >= 1 else beat
        for pitch in playing.close():
            self.scheduler.release(at, pitch, self.response, self.channel)
        if self.on_stop is not None:
            self.on_stop(beat, why)
