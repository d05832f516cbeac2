"""MIDI ports: the one place python-rtmidi is used.

We use python-rtmidi directly rather than through mido's port layer: its
input callback hands over raw bytes (what the engine works on) from the MIDI
system's own thread with no parsing per message, and it exposes which system
(ALSA, JACK, CoreMIDI, WinMM) to open. mido still reads and writes the MIDI
files (``midifile``).

On JACK both ports are JACK-Client's instead (``JackMidiInput``,
``JackMidiOutput``): JACK time is frames, and only there can an event be
written at its frame and an input event be read with its frame. RtMidi's
JACK backend writes whatever was sent at frame 0 of the next period and
stamps nothing, so through it a DAW hears the answer quantized to the period.

Choosing a backend and finding a port by name are pure functions, tested
without a MIDI system; ``open_input`` / ``open_output`` are the thin shell.
Every failure is a ``PortError`` that says what to do.
"""

from __future__ import annotations

import collections
import contextlib
import errno
import logging
import os
import sys
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Protocol

from neuraltunes_live.errors import PortError
from neuraltunes_live.live.clock import FrameClock
from neuraltunes_live.live.messages import Message

logger = logging.getLogger(__name__)

#: Called with each message an input port hears and its time on the daemon's clock
#: (the frame it came in at, on JACK), or None where the MIDI system gives none (RtMidi).
Receive = Callable[[Message, "float | None"], None]

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

    def __init__(self, backend: str, wanted: str, receive: Receive, own: str = VIRTUAL_INPUT):
        super().__init__(backend, wanted, own)
        self.receive = receive
        # Sysex is dropped by the MIDI system; clock is kept (external tempo).
        self._midi.ignore_types(sysex=True, timing=False, active_sense=True)
        self.opened = self._open()

    def _callback(self, event, data=None) -> None:
        message, _delta = event
        self.receive(tuple(message), None)

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


