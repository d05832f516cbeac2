"""The I/O shell of the live commands: ``serve``, ``play`` and ``record``.

``serve`` loads the model, opens the ports, runs the ``Daemon`` and watches:
SIGINT/SIGTERM stop it (every note closed first), SIGHUP loads the model
again (keeping the old one if the new one fails), and a port that vanishes is
waited for and reconnected. ``play`` is a virtual keyboard (a MIDI file sent
in time to a port) and ``record`` a MIDI recorder; both are for trying the
daemon without hardware and for the real-port tests.
"""

from __future__ import annotations

import contextlib
import secrets
import signal
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

import numpy as np

from .clock import SystemClock
from .config import Config
from .daemon import Daemon
from .errors import NeuralTunesError
from .files import check_output_file, output_errors
from .messages import Message, split
from .model import load_model, model_dir_or_default
from .ports import JackMidiInput, MidiInput, MidiOutput, open_input
from .tempo import DEFAULT_TEMPO_US, bpm_to_us, clamped_tempo

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


def serve(config: Config, log: Callable[[str], None]) -> None:
    """Run the daemon until SIGINT/SIGTERM."""
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
        with MidiOutput(live.backend, live.output) as output:
            daemon = Daemon(
                model, config, clock=SystemClock(), send=output.send, rng=np.random.default_rng(seed), log=log
            )
            with open_input(output.backend, live.input, daemon.receive) as midi_input:
                daemon.start()
                try:
                    ready = time.perf_counter() - began
                    tempo = "the DAW's MIDI clock" if live.clock == "external" else f"{live.tempo:g} BPM"
                    memory = "with" if model.memory is not None else "without"
                    log(f"model {model_dir} ({model.arch.parameter_count():,} parameters, {memory} piece "
                        f"memory), random seed {seed}")
                    log(f"{output.backend}: listening on '{midi_input.opened.name}', "
                        f"playing to '{output.opened.name}'")
                    for line in routing_help(output.backend, midi_input.opened.name, output.opened.name):
                        log(line)
                    log(f"ready in {ready:.2f} s: {live.mode} mode at {tempo}; Ctrl-C stops")
                    _watch(daemon, midi_input, output, flags, model_dir, log)
                finally:
                    daemon.stop()  # every note closed, before the ports close
        log("stopped; every note was closed")


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

    def __init__(self, daemon, midi_input, output, flags: "_Flags", model_dir: Path, log: Callable[[str], None],
                 load: Callable[[Path], object] = load_model):
        self.daemon, self.midi_input, self.output = daemon, midi_input, output
        self.flags, self.model_dir, self.log, self.load = flags, model_dir, log, load
        self.input_lost = self.output_lost = False

    def check(self) -> None:
        if self.flags.reload.is_set():
            self.flags.reload.clear()
            try:
                self.daemon.swap_model(self.load(self.model_dir))
                self.log(f"reloaded {self.model_dir}; the next answer uses it")
            except NeuralTunesError as err:
                self.log(f"reload failed, still playing the old model: {err}")
        output, midi_input = self.output, self.midi_input
        try:
            if not self.output_lost and not output.present():
                self.output_lost = True
                self.daemon.silence(f"output port '{output.wanted}' vanished: answer stopped; waiting for it")
            elif self.output_lost and output.present():
                output.reconnect()
                self.output_lost = False
                self.log(f"output port '{output.opened.name}' is back; connected")
            if not self.input_lost and not midi_input.present():
                self.input_lost = True
                midi_input.disconnect()
                self.log(f"input port '{midi_input.wanted}' vanished; still running, waiting for it to return")
            elif self.input_lost and midi_input.present():
                midi_input.reconnect()
                self.input_lost = False
                self.log(f"input port '{midi_input.opened.name}' is back; listening")
        except NeuralTunesError as err:  # a port seen for a moment, gone again: try next round
            self.log(f"port check: {err}")


def _watch(
    daemon: Daemon,
    midi_input: MidiInput | JackMidiInput,
    output: MidiOutput,
    flags: _Flags,
    model_dir: Path,
    log: Callable[[str], None],
) -> None:
    """The main thread's loop: a ``PortWatch`` round every ``PORT_CHECK_SECONDS`` until stopped."""
    watch = PortWatch(daemon, midi_input, output, flags, model_dir, log)
    while not flags.stop.wait(PORT_CHECK_SECONDS):
        watch.check()


# --- helpers for trying it without hardware ---------------------------------


