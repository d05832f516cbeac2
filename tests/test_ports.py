"""Choosing a MIDI system and finding ports by name: pure rules, no MIDI system needed."""

import pytest

from neuraltunes_live.errors import PortError
from neuraltunes_live.live.ports import candidates, failure_advice, find_port, free_name, port_present
from neuraltunes_live.live.serve import routing_help


def test_auto_takes_the_platforms_system_then_jack():
    assert candidates("auto", "linux") == ["alsa", "jack"]
    assert candidates("auto", "darwin") == ["coremidi", "jack"]
    assert candidates("auto", "win32") == ["winmm"]
    assert candidates("jack", "linux") == ["jack"]


def test_failure_names_the_cause_and_what_to_do():
    both = failure_advice({"alsa": "no sequencer", "jack": "JACK server not running?"})
    assert "alsa: no sequencer" in both and "jack: JACK server not running?" in both
    assert "modprobe snd-seq" in both and "jackd -d dummy" in both
    assert "\n" not in both
    assert "start one" in failure_advice({"jack": "JACK server not running?"})


PORTS = [
    "Midi Through:Midi Through Port-0 14:0",
    "Keystation 49:Keystation 49 MIDI 1 20:0",
    "NeuralTunes Out:NeuralTunes Out",
]


def test_a_port_is_found_by_its_name_or_a_unique_part_of_it():
    assert find_port(PORTS, "NeuralTunes Out:NeuralTunes Out", "input") == 2
    assert find_port(PORTS, "keystation", "input") == 1
    assert port_present(PORTS, "NeuralTunes Out") and not port_present(PORTS, "Launchpad")


def test_an_unknown_port_lists_the_ports_that_exist():
    with pytest.raises(PortError, match=r"no input port named 'Launchpad'; input ports now: 'Midi Through"):
        find_port(PORTS, "Launchpad", "input")
    with pytest.raises(PortError, match=r"no output port named 'x'; output ports now: none"):
        find_port([], "x", "output")


def test_an_ambiguous_name_asks_for_more_of_it():
    with pytest.raises(PortError, match=r"matches several: 'Midi Through.*'Keystation 49.*give more"):
        find_port(PORTS, "midi", "input")


def test_routing_help_speaks_the_systems_language():
    jack = "\n".join(routing_help("jack", "NeuralTunes In", "NeuralTunes Out"))
    assert "jack_connect" in jack and "NeuralTunes In:NeuralTunes In" in jack
    assert "aconnect" in "\n".join(routing_help("alsa", "NeuralTunes In", "NeuralTunes Out"))
    assert "DAW" in "\n".join(routing_help("coremidi", "NeuralTunes In", "NeuralTunes Out"))


def test_a_second_daemon_takes_a_free_name():
    jack = ["NeuralTunes In:NeuralTunes In", "system:playback_1"]
    assert free_name(jack, "NeuralTunes In") == "NeuralTunes In 2"
    assert free_name(jack + ["NeuralTunes In 2:NeuralTunes In 2"], "NeuralTunes In") == "NeuralTunes In 3"
    assert free_name(["Midi Through:Midi Through Port-0 14:0"], "NeuralTunes In") == "NeuralTunes In"


def test_a_client_name_finds_its_port_among_numbered_namesakes():
    ports = ["NeuralTunes In:NeuralTunes In", "NeuralTunes In 2:NeuralTunes In 2"]
    assert find_port(ports, "NeuralTunes In", "output") == 0
    assert find_port(ports, "NeuralTunes In 2", "output") == 1
    alsa = ["NeuralTunes In:NeuralTunes In 128:0", "NeuralTunes In 2:NeuralTunes In 2 129:0"]
    assert find_port(alsa, "NeuralTunes In", "output") == 0


def test_a_port_closes_once_and_in_a_with_block():
    from neuraltunes_live.live.ports import _Resource

    class Counted(_Resource):
        closes = 0

        def _close(self):
            self.closes += 1

    with Counted() as port:
        assert not port.closed
    assert port.closed and port.closes == 1
    port.close()
    assert port.closes == 1
    with pytest.raises(RuntimeError):
        with Counted() as failing:
            raise RuntimeError("a port lost mid-session")
    assert failing.closed and failing.closes == 1