class JackPort(_Resource):
    """A port of ours (MIDI; audio for the synth) on its own JACK client, through JACK-Client; it
    outlives the server.

    A server that stops (a new buffer size in QjackCtl or Cadence restarts it,
    so does a change of sound card) takes the client with it: JACK calls the
    shutdown callback, ``gone`` is set, and nothing of the dead client is
    touched again. ``revive`` makes the client anew on whatever server now
    answers to the name, under the same port name, and remakes the connection
    asked for (``wanted``) and those others had made to it (``remember``).
    """

    direction = ""  # "input" or "output"

    def __init__(self, wanted: str, own: str):
        self.backend = "jack"
        self.wanted = wanted
        #: Set from JACK's thread when the server shuts us down.
        self.gone = threading.Event()
        self._client: Any = None
        self._connections: list[tuple[str, str]] = []  # (from, to) of our ports, as last seen
        self._to_remake: list[tuple[str, str]] = []  # of those, the ones not remade yet on a server that came back
        self._remake_until = 0.0
        if not wanted:
            own = self._free_name(own)
        self.own = own
        self._start(first=True)
        self.opened = self._open()

    def _free_name(self, own: str) -> str:
        jack = _jack()
        try:
            probe = jack.Client(f"{own} probe", no_start_server=True)
        except jack.JackOpenError as err:
            raise PortError(f"cannot open the JACK {self.direction}: {err}") from err
        try:
            return free_name([port.name for port in probe.get_ports()], own)
        finally:
            probe.close()

    def _start(self, first: bool) -> None:
        """A client named ``own`` with one port of that name, active; a ``PortError`` if no server answers.

        ``first``: the port's first server (not one that came back)."""
        jack = _jack()
        try:
            with _quiet_stderr():
                client = jack.Client(self.own, no_start_server=True, use_exact_name=True)
        except jack.JackOpenError as err:
            raise PortError(f"cannot open the JACK {self.direction}: {err}") from err
        try:
            self._register(client)
            client.set_shutdown_callback(lambda status, reason: self.gone.set())
            self._client = client
            self._starting(first)
            client.set_process_callback(self._process)
            client.activate()
        except jack.JackError as err:
            self._client = None
            client.close()
            raise PortError(f"cannot open the JACK {self.direction}: {err}") from err
        self.gone.clear()

    def _register(self, client: Any) -> None:
        """Our port(s) on a new client: here one MIDI port named as the client."""
        ports = client.midi_inports if self.direction == "input" else client.midi_outports
        self._port = ports.register(self.own)

    def _mine(self) -> list[Any]:
        """Our ports, whose connections are remembered."""
        return [self._port]

    def _starting(self, first: bool) -> None:
        """Before the new client is activated: what the subclass sets up for it."""

    def _process(self, frames: int) -> None:
        raise NotImplementedError

    def _peers(self) -> list[str]:
        """The MIDI ports ours can connect to."""
        if self.direction == "input":
            return [port.name for port in self._client.get_ports(is_midi=True, is_output=True)]
        return [port.name for port in self._client.get_ports(is_midi=True, is_input=True)]

    def _connect(self, peer: str) -> None:
        if self.direction == "input":
            self._client.connect(peer, self._port)
        else:
            self._client.connect(self._port, peer)

    def _open(self) -> Opened:
        if not self.wanted:
            return Opened(self.backend, self.own, True)
        peers = self._peers()
        peer = peers[find_port(peers, self.wanted, self.direction)]
        try:
            self._connect(peer)
        except _jack().JackError as err:
            raise PortError(f"cannot connect {peer!r} and our {self.direction}: {err}") from err
        return Opened(self.backend, peer, False)

    def present(self) -> bool:
        return not self.wanted or port_present(self._peers(), self.wanted)

    def remember(self) -> None:
        """Note the connections now made to our ports, to remake them on a server that comes back."""
        if self.gone.is_set():
            return
        pairs = []
        for mine in self._mine():
            for peer in self._client.get_all_connections(mine):
                pairs.append((mine.name, peer.name) if mine.is_output else (peer.name, mine.name))
        self._connections = pairs

    def revive(self) -> None:
        """Our client again on the server now running (``PortError`` while none is), with the
        connection asked for and (``remake``) those it had."""
        if self._client is not None:
            old, self._client = self._client, None
            _abandon(old)
        self._start(first=False)
        self._to_remake = list(self._connections)
        self._remake_until = time.monotonic() + REMAKE_SECONDS
        try:
            self.opened = self._open()
        except PortError:
            pass  # the port asked for is not there (yet): the watch connects it when it comes
        self.remake()

    def remake(self) -> int:
        """Remake the connections our port had before its server went, as their ports appear (for
        ``REMAKE_SECONDS``: a DAW restarted with the server may take a while); returns how many now."""
        if not self._to_remake or self.gone.is_set():
            return 0
        if time.monotonic() > self._remake_until:
            self._to_remake = []
            return 0
        jack = _jack()
        present, remade = {port.name for port in self._client.get_ports()}, 0
        for source, destination in list(self._to_remake):
            if source in present and destination in present:
                try:
                    self._client.connect(source, destination)
                    remade += 1
                except jack.JackError as err:
                    if getattr(err, "code", None) != errno.EEXIST:
                        # A port shows before its client is active, and JACK refuses to connect it
                        # until it is: tried again next round.
                        logger.debug(f"{source} -> {destination} not remade yet: {err}")
                        continue
                self._to_remake.remove((source, destination))  # (or made already: the one asked for)
        return remade

    def reconnect(self) -> None:
        self.disconnect()
        self.opened = self._open()

    def disconnect(self) -> None:
        self._port.disconnect()

    def _close(self) -> None:
        if self._client is None:
            return
        if self.gone.is_set():
            _abandon(self._client)
            return
        with _quiet_stderr():
            self._client.deactivate()
            self._client.close()


#: Clients whose server went away. libjack2 crashes the process (SIGSEGV in jack_client_close) when
#: one is closed, so each is left as it is, a few hundred bytes, and kept referenced with its callbacks.
_ABANDONED: list[Any] = []


def _abandon(client: Any) -> None:
    """Let go of a client whose server is gone without closing it (see ``_ABANDONED``)."""
    _ABANDONED.append(client)
    client._ptr = _jack()._ffi.NULL  # JACK-Client's close (and __del__) then do nothing


