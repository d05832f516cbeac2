"""MIDI ports: the one place python-rtmidi is used.

We use python-rtmidi directly rather than through mido's port layer: its
input callback hands over raw bytes (what the engine works on) from the MIDI
system's own thread with no parsing per message, and it exposes which system
(ALSA, JACK, CoreMIDI, WinMM) to open. mido still reads and writes the MIDI
files (``midifile``).

Choosing a backend and finding a port by name are pure functions, tested
without a MIDI system; ``open_input`` / ``open_output`` are the thin shell.
Every failure is a ``PortError`` that says what to do.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, Iterator

from neuraltunes_live.errors import PortError
from neuraltunes_live.live.messages import Message

VIRTUAL_INPUT = "NeuralTunes In"
VIRTUAL_OUTPUT = "NeuralTunes Out"

#: Backend names and the rtmidi API constant names they stand for.
APIS = {"alsa": "API_LINUX_ALSA", "jack": "API_UNIX_JACK", "coremidi": "API_MACOSX_CORE", "winmm": "API_WINDOWS_MM"}


def candidates(requested: str, platform: str = sys.platform) -> list[str]:
    """Backends to try, in order, for ``requested`` (``auto`` or a name)."""
    if requested != "auto":
        return [requested]
    if platform.startswith("linux"):
        return ["alsa", "jack"]
    if platform == "darwin":
        return ["coremidi", "jack"]
    if platform.startswith("win"):
        return ["winmm"]
    return ["jack"]


def failure_advice(tried: dict[str, str], platform: str = sys.platform) -> str:
    """One line saying why no backend opened (``tried``: backend → error) and what to do."""
    reasons = "; ".join(f"{name}: {error}" for name, error in tried.items())
    if "alsa" in tried and "jack" in tried:
        advice = (
            "no ALSA sequencer (/dev/snd/seq) and no JACK server: load the ALSA sequencer "
            "(sudo modprobe snd-seq) or start JACK (jackd -d dummy &, or ./quickstart.sh serve, "
            "which starts one)"
        )
    elif "alsa" in tried:
        advice = "no ALSA sequencer: sudo modprobe snd-seq, or use JACK (--backend jack with jackd running)"
    elif "jack" in tried:
        advice = "no JACK server is running: start one (jackd -d dummy &, or qjackctl)"
    elif "winmm" in tried:
        advice = "no Windows MIDI ports"
    else:
        advice = f"the {', '.join(tried)} MIDI system is not available on this machine"
    return f"cannot open MIDI ({reasons}): {advice}"


def client_name(port: str) -> str:
    """The program's (client's) part of a port name: "NeuralTunes In" of "NeuralTunes In:NeuralTunes In"."""
    return port.split(":", 1)[0]


def find_port(ports: list[str], wanted: str, direction: str) -> int:
    """Index of the port named ``wanted``: exactly, else by its client's name, else the only one containing it."""
    exact = [i for i, name in enumerate(ports) if name == wanted]
    if exact:
        return exact[0]
    client = [i for i, name in enumerate(ports) if client_name(name) == wanted]
    if len(client) == 1:
        return client[0]
    lowered = wanted.lower()
    partial = [i for i, name in enumerate(ports) if lowered in name.lower()]
    if len(partial) == 1:
        return partial[0]
    listing = ", ".join(repr(p) for p in ports) or "none"
    if partial:
        matches = ", ".join(repr(ports[i]) for i in partial)
        raise PortError(f"{direction} port {wanted!r} matches several: {matches}; give more of the name")
    raise PortError(f"no {direction} port named {wanted!r}; {direction} ports now: {listing}")


def free_name(ports: list[str], wanted: str) -> str:
    """``wanted``, or "wanted 2", "wanted 3", ... if a program of that name is already there.

    So a second daemon's ports have names of their own (the MIDI system would
    rename them behind our back otherwise, and the log would name the first's).
    """
    taken = {client_name(port) for port in ports}
    name, number = wanted, 1
    while name in taken:
        number += 1
        name = f"{wanted} {number}"
    return name


def port_present(ports: list[str], wanted: str) -> bool:
    try:
        find_port(ports, wanted, "")
    except PortError:
        return False
    return True


@contextlib.contextmanager
def _quiet_stderr() -> Iterator[None]:
    """Hide what the C MIDI libraries print while we probe (we say it better)."""
    try:
        saved = os.dup(2)
    except OSError:
        yield
        return
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def _rtmidi():
    import rtmidi

    return rtmidi


