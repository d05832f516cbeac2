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
from neuraltunes_live.core.model import load_model, model_dir_or_default
from neuraltunes_live.errors import NeuralTunesError, SynthError
from neuraltunes_live.live.clock import SystemClock
from neuraltunes_live.live.daemon import Daemon
from neuraltunes_live.live.messages import Message
from neuraltunes_live.live.ports import (
    JackMidiInput,
    JackMidiOutput,
    MidiInput,
    MidiOutput,
    open_input,
    open_output,
)
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


def serve(config: Config, recorder: Recorder | None = None, learn: Path | None = None) -> None:
    """Run the daemon until SIGINT/SIGTERM; ``recorder`` keeps the session; ``learn`` is where the knobs
    learned by moving them are written (``serve --learn FILE``)."""
    began = time.perf_counter()
    live = config.live
    model_dir = model_dir_or_default(live.model)
    model = load_model(model_dir)
    seed = live.random_seed if live.random_seed >= 0 else secrets.randbelow(2**31)
    flags = _Flags()
    # Our signal handlers stay in place until every note is closed and the
    # ports are shut: a second signal (Ctrl-C and a service manager's SIGTERM
    # together) must not cut the shutdown short.
    with _handling_signals(flags):
        output = open_output(live.backend, live.output, frames=live.jack_timing == "frames")
        timed = output if isinstance(output, JackMidiOutput) else None
        with output, _synth_for(config, output.backend) as synth:
            send, hear = output.send, None
            clock = SystemClock() if timed is None else timed.clock
            played: list[Callable[[float, Message], None]] = []  # told of each message as it leaves
            if synth is not None:
                played.append(lambda _t, message: synth.send(message))
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
                timed=timed,
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

            frame_clock = None if timed is None else timed.clock
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
                    logger.info(
                        f"{output.backend}: listening on '{midi_input.opened.name}', playing to '{output.opened.name}'"
                    )
                    for line in routing_help(output.backend, midi_input.opened.name, output.opened.name):
                        logger.info(line)
                    if synth is not None:
                        heard = " and your notes" if hear is not None or live.passthrough else ""
                        logger.info(f"synth: the answers{heard} through {synth.soundfont.name} to {synth.driver}")
                    logger.info(f"ready in {ready:.2f} s: {live.mode} mode at {tempo}; Ctrl-C stops")
                    if daemon.learner is not None:
                        logger.info(daemon.learner.prompt())
                    status = StatusLine(daemon.snapshot, sys.stderr).start() if sys.stderr.isatty() else None
                    try:
                        _watch(daemon, midi_input, output, flags, model_dir)
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


@contextlib.contextmanager
def _synth_for(config: Config, backend: str) -> Iterator[SoundFontSynth | None]:
    """The built-in synth when ``[live] synth`` asks for it; None (with a warning) when it cannot play.

    The MIDI output works either way. Closed last, after every note was ended.
    """
    if not config.live.synth:
        yield None
        return
    settings = config.synth
    driver = driver_for(settings.driver, backend)
    try:
        synth = SoundFontSynth(settings.soundfont or None, driver=driver, gain=settings.gain)
    except SynthError as err:
        logger.warning(f"{err}; playing MIDI only")
        yield None
        return
    with synth:
        yield synth


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
        self, daemon, midi_input, output, flags: "_Flags", model_dir: Path, load: Callable[[Path], object] = load_model
    ):
        self.daemon, self.midi_input, self.output = daemon, midi_input, output
        self.flags, self.model_dir, self.load = flags, model_dir, load
        self.input_lost = self.output_lost = False
        self.late = 0  # late events already told of
        #: JACK ports of ours (the output first: the clock is its), and since when their server is gone.
        self.jack_ports = [port for port in (output, midi_input) if getattr(port, "gone", None) is not None]
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
        names = " and ".join(f"'{port.own}'" for port in reversed(ports))
        logger.info(f"a JACK server is back (after {away:.1f} s): {names} are there again; answering as before")
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
) -> None:
    """The main thread's loop: a ``PortWatch`` round every ``PORT_CHECK_SECONDS`` until stopped."""
    watch = PortWatch(daemon, midi_input, output, flags, model_dir)
    while not flags.stop.wait(PORT_CHECK_SECONDS):
        watch.check()