class JackMidiInput(JackPort):
    """A JACK MIDI input of our own, through the JACK-Client library rather than RtMidi.

    RtMidi's JACK backend joins every event after a SysEx start into that
    SysEx until an F7 arrives, so one unterminated SysEx (``F0 01``) leaves it
    deaf for good. JACK delivers whole events, and JACK-Client hands each one
    over as its bytes: here every event is passed on as it came, and the
    daemon's one decoder (``messages.split``) keeps what is well formed.
    Same interface as ``MidiInput``; ``receive`` gets each event's bytes as a
    tuple and its time, the frame it came in at on ``clock`` (the output's,
    so both ports share one timeline; a clock of its own when None), from
    JACK's process thread.
    """

    direction = "input"

    def __init__(self, wanted: str, receive: Receive, own: str = VIRTUAL_INPUT, clock: FrameClock | None = None):
        self.receive = receive
        self._own_clock = clock is None
        self.clock = clock or FrameClock(lambda: 0, 48000)  # replaced by the client's own as it starts
        super().__init__(wanted, own)

    def _starting(self, first: bool) -> None:
        if self._own_clock:  # (a shared clock is the output's to move)
            _follow(self.clock, self._client, self.gone, first)

    def _process(self, frames: int) -> None:
        start = self._client.last_frame_time
        for offset, data in self._port.incoming_midi_events():
            self.receive(tuple(bytes(data)), self.clock.time_of_frame((start + offset) % FrameClock.WRAP))


#: How long the connections of a port whose server came back are waited for.
REMAKE_SECONDS = 60.0


def _jack():
    import jack

    if not _LIBJACK_QUIET:
        # libjack writes its own lines to stderr for what we say in one line (a server that is not
        # running, or one that went away mid-session): they go to the debug log instead.
        jack.set_error_function(lambda text: logger.debug(f"libjack: {text}"))
        jack.set_info_function(lambda text: logger.debug(f"libjack: {text}"))
        _LIBJACK_QUIET.append(True)
    return jack


_LIBJACK_QUIET: list[bool] = []


def _frame_clock(client) -> FrameClock:
    return FrameClock(lambda: client.frame_time, client.samplerate)


def _resolved(backend: str, kind: str, own: str) -> str:
    """``backend``, or for ``auto`` the first that opens; a ``PortError`` saying what to start if none does."""
    backend, probe = open_backend(backend, kind, f"{own} probe")
    probe.delete()
    return backend


def _has_jack_client() -> bool:
    try:
        _jack()
    except (ImportError, OSError):  # JACK-Client or libjack missing: RtMidi's ports still work
        return False
    return True


def open_input(
    backend: str, wanted: str, receive: Receive, own: str = VIRTUAL_INPUT, clock: FrameClock | None = None
) -> "MidiInput | JackMidiInput":
    """An input port: through JACK-Client on JACK (see ``JackMidiInput``), else through RtMidi.

    ``receive`` gets each delivery's bytes and its time (see ``Receive``); the bytes may be
    malformed (``messages.split`` reads them). ``clock``: the frame clock JACK times are given on.
    """
    backend = _resolved(backend, "input", own)
    if backend == "jack" and _has_jack_client():
        return JackMidiInput(wanted, receive, own, clock)
    return MidiInput(backend, wanted, receive, own)


def open_output(backend: str, wanted: str, own: str = VIRTUAL_OUTPUT, frames: bool = True):
    """An output port: on JACK with ``frames``, JACK-Client's (each event at its frame, see
    ``JackMidiOutput``); else RtMidi's, which sends when called."""
    backend = _resolved(backend, "output", own)
    if backend == "jack" and frames and _has_jack_client():
        return JackMidiOutput(wanted, own)
    return MidiOutput(backend, wanted, own)


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


_TIMED, _NOW, _RETRACT = 0, 1, 2


