"""The I/O shell of ``serve``: the model, the ports, the ``Daemon``, signals.

``serve`` loads the model, opens the ports, runs the ``Daemon`` and watches:
SIGINT/SIGTERM stop it (every note closed first), SIGHUP loads the model
again (keeping the old one if the new one fails), and a port that vanishes is
waited for and reconnected.
"""

from __future__ import annotations

import contextlib
import logging
import secrets
import signal
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator, Protocol

import numpy as np

from neuraltunes_live.config import Config, write_controls
from neuraltunes_live.core.accompany import AccompanyModel
from neuraltunes_live.core.model_files import (
    SHIPPED_ACCOMPANIMENT,
    accompaniment_dir_or_default,
    load_accompany_model,
    load_model,
    model_dir_or_default,
)
from neuraltunes_live.errors import ModelError, NeuralTunesError, PortError, SynthError
from neuraltunes_live.live.clock import FrameClock, SystemClock
from neuraltunes_live.live.daemon import Daemon
from neuraltunes_live.live.messages import Message
from neuraltunes_live.live.ports import (
    JackMidiInput,
    JackMidiOutput,
    JackSynthOutput,
    MidiInput,
    MidiOutput,
    open_input,
    open_output,
)
from neuraltunes_live.live.scheduler import TimedOutput
from neuraltunes_live.live.status import StatusLine
from neuraltunes_live.live.synth import SoundFontSynth, driver_for

logger = logging.getLogger(__name__)

PORT_CHECK_SECONDS = 1.0


def routing_help(backend: str, input_name: str, output_name: str) -> list[str]:
    """How to connect a keyboard and a DAW on this MIDI system."""
    if backend == "jack":
        return [
            f"  keyboard -> jack_connect 'KEYBOARD:PORT' '{input_name}:{input_name}'  (jack_lsp lists ports)",
            f"  DAW/synth <- jack_connect '{output_name}:{output_name}' 'SYNTH:PORT'",
            "  or route both in qjackctl / Carla; without hardware: neuraltunes-live play FILE.mid "
            f"--to '{input_name}'",
        ]
    if backend == "alsa":
        return [
            f"  keyboard -> aconnect 'KEYBOARD' '{input_name}'  (aconnect -l lists ports)",
            f"  synth <- aconnect '{output_name}' 'SYNTH'; in a DAW, enable '{output_name}' as a MIDI input",
        ]
    return [
        f"  in your DAW, enable '{output_name}' as a MIDI input (Ableton: Preferences > Link, Tempo & MIDI,",
        f"  Track on) and arm a MIDI track whose input is '{output_name}'; send your keyboard to '{input_name}'",
    ]


@dataclass
class _Flags:
    stop: threading.Event = field(default_factory=threading.Event)
    reload: threading.Event = field(default_factory=threading.Event)


class Recorder(Protocol):
    """Keeps the session (``offline.session.SessionRecorder``): told what was heard, played and when phrases began."""

    tempo_bpm: Callable[[], float]

    def heard(self, t: float, data: Message | bytes) -> None: ...

    def played(self, t: float, message: Message) -> None: ...

    def phrase(self, t: float) -> None: ...

    def close(self) -> None: ...


def _accompaniment_model(config: Config) -> AccompanyModel | None:
    """The accompaniment model; None (accompany mode refused) when none was named and none is shipped."""
    setting = config.accompany.model
    if not setting and not SHIPPED_ACCOMPANIMENT.is_dir():
        if config.live.mode == "accompany":
            raise ModelError(f"accompany mode needs an accompaniment model: none at {SHIPPED_ACCOMPANIMENT}")
        return None
    model = load_accompany_model(accompaniment_dir_or_default(setting))
    if model.arch.lookahead > 1:
        raise ModelError(
            f"{accompaniment_dir_or_default(setting)} hears {model.arch.lookahead - 1} steps ahead of the one "
            "it plays on (a benchmark's yardstick): it cannot play live"
        )
    return model