def _make(kind: str, backend: str, client: str):
    rtmidi = _rtmidi()
    api = getattr(rtmidi, APIS[backend], None)
    if api is None or api not in rtmidi.get_compiled_api():
        raise PortError(f"this python-rtmidi was built without {backend} support")
    cls = rtmidi.MidiIn if kind == "input" else rtmidi.MidiOut
    # Never let a JACK client start a server of its own behind our back.
    os.environ.setdefault("JACK_NO_START_SERVER", "1")
    with _quiet_stderr():
        return cls(rtapi=api, name=client)


def open_backend(requested: str, kind: str, client: str) -> tuple[str, Any]:
    """An rtmidi MidiIn/MidiOut on the first backend that works: (backend, object)."""
    if requested not in APIS and requested != "auto":
        raise PortError(f"unknown MIDI backend {requested!r}; backends: auto, {', '.join(APIS)}")
    rtmidi = _rtmidi()
    tried: dict[str, str] = {}
    for backend in candidates(requested):
        try:
            return backend, _make(kind, backend, client)
        except PortError as err:
            tried[backend] = str(err)
        except rtmidi.RtMidiError as err:
            tried[backend] = str(err).strip() or type(err).__name__
    raise PortError(failure_advice(tried))


def list_ports(backend: str = "auto") -> tuple[str, list[str], list[str]]:
    """(backend, ports to read from, ports to send to)."""
    name, midi_in = open_backend(backend, "input", "NeuralTunes ports")
    _, midi_out = open_backend(name, "output", "NeuralTunes ports")
    try:
        return name, list(midi_in.get_ports()), list(midi_out.get_ports())
    finally:
        midi_in.delete()
        midi_out.delete()


@dataclass
class Opened:
    backend: str
    name: str  # the port's name as other programs see it (or the one connected to)
    virtual: bool


class _Resource:
    """A port is a resource: ``closed`` says whether it is, ``close()`` may be called again, and
    ``with`` closes it."""

    closed = False

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self._close()

    def _close(self) -> None:
        raise NotImplementedError

    def __enter__(self):
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()


class _Port(_Resource):
    """One rtmidi port of ours: virtual, or connected to an existing port named ``wanted``."""

    direction = ""  # "input" or "output"

    def __init__(self, backend: str, wanted: str, own: str):
        self.wanted = wanted
        if not wanted:
            # Others see our virtual input among the ports they send to, and our output among those they read.
            seen_as = "output" if self.direction == "input" else "input"
            backend, probe = open_backend(backend, seen_as, f"{own} (probe)")
            try:
                own = free_name(list(probe.get_ports()), own)
            finally:
                probe.delete()
        self.own = own  # the name of our port (and MIDI client)
        self.backend, self._midi = open_backend(backend, self.direction, own)

    def _open(self) -> Opened:
        rtmidi = _rtmidi()
        try:
            if not self.wanted:
                self._midi.open_virtual_port(self.own)
                return Opened(self.backend, self.own, True)
            ports = self._midi.get_ports()
            index = find_port(ports, self.wanted, self.direction)
            self._midi.open_port(index, self.own)
            return Opened(self.backend, ports[index], False)
        except rtmidi.RtMidiError as err:
            if sys.platform.startswith("win") and not self.wanted:
                raise PortError(
                    "Windows has no virtual MIDI ports: create one with loopMIDI "
                    "(https://www.tobias-erichsen.de/software/loopmidi.html) and pass "
                    f"--{self.direction} NAME"
                ) from err
            raise PortError(f"cannot open the {self.direction} port: {err}") from err

    def present(self) -> bool:
        """Whether the connected port still exists (a virtual port always does)."""
        return not self.wanted or port_present(self._midi.get_ports(), self.wanted)


class MidiInput(_Port):
    """A virtual input, or a connection from an existing port; calls ``receive`` per message."""

    direction = "input"

    def __init__(self, backend: str, wanted: str, receive: Callable[[Message], None], own: str = VIRTUAL_INPUT):
        super().__init__(backend, wanted, own)
        self.receive = receive
        # Sysex is dropped by the MIDI system; clock is kept (external tempo).
        self._midi.ignore_types(sysex=True, timing=False, active_sense=True)
        self.opened = self._open()

    def _callback(self, event, data=None) -> None:
        message, _delta = event
        self.receive(tuple(message))

    def _open(self) -> Opened:
        opened = super()._open()
        # Set after every open: python-rtmidi drops the callback when a port closes.
        self._midi.set_callback(self._callback)
        return opened

    def reconnect(self) -> None:
        self._midi.close_port()
        self.opened = self._open()

    def disconnect(self) -> None:
        self._midi.close_port()

    def _close(self) -> None:
        self._midi.cancel_callback()
        self._midi.close_port()
        self._midi.delete()


