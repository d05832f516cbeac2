"""Choosing a MIDI system and finding ports by name: pure rules, no MIDI system needed."""

import pytest

from neuraltunes_live.errors import PortError
from neuraltunes_live.live.clock import FrameClock
from neuraltunes_live.live.ports import FrameQueue, candidates, failure_advice, find_port, free_name, port_present
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


# --- a JACK port's frame queue: what each cycle writes, at which offset -----------------------


def frame_queue(rate=1000, start=0):
    """A queue on a clock of 1000 frames a second (a frame is a millisecond), and its cycles' writes."""
    server = {"frame": start}
    queue = FrameQueue(FrameClock(lambda: server["frame"], rate))
    writes: list[tuple[int, int, tuple]] = []

    def cycle(first, frames=10):
        server["frame"] = first
        queue.cycle(queue.clock.frame(first), frames, lambda offset, data: writes.append((first, offset, tuple(data))))

    return queue, writes, cycle


def test_each_event_is_written_in_the_cycle_that_holds_its_frame_at_its_offset():
    queue, writes, cycle = frame_queue()
    queue.at(0.013, (0x90, 60, 90))
    queue.at(0.025, (0x80, 60, 0))
    queue.at(0.019, (0x90, 64, 90))  # handed over out of order: written in order
    for first in (0, 10, 20):
        cycle(first)
    assert writes == [(10, 3, (0x90, 60, 90)), (10, 9, (0x90, 64, 90)), (20, 5, (0x80, 60, 0))]
    assert queue.late == 0 and queue.cycles == 3


def test_an_event_after_its_frame_is_written_at_once_and_counted_late():
    queue, writes, cycle = frame_queue()
    cycle(0)
    queue.at(0.004, (0x90, 60, 90))  # frame 4 has gone by when it arrives
    cycle(10)
    assert writes == [(10, 0, (0x90, 60, 90))] and queue.late == 1


def test_sent_now_goes_at_the_cycles_start_after_what_was_due_there():
    queue, writes, cycle = frame_queue()
    cycle(0)
    queue.at(0.005, (0x90, 60, 90))  # late, handed over before the stop
    queue.now((0x80, 60, 0))
    queue.now((0xB0, 123, 0))
    cycle(10)
    assert [w[1:] for w in writes] == [(0, (0x90, 60, 90)), (0, (0x80, 60, 0)), (0, (0xB0, 123, 0))]
    assert queue.late == 1  # the note-on, not the messages sent now


def test_retract_drops_unwritten_note_ons_of_one_response_from_a_frame_and_keeps_note_offs():
    queue, writes, cycle = frame_queue()
    queue.at(0.012, (0x90, 60, 90), tag=1)
    queue.at(0.015, (0x80, 60, 0), tag=1)
    queue.at(0.016, (0x90, 62, 90), tag=1)  # after the cut: taken back
    queue.at(0.017, (0x90, 67, 90), tag=2)  # another response: stays
    queue.retract(1, 0.016)
    queue.at(0.018, (0x90, 64, 90), tag=1)  # handed over after the retraction: stays
    cycle(10)
    assert [w[1:] for w in writes] == [
        (2, (0x90, 60, 90)),
        (5, (0x80, 60, 0)),
        (7, (0x90, 67, 90)),
        (8, (0x90, 64, 90)),
    ]
    queue.at(0.031, (0x90, 65, 90), tag=3)
    queue.at(0.032, (0x80, 65, 0), tag=3)
    queue.retract(None, None)  # a stop: every unwritten note-on goes; its note-off is harmless
    cycle(30)
    assert writes[4:] == [(30, 2, (0x80, 65, 0))]


def test_what_is_written_is_told_with_its_time_and_a_full_buffer_waits_for_the_next_cycle():
    queue, _, _ = frame_queue()
    told = []
    queue.on_written = lambda t, message: told.append((t, message))
    written = []

    def write(offset, data):
        if len(written) == 1:
            raise OSError("MIDI buffer full")
        written.append((offset, tuple(data)))

    queue.at(0.011, (0x90, 60, 90))
    queue.at(0.012, (0x90, 64, 90))
    queue.cycle(10, 10, write)
    assert written == [(1, (0x90, 60, 90))] and told == [(0.011, (0x90, 60, 90))]
    written.clear()
    queue.cycle(20, 10, lambda offset, data: written.append((offset, tuple(data))))
    assert written == [(0, (0x90, 64, 90))] and queue.late == 1  # not lost: late