def serve(config: Config, recorder: Recorder | None = None, learn: Path | None = None) -> None:
    """Run the daemon until SIGINT/SIGTERM; ``recorder`` keeps the session; ``learn`` is where the knobs
    learned by moving them are written (``serve --learn FILE``)."""
    began = time.perf_counter()
    live = config.live
    model_dir = model_dir_or_default(live.model)
    model = load_model(model_dir)
    accompaniment = _accompaniment_model(config)
    seed = live.random_seed if live.random_seed >= 0 else secrets.randbelow(2**31)
    flags = _Flags()
    # Our signal handlers stay in place until every note is closed and the
    # ports are shut: a second signal (Ctrl-C and a service manager's SIGTERM
    # together) must not cut the shutdown short.
    with _handling_signals(flags):
        output = open_output(live.backend, live.output, frames=live.jack_timing == "frames")
        timed = output if isinstance(output, JackMidiOutput) else None
        frame_clock = None if timed is None else timed.clock
        with output, _synth_for(config, output.backend, frame_clock) as sound:
            send, hear = output.send, None
            scheduled: TimedOutput | None = timed
            clock = SystemClock() if frame_clock is None else frame_clock
            played: list[Callable[[float, Message], None]] = []  # told of each message as it leaves
            synth = None if sound is None else sound.synth
            if sound is not None and sound.port is not None:  # the synth takes the events ahead too
                assert timed is not None
                scheduled = _Together(timed, sound.port)
                send = scheduled.send
            elif synth is not None:
                played.append(lambda _t, message: synth.send(message))
            if synth is not None:
                hear = synth.send if live.synth_input and not live.passthrough else None
            if recorder is not None:
                played.append(recorder.played)
            if timed is not None:  # each event at its frame: told by the port as it writes it, with that time
                timed.on_written = _all(played) if played else None
            elif played:
                send = _both(output.send, lambda message: _all(played)(clock.now(), message))
            daemon = Daemon(
                model,
                config,
                clock=clock,
                send=send,
                rng=np.random.default_rng(seed),
                hear=hear,
                on_phrase=None if recorder is None else lambda phrase: recorder.phrase(phrase.started),
                learned=None if learn is None else lambda mapping: _write_learned(learn, mapping),
                timed=scheduled,
                accompaniment=accompaniment,
            )

            def receive(data: Message | bytes, t: float | None = None) -> None:  # the MIDI system's thread
                # A JACK input's frame times are on the daemon's clock only where the output's clock is.
                daemon.receive(data, t if timed is not None else None)

            if recorder is not None:
                recorder.tempo_bpm = lambda: 60.0 / daemon.engine.seconds_per_beat

                def receive(data: Message | bytes, t: float | None = None) -> None:  # the MIDI system's thread
                    t = t if timed is not None and t is not None else clock.now()
                    daemon.receive(data, t)
                    recorder.heard(t, data)

            with open_input(output.backend, live.input, receive, clock=frame_clock) as midi_input:
                daemon.start()
                try:
                    ready = time.perf_counter() - began
                    tempo = "the DAW's MIDI clock" if live.clock == "external" else f"{live.tempo:g} BPM"
                    memory = "with" if model.memory is not None else "without"
                    logger.info(
                        f"model {model_dir} ({model.arch.parameter_count():,} parameters, {memory} piece "
                        f"memory), random seed {seed}"
                    )
                    if accompaniment is not None:
                        logger.info(
                            f"accompaniment model {accompaniment_dir_or_default(config.accompany.model)} "
                            f"({accompaniment.arch.parameter_count():,} parameters), on channel "
                            f"{config.accompany.channel}"
                        )
                    logger.info(
                        f"{output.backend}: listening on '{midi_input.opened.name}', playing to '{output.opened.name}'"
                    )
                    for line in routing_help(output.backend, midi_input.opened.name, output.opened.name):
                        logger.info(line)
                    if sound is not None:
                        heard = " and your notes" if hear is not None or live.passthrough else ""
                        logger.info(f"synth: the answers{heard} through {sound.synth.soundfont.name} to {sound.where}")
                    logger.info(f"ready in {ready:.2f} s: {live.mode} mode at {tempo}; Ctrl-C stops")
                    if daemon.learner is not None:
                        logger.info(daemon.learner.prompt())
                    status = StatusLine(daemon.snapshot, sys.stderr).start() if sys.stderr.isatty() else None
                    try:
                        _watch(daemon, midi_input, output, flags, model_dir, None if sound is None else sound.port)
                    finally:
                        if status is not None:
                            status.close()
                finally:
                    daemon.stop()  # every note closed, before the ports close
                    if recorder is not None:
                        recorder.close()  # the last exchange and the session, with those note-offs
        logger.info("stopped; every note was closed")