class FrameQueue:
    """Events on their way to a JACK port: handed over from any thread, written in frame order in its cycle.

    Events come ahead of time with the clock time they are due (``at``, on
    ``clock``: frames over the nominal rate) through a deque, which is safe
    between threads without a lock in CPython. Each cycle (``cycle``, in JACK's
    process thread) moves what arrived into a list of its own, kept in frame
    order, and writes each event due in the cycle at its offset from the
    cycle's first frame. An event whose frame has already passed is written
    at offset 0 and counted in ``late``; nothing is dropped. ``now`` is "as
    soon as possible": the next cycle's offset 0, after anything already due
    there (a stop's note-offs come after the note-ons they end). ``retract``
    goes through the same deque, so it takes effect before whatever is sent
    after it.

    The hand-off is bounded by the scheduler, which passes on only what is
    due within its lead. A cycle takes the clock's lock for a moment (to
    unwrap its frame, by the caller) and allocates only the small tuples it
    keeps. ``on_written`` (the synth, the session recorder) is told of each
    event with its time as it is written, from JACK's process thread.
    """

    def __init__(self, clock: FrameClock):
        self.clock = clock
        self.late = 0
        self.cycles = 0
        self.on_written: Callable[[float, Message], None] | None = None
        self._fifo: collections.deque = collections.deque()
        self._pending: list[tuple] = []
        self._order = 0

    def clear(self) -> None:
        """Forget everything not yet written (while no cycle runs: a server that is gone)."""
        self._fifo.clear()
        self._pending.clear()

    @property
    def waiting(self) -> bool:
        """Whether something handed over has not reached a cycle yet."""
        return bool(self._fifo)

    def now(self, message: Message) -> None:
        self._fifo.append((_NOW, 0, bytes(message), None, False))

    def at(self, t: float, message: Message, tag: int = 0) -> None:
        note_on = len(message) == 3 and message[0] & 0xF0 == 0x90 and message[2] > 0
        self._fifo.append((_TIMED, self.clock.frame_of(t), bytes(message), tag, note_on))

    def retract(self, tag: int | None, after: float | None) -> None:
        """Drop the note-ons not yet written: of ``tag`` (all if None), due at ``after`` or later (all if None)."""
        frame = None if after is None else self.clock.frame_of(after)
        self._fifo.append((_RETRACT, frame, None, tag, False))

    def cycle(self, start: int, frames: int, write: Callable[[int, bytes], None]) -> None:
        """Write what is due in frames ``start`` .. ``start + frames - 1`` through ``write(offset, data)``."""
        pending, fifo = self._pending, self._fifo
        arrived = False
        while fifo:
            kind, frame, data, tag, note_on = fifo.popleft()
            if kind == _RETRACT:
                pending[:] = [
                    item
                    for item in pending
                    if not (item[5] and (tag is None or item[4] == tag) and (frame is None or item[2] >= frame))
                ]
                continue
            self._order += 1
            due = start if kind == _NOW else frame
            # (the frame it is written at, arrival, the frame it is due, bytes, tag, note-on, timed)
            pending.append((max(due, start), self._order, due, data, tag, note_on, kind == _TIMED))
            arrived = True
        if arrived:
            pending.sort()
        end, written = start + frames, 0
        for item in pending:
            if item[0] >= end:
                break
            at = max(item[0], start)  # (one left over from a cycle whose buffer was full goes first)
            try:
                write(at - start, item[3])
            except Exception:  # the period's buffer is full: the rest goes next cycle (late, not lost)
                break
            written += 1
            if item[6] and item[2] < start:
                self.late += 1
            if self.on_written is not None:
                self.on_written(at / self.clock.rate, tuple(item[3]))
        if written:
            del pending[:written]
        self.cycles += 1


class TimedJackPort(JackPort):
    """A JACK output of ours fed through a ``FrameQueue``: a ``TimedOutput`` for the scheduler.

    ``send`` plays as soon as it can; ``send_at`` at an event's time, handed
    over ``lead`` ahead of it; ``retract`` takes back unwritten note-ons.
    ``late``: events that came after their frame. Each cycle the subclass's
    ``_process`` hands the queue what writes an event.
    """

    direction = "output"
    #: How much earlier than one period an event is handed over: covers a late
    #: wake-up of the scheduler thread at normal priority on a busy machine.
    margin = 0.020
    #: How long ``close`` waits at most for what was sent to be written.
    drain_seconds = 0.5

    def __init__(self, wanted: str, own: str, clock: FrameClock):
        self.clock = clock
        self.queue = FrameQueue(clock)
        self._blocksize = 1024
        super().__init__(wanted, own)

    def _starting(self, first: bool) -> None:
        self.queue.clear()  # what was handed over for a server that went is not for this one
        self._blocksize = self._client.blocksize

    @property
    def lead(self) -> float:
        """Hand events over this long before their time: one period (the cycle that holds an event
        is processed at its start), and the margin."""
        if not self.gone.is_set():
            self._blocksize = self._client.blocksize
        return self._blocksize / self.clock.rate + self.margin

    @property
    def late(self) -> int:
        return self.queue.late

    @property
    def on_written(self) -> Callable[[float, Message], None] | None:
        return self.queue.on_written

    @on_written.setter
    def on_written(self, told: Callable[[float, Message], None] | None) -> None:
        self.queue.on_written = told

    def send(self, message: Message) -> None:
        self.queue.now(message)

    def send_at(self, t: float, message: Message, tag: int = 0) -> None:
        self.queue.at(t, message, tag)

    def retract(self, tag: int | None, after: float | None) -> None:
        self.queue.retract(tag, after)

    def _close(self) -> None:
        # What was sent (a stop's note-offs) is written in the next cycle: wait for two.
        waited, cycles = 0.0, None
        while waited < self.drain_seconds and not self.gone.is_set():
            if self.queue.waiting:
                cycles = None
            elif cycles is None:
                cycles = self.queue.cycles
            elif self.queue.cycles >= cycles + 2:
                break
            time.sleep(0.002)
            waited += 0.002
        super()._close()