def timed_messages(
    path: Path, tempo_bpm: float | None = None, warn: Callable[[str], None] = lambda line: None
) -> list[tuple[float, Message]]:
    """The channel messages of a MIDI file with their times in seconds.

    With ``tempo_bpm`` the file is played at that tempo (its own tempo changes
    scaled to match); meta and sysex events are left out. The file's tempos
    are read as ``read_midi`` reads them (``tempo.clamped_tempo``), with a
    warning for each one that had to be moved.
    """
    import mido

    from .errors import ImportFailed
    from .midifile import read_midifile

    try:
        midi = read_midifile(path)
    except ImportFailed as err:
        raise ImportFailed(f"{path}: {err}") from err
    merged = list(mido.merge_tracks(midi.tracks))
    scale = 1.0
    if tempo_bpm is not None:
        first = next((m.tempo for m in merged if m.type == "set_tempo"), DEFAULT_TEMPO_US)
        scale = bpm_to_us(tempo_bpm) / clamped_tempo(first)[0]
    out, t, us, warned = [], 0.0, float(DEFAULT_TEMPO_US), set()
    for message in merged:
        t += message.time * us / 1e6 / midi.ticks_per_beat * scale
        if message.type == "set_tempo":
            us, why = clamped_tempo(message.tempo)
            if why and why not in warned:
                warned.add(why)
                warn(f"{path}: {why}")
        elif not message.is_meta and message.type != "sysex":
            out.append((t, tuple(message.bytes())))
    return out


def play(path: Path, to: str, backend: str, tempo_bpm: float | None, log: Callable[[str], None]) -> int:
    """Send a MIDI file to port ``to`` in time; returns the messages sent."""
    messages = timed_messages(path, tempo_bpm, warn=lambda line: log(f"warning: {line}"))
    clock = SystemClock()
    sounding: set[tuple[int, int]] = set()
    sent = 0
    with MidiOutput(backend, to, own="NeuralTunes Player") as output:
        log(f"playing {path} ({len(messages)} messages) to '{output.opened.name}'")
        start = clock.now() + 0.05
        try:
            for t, message in messages:
                clock.sleep_until(start + t)
                output.send(message)
                sent += 1
                kind, channel = message[0] & 0xF0, message[0] & 0x0F
                if kind == 0x90 and message[2] > 0:
                    sounding.add((channel, message[1]))
                elif kind in (0x80, 0x90):
                    sounding.discard((channel, message[1]))
        finally:  # interrupted: end what was started
            for channel, pitch in sorted(sounding):
                output.send((0x80 | channel, pitch, 0))
    return sent


def record(
    source: str,
    out: Path,
    backend: str,
    seconds: float | None,
    log: Callable[[str], None],
    stop: threading.Event | None = None,
) -> int:
    """Record port ``source`` into a MIDI file until ``seconds`` pass or Ctrl-C; returns messages kept."""
    import mido

    from .midifile import save_midifile

    out.parent.mkdir(parents=True, exist_ok=True)
    check_output_file(out)
    clock = SystemClock()
    received: list[tuple[float, Message]] = []
    stop = stop or threading.Event()
    def keep(message: Message) -> None:  # in the MIDI system's thread
        received.append((clock.now(), message))

    with open_input(backend, source, keep, own="NeuralTunes Recorder") as midi_input:
        begin = clock.now()
        log(f"recording '{midi_input.opened.name}' to {out}" + (f" for {seconds:g} s" if seconds else "; Ctrl-C stops"))
        try:
            stop.wait(seconds)
        except KeyboardInterrupt:
            pass
    # Channel messages, read as the daemon reads them; no clock, no sysex, nothing malformed.
    kept = [(t, m) for t, data in received for m in split(data).messages if m[0] < 0xF0]
    ticks_per_beat, tempo = 480, 500_000  # 120 BPM: one second is 960 ticks
    track = mido.MidiTrack([mido.MetaMessage("set_tempo", tempo=tempo, time=0)])
    last = 0
    for t, message in kept:
        tick = round((t - begin) * ticks_per_beat * 1_000_000 / tempo)
        try:
            msg = mido.Message.from_bytes(list(message))
        except ValueError:
            continue  # a malformed message is not written
        track.append(msg.copy(time=max(0, tick - last)))
        last = max(last, tick)
    with output_errors(out):
        save_midifile(mido.MidiFile(tracks=[track], ticks_per_beat=ticks_per_beat), out)
    return len(kept)