def _write_learned(path: Path, mapping: dict[str, int]) -> None:
    """The learned knobs into ``path``'s ``[controls]`` (in the daemon's generator thread: a small file)."""
    try:
        write_controls(path, mapping)
    except (OSError, NeuralTunesError) as err:
        logger.warning(f"cannot write the learned knobs to {path}: {err}; they hold until the daemon stops")
        return
    logger.info(f"learn: wrote [controls] to {path}; they hold now, and from the next start with --config {path}")


def _all(calls: list[Callable[[float, Message], None]]) -> Callable[[float, Message], None]:
    def told(t: float, message: Message) -> None:
        for call in calls:
            call(t, message)

    return told


def _both(first: Callable[[Message], None], second: Callable[[Message], None]) -> Callable[[Message], None]:
    def send(message: Message) -> None:
        first(message)
        second(message)

    return send


@dataclass
class _Sound:
    """The built-in synth as ``serve`` plays it."""

    synth: SoundFontSynth
    port: JackSynthOutput | None  # on JACK with frame timing: the synth in a client of ours, notes at their frames
    where: str  # where the sound goes, as the log says it


@contextlib.contextmanager
def _synth_for(config: Config, backend: str, clock: FrameClock | None) -> Iterator[_Sound | None]:
    """The built-in synth when ``[live] synth`` asks for it; None (with a warning) when it cannot play.

    With JACK audio and a frame ``clock`` the synth renders in a JACK client of
    ours (``JackSynthOutput``), each note at its frame; else FluidSynth's own
    driver plays what it is sent when it is sent. The MIDI output works either
    way. Closed last, after every note was ended (its port before the synth).
    """
    if not config.live.synth:
        yield None
        return
    settings = config.synth
    driver = driver_for(settings.driver, backend)
    at_frames = clock is not None and driver == "jack"
    try:
        synth = SoundFontSynth(settings.soundfont or None, driver=None if at_frames else driver, gain=settings.gain)
    except SynthError as err:
        logger.warning(f"{err}; playing MIDI only")
        yield None
        return
    with synth:
        if not at_frames:
            yield _Sound(synth, None, str(synth.driver))
            return
        assert clock is not None
        try:
            port = JackSynthOutput(synth, clock)
        except PortError as err:
            logger.warning(f"{err}; playing MIDI only")
            yield None
            return
        with port:
            yield _Sound(synth, port, f"JACK ('{port.own}'), each note at its frame")


class _Together:
    """Timed outputs on one server taken as one (the MIDI output and the synth's)."""

    def __init__(self, *outputs: JackMidiOutput | JackSynthOutput):
        self.outputs = outputs

    @property
    def lead(self) -> float:
        return max(output.lead for output in self.outputs)

    @property
    def late(self) -> int:
        """The MIDI port's late events (the first output's)."""
        return self.outputs[0].late

    def send(self, message: Message) -> None:
        for output in self.outputs:
            output.send(message)

    def send_at(self, t: float, message: Message, tag: int) -> None:
        for output in self.outputs:
            output.send_at(t, message, tag)

    def retract(self, tag: int | None, after: float | None) -> None:
        for output in self.outputs:
            output.retract(tag, after)


@contextlib.contextmanager
def _handling_signals(flags: "_Flags") -> Iterator[None]:
    """SIGINT and SIGTERM set ``flags.stop``, SIGHUP ``flags.reload``; the old handlers come back after."""
    handlers = [(signal.SIGINT, lambda *_: flags.stop.set()), (signal.SIGTERM, lambda *_: flags.stop.set())]
    if hasattr(signal, "SIGHUP"):
        handlers.append((signal.SIGHUP, lambda *_: flags.reload.set()))
    previous = {signum: signal.signal(signum, handler) for signum, handler in handlers}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


