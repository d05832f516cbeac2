"""Trying the daemon without hardware, in real time over ports: ``play`` is a virtual keyboard (timed
messages, a MIDI file's, sent in time to a port or heard through the built-in synth) and ``record`` a MIDI
recorder. The command line reads and writes the files (``data.midifile``); the real-port tests use both.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from typing import Callable

from neuraltunes_live.config import SynthSettings
from neuraltunes_live.live.clock import Clock, SystemClock
from neuraltunes_live.live.messages import Message, channel_messages
from neuraltunes_live.live.ports import JackMidiInput, MidiOutput, open_input
from neuraltunes_live.live.synth import SoundFontSynth, driver_for

logger = logging.getLogger(__name__)


def play(
    messages: list[tuple[float, Message]],
    to: str | None,
    backend: str,
    synth: SynthSettings | None = None,
    name: str = "the file",
) -> int:
    """Send ``messages`` (seconds from 0, message) in time to port ``to`` and/or the built-in synth.

    ``name`` says in the log what is played. Returns how many messages were sent.
    """

    clock = SystemClock()
    sounding: set[tuple[int, int]] = set()
    sent = 0
    with contextlib.ExitStack() as outputs:
        sends: list[Callable[[Message], None]] = []
        if to is not None:
            output = outputs.enter_context(MidiOutput(backend, to, own="NeuralTunes Player"))
            sends.append(output.send)
            logger.info(f"playing {name} ({len(messages)} messages) to '{output.opened.name}'")
        if synth is not None:
            driver = driver_for(synth.driver, backend)
            sound = outputs.enter_context(
                SoundFontSynth(synth.soundfont or None, driver=driver, gain=synth.gain, name="NeuralTunes Player Synth")
            )
            sends.append(sound.send)
            logger.info(f"playing {name} through {sound.soundfont.name} to {sound.driver}")
        start = clock.now() + 0.05
        try:
            for t, message in messages:
                clock.sleep_until(start + t)
                for send in sends:
                    send(message)
                sent += 1
                kind, channel = message[0] & 0xF0, message[0] & 0x0F
                if kind == 0x90 and message[2] > 0:
                    sounding.add((channel, message[1]))
                elif kind in (0x80, 0x90):
                    sounding.discard((channel, message[1]))
            if synth is not None:
                clock.sleep_until(clock.now() + 1.0)  # the last notes' release
        finally:  # interrupted: end what was started
            for channel, pitch in sorted(sounding):
                for send in sends:
                    send((0x80 | channel, pitch, 0))
    return sent


def record(
    source: str,
    backend: str,
    seconds: float | None,
    stop: threading.Event | None = None,
) -> list[tuple[float, Message]]:
    """What port ``source`` sends until ``seconds`` pass, ``stop`` is set or Ctrl-C.

    As (seconds from the start, message), each message read as the daemon reads them.
    """
    clock: Clock = SystemClock()
    received: list[tuple[float, Message]] = []
    stop = stop or threading.Event()

    def keep(message: Message, t: float | None) -> None:  # in the MIDI system's thread; t: its frame's time on JACK
        received.append((clock.now() if t is None else t, message))

    with open_input(backend, source, keep, own="NeuralTunes Recorder") as midi_input:
        if isinstance(midi_input, JackMidiInput):  # its times are its frames
            clock = midi_input.clock
        begin = clock.now()
        until = f" for {seconds:g} s" if seconds else "; Ctrl-C stops"
        logger.info(f"recording '{midi_input.opened.name}'{until}")
        try:
            stop.wait(seconds)
        except KeyboardInterrupt:
            pass
    # read as the daemon reads them
    return [(t - begin, m) for t, data in received for m in channel_messages(data)]
