"""Knobs: MIDI control changes onto the live parameters.

The default map (all in the MIDI spec's undefined range, assignable in
config.toml ``[controls]``):

==  ===========  ==========================================================
CC  parameter    0..127 maps onto
==  ===========  ==========================================================
21  temperature  ``low`` × (``high``/``low``)^(v/127): 0.5 → 2.0 by default,
                 1.0 at the middle (64), even steps in ratio, not in value
22  bars         1 + v × (max_bars − 1) / 127, rounded: 1 → 16 bars
23  style        three equal thirds: balanced, creative, structured
24  mode         three equal thirds: call-and-response, continuous, accompany
25  panic        a press (64 and up after below 64) silences everything
29  activity     the accompaniment's odds of striking, times 0.25 → 4
                 (1 at 64, even steps in ratio)
30  register     the accompaniment's lowest chord note, MIDI 36 → 72
31  texture      four equal quarters: block, broken, bass, counter
==  ===========  ==========================================================

``Controls.handle`` returns what changed; the daemon reads ``current`` at
every sampled note, so a knob turned now changes the next note.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, replace

from neuraltunes_live.config import MODES, STYLES, TEXTURES, AccompanySettings, ControlSettings, LiveSettings
from neuraltunes_live.live.messages import Message


@dataclass(frozen=True)
class LiveParameters:
    """What the knobs change while it plays; it starts from the ``[live]`` settings."""

    temperature: float = 1.0
    bars: int = 4
    style: str = "balanced"
    mode: str = "call"
    length: str = "fixed"  # "follow": as long as the call; the bars knob makes it "fixed"
    activity: float = 1.0  # the accompaniment's (``[accompany]``)
    register: int = 55
    texture: str = "block"

    @classmethod
    def starting(cls, live: LiveSettings, accompany: AccompanySettings = AccompanySettings()) -> "LiveParameters":
        return cls(
            temperature=live.temperature,
            bars=live.bars,
            style=live.style,
            mode=live.mode,
            length=live.length,
            activity=accompany.activity,
            register=accompany.register,
            texture=accompany.texture,
        )


def temperature_of(value: int, low: float, high: float) -> float:
    return low * (high / low) ** (value / 127)


def bars_of(value: int, max_bars: int) -> int:
    return 1 + round(value * (max_bars - 1) / 127)


def _part(value: int, names: tuple[str, ...]) -> str:
    """The name whose equal share of 0..127 ``value`` falls in."""
    return names[min(value * len(names) // 128, len(names) - 1)]


def style_of(value: int) -> str:
    return _part(value, STYLES)


def mode_of(value: int) -> str:
    return _part(value, MODES)


def texture_of(value: int) -> str:
    return _part(value, TEXTURES)


def activity_of(value: int) -> float:
    return 0.25 * 16 ** (value / 127)


def register_of(value: int) -> int:
    return 36 + round(value * 36 / 127)


class Controls:
    """Live parameters, changed by control-change messages; thread-safe."""

    def __init__(self, knobs: ControlSettings, initial: LiveParameters):
        self.map = knobs
        self._channel = knobs.knob_channel()
        self._current = initial
        self._down: set[int] = set()  # buttons held (64 and up)
        self._lock = threading.Lock()

    def remap(self, knobs: ControlSettings) -> None:
        """Read the knobs by a new map (``serve --learn``) from the next message on."""
        with self._lock:
            self.map, self._channel = knobs, knobs.knob_channel()
            self._down.clear()

    @property
    def current(self) -> LiveParameters:
        with self._lock:
            return self._current

    def refuse_mode(self, mode: str) -> None:
        """The mode knob's change could not be followed: ``mode`` plays on."""
        with self._lock:
            self._current = replace(self._current, mode=mode)

    def handle(self, message: Message) -> str | None:
        """Apply one message; returns the parameter changed, a button pressed ("panic", "keep",
        "again", "undo"), "release" when keep is let go, or None."""
        if len(message) < 3 or message[0] & 0xF0 != 0xB0:
            return None
        if self._channel is not None and message[0] & 0x0F != self._channel:
            return None
        controller, value = message[1], message[2]
        if not (0 <= value <= 127):
            return None
        m = self.map
        with self._lock:
            buttons = {m.panic: "panic", m.keep: "keep", m.again: "again", m.undo: "undo"}
            if controller in buttons and controller >= 0:
                pressed, was = value >= 64, controller in self._down
                if pressed:
                    self._down.add(controller)
                else:
                    self._down.discard(controller)
                if pressed and not was:
                    return buttons[controller]
                if was and not pressed and buttons[controller] == "keep":
                    return "release"
                return None
            now = self._current
            if controller == m.temperature:
                name, updated = (
                    "temperature",
                    replace(now, temperature=temperature_of(value, m.temperature_low, m.temperature_high)),
                )
            elif controller == m.bars:
                name, updated = "bars", replace(now, bars=bars_of(value, m.max_bars), length="fixed")
            elif controller == m.style:
                name, updated = "style", replace(now, style=style_of(value))
            elif controller == m.mode:
                name, updated = "mode", replace(now, mode=mode_of(value))
            elif controller == m.activity:
                name, updated = "activity", replace(now, activity=activity_of(value))
            elif controller == m.register:
                name, updated = "register", replace(now, register=register_of(value))
            elif controller == m.texture:
                name, updated = "texture", replace(now, texture=texture_of(value))
            else:
                return None
            if updated == now:
                return None
            self._current = updated
            return name


