"""The daemon's main-thread watch, with fake ports and a fake daemon: ports that vanish and return, SIGHUP."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path

from neuraltunes_live.errors import ModelError, PortError
from neuraltunes_live.live.ports import Opened
from neuraltunes_live.live.serve import PortWatch, _Flags

from .fakes import log_lines


@dataclass
class FakePort:
    wanted: str
    here: bool = True
    flaky: bool = False  # present, but reconnecting fails once
    calls: list[str] = field(default_factory=list)

    @property
    def opened(self):
        return Opened("fake", f"{self.wanted}:port", False)

    def present(self):
        return self.here

    def reconnect(self):
        if self.flaky:
            self.flaky = False
            raise PortError(f"no port named {self.wanted!r}")
        self.calls.append("reconnect")

    def disconnect(self):
        self.calls.append("disconnect")


@dataclass
class FakeDaemon:
    calls: list[str] = field(default_factory=list)

    def silence(self, why):
        self.calls.append(f"silence: {why}")

    def swap_model(self, model):
        self.calls.append(f"swap {model}")


def rig(load=lambda path: f"model from {path}"):
    log, daemon = log_lines(), FakeDaemon()
    keyboard, synth = FakePort("Keyboard"), FakePort("Synth")
    watch = PortWatch(daemon, keyboard, synth, _Flags(), Path("m"), load=load)
    return watch, keyboard, synth, daemon, log


def test_an_output_that_vanishes_silences_the_answer_and_is_reconnected_when_back():
    watch, _, synth, daemon, log = rig()
    watch.check()
    assert daemon.calls == [] and log == []
    synth.here = False
    watch.check()
    watch.check()  # still gone: said once
    assert daemon.calls == ["silence: output port 'Synth' vanished: answer stopped; waiting for it"]
    synth.here = True
    watch.check()
    assert synth.calls == ["reconnect"] and log == ["output port 'Synth:port' is back; connected"]


def test_an_input_that_vanishes_is_let_go_and_taken_back():
    watch, keyboard, _, _, log = rig()
    keyboard.here = False
    watch.check()
    keyboard.here, keyboard.flaky = True, True
    watch.check()  # back for a moment, gone again while reconnecting: tried next round
    watch.check()
    assert keyboard.calls == ["disconnect", "reconnect"]
    assert log == [
        "input port 'Keyboard' vanished; still running, waiting for it to return",
        "port check: no port named 'Keyboard'",
        "input port 'Keyboard:port' is back; listening",
    ]


def test_sighup_swaps_the_model_or_keeps_the_old_one():
    watch, _, _, daemon, log = rig()
    watch.flags.reload.set()
    watch.check()
    assert daemon.calls == ["swap model from m"] and log == ["reloaded m; the next answer uses it"]
    assert not watch.flags.reload.is_set()

    def broken(path):
        raise ModelError(f"{path}/weights.npz: damaged or truncated")

    watch, _, _, daemon, log = rig(load=broken)
    watch.flags.reload.set()
    watch.check()
    assert daemon.calls == []
    assert log == ["reload failed, still playing the old model: m/weights.npz: damaged or truncated"]


@dataclass
class FakeJackPort(FakePort):
    """A port on a JACK server that can go away: ``gone`` as JACK's shutdown callback sets it."""

    own: str = ""
    gone: threading.Event = field(default_factory=threading.Event)
    server_up: bool = True
    late: int = 0
    lead: float = 0.03

    def remember(self):
        self.calls.append("remember")

    def remake(self):
        return 0

    def revive(self):
        if not self.server_up:
            raise PortError("cannot open the JACK output: server not running")
        self.gone.clear()
        self.calls.append("revive")


def jack_rig():
    log, daemon = log_lines(), FakeDaemon()
    keyboard = FakeJackPort("", own="NeuralTunes In")
    out = FakeJackPort("", own="NeuralTunes Out")
    return PortWatch(daemon, keyboard, out, _Flags(), Path("m")), keyboard, out, daemon, log


def test_a_jack_server_that_goes_is_said_once_and_both_ports_come_back_on_the_next_one():
    watch, keyboard, out, daemon, log = jack_rig()
    watch.check()
    assert keyboard.calls == out.calls == ["remember"]  # the connections others made, noted
    out.gone.set(), keyboard.gone.set()
    out.server_up = keyboard.server_up = False
    watch.check()
    watch.check()  # no server yet: tried again, said nothing more
    assert daemon.calls == [
        "silence: the JACK server is gone, and the notes it had open with it: answer stopped; "
        "waiting for a JACK server to come back"
    ]
    assert log == []
    out.server_up = keyboard.server_up = True
    watch.check()
    assert out.calls[-1] == keyboard.calls[-1] == "revive"
    assert len(log) == 1 and log[0].startswith("a JACK server is back (after ")
    assert log[0].endswith("'NeuralTunes In' and 'NeuralTunes Out' are there again; answering as before")
    watch.check()
    assert out.calls[-1] == "remember" and len(log) == 1


def test_late_events_are_told_once_for_each_round_they_grow_in():
    watch, _, out, _, log = jack_rig()
    watch.check()
    out.late = 3
    watch.check()
    watch.check()
    out.late = 4
    watch.check()
    assert log == [
        "warning: 3 events reached JACK after their frame and were played at the start of the next period "
        "(3 in all): the machine is too busy for the lead of 30 ms",
        "warning: 1 event reached JACK after its frame and was played at the start of the next period "
        "(4 in all): the machine is too busy for the lead of 30 ms",
    ]