class JackMidiOutput(TimedJackPort):
    """A JACK MIDI output of our own that writes each event at its frame.

    Same interface as ``MidiOutput``, and a ``TimedOutput`` (``TimedJackPort``).
    ``clock`` is the server's frames, which the daemon runs on; on a server
    that comes back it goes on from where it was.
    """

    def __init__(self, wanted: str, own: str = VIRTUAL_OUTPUT):
        super().__init__(wanted, own, FrameClock(lambda: 0, 48000))  # on the client's frames as it starts

    def _starting(self, first: bool) -> None:
        super()._starting(first)
        _follow(self.clock, self._client, self.gone, first)

    def _process(self, frames: int) -> None:  # JACK's process thread
        self._port.clear_buffer()
        self.queue.cycle(self.clock.frame(self._client.last_frame_time), frames, self._port.write_midi_event)


class Synth(Protocol):
    """What ``JackSynthOutput`` plays: ``synth.SoundFontSynth`` without an audio driver."""

    sample_rate: int

    def send(self, message: Message) -> None: ...

    def render_into(self, left: Any, right: Any, start: int, end: int) -> None: ...


class JackSynthOutput(TimedJackPort):
    """The built-in synth's sound as a JACK client of ours, each note started at its frame.

    FluidSynth's own JACK driver renders a whole period at a time with what it
    was sent before, so a note sent when due sounds at the start of the next
    period. Here the synth (without a driver of its own) is rendered in this
    client's process callback: the period up to each event's offset, the
    event, then the rest, so a note starts within one of FluidSynth's blocks
    (64 samples) of its frame. Its ports "left" and "right" are connected to
    the first two physical outputs, as FluidSynth's driver does. ``clock``:
    the MIDI output's, whose times the events carry.
    """

    def __init__(self, synth: Synth, clock: FrameClock, own: str = "NeuralTunes Synth"):
        self.synth = synth
        super().__init__("", own, clock)

    def _register(self, client: Any) -> None:
        self._left = client.outports.register("left")
        self._right = client.outports.register("right")
        self._port = self._left

    def _mine(self) -> list[Any]:
        return [self._left, self._right]

    def _open(self) -> Opened:
        speakers = self._client.get_ports(is_audio=True, is_input=True, is_physical=True)
        for ours, theirs in zip((self._left, self._right), speakers):
            try:
                self._client.connect(ours, theirs)
            except _jack().JackError:
                pass  # someone connected it already; the sound still goes there
        return Opened(self.backend, self.own, True)

    def _process(self, frames: int) -> None:  # JACK's process thread
        left, right = self._left.get_array(), self._right.get_array()
        done = 0

        def render(upto: int) -> None:
            nonlocal done
            if upto > done:
                self.synth.render_into(left, right, done, upto)
                done = upto

        def play(offset: int, data: bytes) -> None:
            render(offset)
            self.synth.send(tuple(data))

        self.queue.cycle(self.clock.frame(self._client.last_frame_time), frames, play)
        render(frames)


def _follow(clock: FrameClock, client, gone: threading.Event, first: bool) -> None:
    """Put ``clock`` on ``client``'s server: its frames from the start, or (a server that came back)
    going on from the time it showed last. It never reads a client whose server is gone."""
    last = [client.frame_time]

    def read() -> int:
        if not gone.is_set():
            last[0] = client.frame_time
        return last[0]

    if first:
        clock.use(read, client.samplerate)
    else:
        clock.follow(read, client.samplerate)