class JackMidiInput(_Resource):
    """A JACK MIDI input of our own, through the JACK-Client library rather than RtMidi.

    RtMidi's JACK backend joins every event after a SysEx start into that
    SysEx until an F7 arrives, so one unterminated SysEx (``F0 01``) leaves it
    deaf for good. JACK delivers whole events, and JACK-Client hands each one
    over as its bytes: here every event is passed on as it came, and the
    daemon's one decoder (``messages.split``) keeps what is well formed.
    Same interface as ``MidiInput``; ``receive`` gets each event's bytes as a
    tuple, from JACK's process thread.
    """

    direction = "input"

    def __init__(self, wanted: str, receive: Callable[[Message], None], own: str = VIRTUAL_INPUT):
        jack = _jack()
        self.backend = "jack"
        self.wanted = wanted
        self.receive = receive
        try:
            if not wanted:
                probe = jack.Client(f"{own} probe", no_start_server=True)
                try:
                    own = free_name([port.name for port in probe.get_ports(is_midi=True)], own)
                finally:
                    probe.close()
            self._client = jack.Client(own, no_start_server=True, use_exact_name=True)
            self._port = self._client.midi_inports.register(own)
            self._client.set_process_callback(self._process)
            self._client.activate()
        except (jack.JackError, jack.JackOpenError) as err:
            raise PortError(f"cannot open the JACK input: {err}") from err
        self.own = own
        self.opened = self._open()

    def _process(self, frames: int) -> None:
        for _offset, data in self._port.incoming_midi_events():
            self.receive(tuple(bytes(data)))

    def _sources(self) -> list[str]:
        return [port.name for port in self._client.get_ports(is_midi=True, is_output=True)]

    def _open(self) -> Opened:
        if not self.wanted:
            return Opened(self.backend, self.own, True)
        sources = self._sources()
        source = sources[find_port(sources, self.wanted, self.direction)]
        try:
            self._client.connect(source, self._port)
        except _jack().JackError as err:
            raise PortError(f"cannot connect {source!r} to our input: {err}") from err
        return Opened(self.backend, source, False)

    def present(self) -> bool:
        return not self.wanted or port_present(self._sources(), self.wanted)

    def reconnect(self) -> None:
        self.disconnect()
        self.opened = self._open()

    def disconnect(self) -> None:
        self._port.disconnect()

    def _close(self) -> None:
        self._client.deactivate()
        self._client.close()


def _jack():
    import jack

    return jack


def open_input(
    backend: str, wanted: str, receive: Callable[[Message], None], own: str = VIRTUAL_INPUT
) -> "MidiInput | JackMidiInput":
    """An input port: through JACK-Client on JACK (see ``JackMidiInput``), else through RtMidi.

    ``receive`` gets each delivery's bytes; they may be malformed (``messages.split`` reads them).
    """
    if backend == "auto":
        backend, probe = open_backend(backend, "input", f"{own} probe")
        probe.delete()
    if backend == "jack":
        try:
            _jack()
        except (ImportError, OSError):  # JACK-Client or libjack missing: RtMidi's input still works
            return MidiInput(backend, wanted, receive, own)
        return JackMidiInput(wanted, receive, own)
    return MidiInput(backend, wanted, receive, own)


class MidiOutput(_Port):
    """A virtual output, or a connection to an existing port."""

    direction = "output"

    def __init__(self, backend: str, wanted: str, own: str = VIRTUAL_OUTPUT):
        super().__init__(backend, wanted, own)
        self._lock = threading.Lock()
        self.opened = self._open()

    def send(self, message: Message) -> None:
        with self._lock:
            self._midi.send_message(message)

    def reconnect(self) -> None:
        with self._lock:
            self._midi.close_port()
            self.opened = self._open()

    #: How long ``close`` waits first: JACK sends queued messages at its next cycle.
    drain_seconds = 0.05

    def _close(self) -> None:
        time.sleep(self.drain_seconds)
        with self._lock:
            self._midi.close_port()
            self._midi.delete()