#: How long the knobs must rest before what they changed is logged.
SETTLE_SECONDS = 0.3


def bars_text(bars: float) -> str:
    """``1 bar``, ``1.5 bars``, ``4 bars``."""
    return f"{bars:g} bar{'' if bars == 1 else 's'}"


def describe(live: LiveParameters) -> dict[str, str]:
    """Each live parameter as the log shows it."""
    return {
        "temperature": f"temperature x{live.temperature:.2f}",
        "bars": bars_text(live.bars) if live.length == "fixed" else "as long as the call",
        "style": f"style {live.style}",
        "mode": f"mode {live.mode}",
        "activity": f"activity x{live.activity:.2f}",
        "register": f"register from {live.register}",
        "texture": f"texture {live.texture}",
    }


class KnobLog:
    """Says what the knobs changed once they rest: a sweep is one line, not a hundred.

    ``changed(t)`` when a knob moved; ``due(t, current)`` gives the line to
    log (or None) once ``settle`` seconds have passed since the last move, or
    at once with ``now=True`` (a mode change, which also stops the answer).
    """

    def __init__(self, initial: LiveParameters, settle: float = SETTLE_SECONDS):
        self.logged = initial
        self.settle = settle
        self._moved: float | None = None

    def changed(self, t: float) -> None:
        self._moved = t

    def due(self, t: float, current: LiveParameters, *, now: bool = False) -> str | None:
        if self._moved is None or (not now and t - self._moved < self.settle):
            return None
        self._moved = None
        before, after = describe(self.logged), describe(current)
        self.logged = current
        changes = [after[name] for name in after if after[name] != before[name]]
        return "knobs: " + ", ".join(changes) if changes else None


#: The controls ``serve --learn`` asks for, in order, with what each does.
LEARNED = (
    ("temperature", "temperature knob"),
    ("bars", "answer-length knob"),
    ("style", "style knob"),
    ("mode", "mode knob (call, continuous, accompany)"),
    ("panic", "panic button"),
    ("keep", "keep button"),
    ("again", "again button"),
    ("undo", "undo button"),
    ("activity", "accompaniment's activity knob"),
    ("register", "accompaniment's register knob"),
    ("texture", "accompaniment's texture knob"),
)


class KnobLearner:
    """Assigns controllers by moving them: each control in turn takes the first new CC number that moves."""

    def __init__(self, channel: int | None = None) -> None:
        self.assigned: dict[str, int] = {}
        self.channel = channel  # the knobs' channel (0..15) when one is chosen; None hears all

    @property
    def asking(self) -> str | None:
        """The control asked for now; None when all are assigned."""
        return LEARNED[len(self.assigned)][0] if len(self.assigned) < len(LEARNED) else None

    def prompt(self) -> str:
        name = self.asking
        if name is None:
            return "learn: every control is assigned"
        what = dict(LEARNED)[name]
        return f"learn: move the {what} ({len(self.assigned) + 1} of {len(LEARNED)})"

    def feed(self, message: Message) -> tuple[str, int] | None:
        """A control change assigns the control asked for, unless its number is taken; returns (control, CC)."""
        name = self.asking
        if name is None or len(message) < 3 or message[0] & 0xF0 != 0xB0 or not 0 <= message[1] <= 119:
            return None
        if self.channel is not None and message[0] & 0x0F != self.channel:
            return None  # another channel's controller: the knobs are read on the chosen one only
        if message[1] in self.assigned.values():
            return None  # the knob just learned, still turning
        self.assigned[name] = message[1]
        return name, message[1]