class PortWatch:
    """One round of the main thread's watch: reload on SIGHUP, follow ports that come and go.

    Kept apart from the loop that waits between rounds, so tests drive it with
    fake ports and a fake daemon.
    """

    def __init__(
        self,
        daemon,
        midi_input,
        output,
        flags: "_Flags",
        model_dir: Path,
        load: Callable[[Path], object] = load_model,
        synth_port=None,
    ):
        """``synth_port``: the synth's JACK client (``JackSynthOutput``), made again with the others."""
        self.daemon, self.midi_input, self.output = daemon, midi_input, output
        self.flags, self.model_dir, self.load = flags, model_dir, load
        self.input_lost = self.output_lost = False
        self.late = 0  # late events already told of
        #: JACK ports of ours (the output first: the clock is its), and since when their server is gone.
        ports = (output, midi_input, synth_port)
        self.jack_ports = [port for port in ports if getattr(port, "gone", None) is not None]
        self.server_lost: float | None = None

    def _follow_server(self) -> bool:
        """A JACK server that goes is said once; when one is back, our ports are made again on it.
        True while there is none (nothing else of the ports is looked at)."""
        ports = self.jack_ports
        if not ports:
            return False
        if self.server_lost is None:
            if not any(port.gone.is_set() for port in ports):
                for port in ports:
                    port.remember()
                    port.remake()
                return False
            self.server_lost = time.monotonic()
            self.daemon.silence(
                "the JACK server is gone, and the notes it had open with it: answer stopped; "
                "waiting for a JACK server to come back"
            )
            return True
        try:
            for port in ports:
                if port.gone.is_set():
                    port.revive()
        except NeuralTunesError:
            return True  # none yet
        away = time.monotonic() - self.server_lost
        self.server_lost = None
        names = [f"'{port.own}'" for port in [ports[1], ports[0], *ports[2:]]]  # In, Out, the synth
        names_said = " and ".join([", ".join(names[:-1]), names[-1]])
        logger.info(f"a JACK server is back (after {away:.1f} s): {names_said} are there again; answering as before")
        return False

    def _tell_late(self) -> None:
        """Events that reached JACK after their frame (written at the period's start): said once a round."""
        late = getattr(self.output, "late", 0)
        if late > self.late:
            new = late - self.late
            what = (
                "1 event reached JACK after its frame and was"
                if new == 1
                else f"{new} events reached JACK after their frame and were"
            )
            logger.warning(
                f"{what} played at the start of the next period ({late} in all): "
                f"the machine is too busy for the lead of {self.output.lead * 1000:.0f} ms"
            )
            self.late = late

    def check(self) -> None:
        if self._follow_server():
            return
        self._tell_late()
        if self.flags.reload.is_set():
            self.flags.reload.clear()
            try:
                self.daemon.swap_model(self.load(self.model_dir))
                logger.info(f"reloaded {self.model_dir}; the next answer uses it")
            except NeuralTunesError as err:
                logger.info(f"reload failed, still playing the old model: {err}")
        output, midi_input = self.output, self.midi_input
        try:
            if not self.output_lost and not output.present():
                self.output_lost = True
                self.daemon.silence(f"output port '{output.wanted}' vanished: answer stopped; waiting for it")
            elif self.output_lost and output.present():
                output.reconnect()
                self.output_lost = False
                logger.info(f"output port '{output.opened.name}' is back; connected")
            if not self.input_lost and not midi_input.present():
                self.input_lost = True
                midi_input.disconnect()
                logger.info(f"input port '{midi_input.wanted}' vanished; still running, waiting for it to return")
            elif self.input_lost and midi_input.present():
                midi_input.reconnect()
                self.input_lost = False
                logger.info(f"input port '{midi_input.opened.name}' is back; listening")
        except NeuralTunesError as err:  # a port seen for a moment, gone again: try next round
            logger.info(f"port check: {err}")


def _watch(
    daemon: Daemon,
    midi_input: MidiInput | JackMidiInput,
    output: MidiOutput | JackMidiOutput,
    flags: _Flags,
    model_dir: Path,
    synth_port: JackSynthOutput | None = None,
) -> None:
    """The main thread's loop: a ``PortWatch`` round every ``PORT_CHECK_SECONDS`` until stopped."""
    watch = PortWatch(daemon, midi_input, output, flags, model_dir, synth_port=synth_port)
    while not flags.stop.wait(PORT_CHECK_SECONDS):
        watch.check()
