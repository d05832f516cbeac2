"""Sound without a DAW: a General MIDI SoundFont synth (FluidSynth) fed the same MIDI as the output port.

FluidSynth, through pyfluidsynth (a single-file ctypes binding), because it
plays any General MIDI SoundFont and brings its own audio drivers: JACK (the
project's real-time MIDI system already), PipeWire, PulseAudio and ALSA on
Linux, CoreAudio on macOS. Debian/Ubuntu package it (``libfluidsynth3``, a few
MB) and Homebrew too (``fluid-synth``). TinySoundFont's binding was the other
candidate; it needs PyAudio, which has to be compiled against the PortAudio
headers on Linux, so it is heavier to install than FluidSynth.

``SoundFontSynth`` is a resource like the ports: ``send`` takes MIDI bytes
(note on/off, control and program changes, pitch bend) from any thread,
``silence`` ends every sound, ``close`` is idempotent. Without an audio driver
it renders on demand (``render``), which ``render_wav`` uses to write a
continuation to a WAV file, events placed to the sample.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import sys
import threading
import wave
from pathlib import Path
from typing import Any, Iterable

import numpy as np

from neuraltunes_live.errors import SynthError
from neuraltunes_live.files import replace_file

logger = logging.getLogger(__name__)

SAMPLE_RATE = 48_000
#: The audio drivers tried in turn for ``driver = "auto"``, by platform.
AUTO_DRIVERS = {"darwin": ("coreaudio",), "linux": ("pipewire", "pulseaudio", "alsa")}

#: Where systems keep General MIDI SoundFonts, best first: Debian/Ubuntu's
#: fluid-soundfont-gm and timgm6mb-soundfont (and their default-GM link),
#: other Linux distributions, Homebrew.
SOUNDFONT_PLACES = (
    "/usr/share/sounds/sf2/FluidR3_GM.sf2",
    "/usr/share/sounds/sf2/default-GM.sf2",
    "/usr/share/sounds/sf2/TimGM6mb.sf2",
    "/usr/share/soundfonts/default.sf2",
    "/usr/share/soundfonts/FluidR3_GM.sf2",
    "/opt/homebrew/share/soundfonts/default.sf2",
    "/usr/local/share/soundfonts/default.sf2",
)
INSTALL_SOUNDFONT = (
    "no General MIDI SoundFont found: install one (Debian/Ubuntu: sudo apt-get install timgm6mb-soundfont, "
    "or fluid-soundfont-gm) or pass --soundfont FILE.sf2"
)
INSTALL_FLUIDSYNTH = (
    "the synth needs the FluidSynth library: install it (Debian/Ubuntu: sudo apt-get install libfluidsynth3; "
    "macOS: brew install fluid-synth)"
)


def driver_for(setting: str, backend: str) -> str:
    """The audio driver to open: ``auto`` with JACK MIDI means JACK audio too, else the setting as it is."""
    return "jack" if setting == "auto" and backend == "jack" else setting


def find_soundfont(given: str | os.PathLike | None = None, places: Iterable[str] = SOUNDFONT_PLACES) -> Path:
    """The SoundFont named, else the first the system has; SynthError saying what to install."""
    if given:
        path = Path(given)
        if not path.is_file():
            raise SynthError(f"SoundFont {path} does not exist")
        return path
    for place in places:
        if Path(place).is_file():
            return Path(place)
    raise SynthError(INSTALL_SOUNDFONT)


def _fluidsynth() -> Any:
    try:
        # pyfluidsynth prints where it found the library to stdout when CI is set;
        # stdout belongs to our commands' output, so that line is swallowed.
        with contextlib.redirect_stdout(io.StringIO()):
            import fluidsynth
    except (ImportError, OSError) as err:  # the binding is missing, or it found no libfluidsynth
        raise SynthError(INSTALL_FLUIDSYNTH) from err
    return fluidsynth


_WRITE_FLOAT: list[Any] = []


def _write_float(fluidsynth: Any) -> Any:
    """``fluid_synth_write_float``, which pyfluidsynth does not wrap, declared through its own ``cfunc``."""
    if not _WRITE_FLOAT:
        from ctypes import c_int, c_void_p

        args = [("synth", c_void_p, 1), ("len", c_int, 1)]
        for side in ("l", "r"):
            args += [(f"{side}out", c_void_p, 1), (f"{side}off", c_int, 1), (f"{side}incr", c_int, 1)]
        _WRITE_FLOAT.append(fluidsynth.cfunc("fluid_synth_write_float", c_int, *args))
    return _WRITE_FLOAT[0]


class SoundFontSynth:
    """A SoundFont synth: plays what ``send`` is given, to an audio driver or into ``render``."""

    def __init__(
        self,
        soundfont: str | os.PathLike | None = None,
        *,
        driver: str | None = None,
        sample_rate: int = SAMPLE_RATE,
        name: str = "NeuralTunes Synth",
        gain: float = 0.4,
    ):
        path = find_soundfont(soundfont)
        fluidsynth = self._fluidsynth = _fluidsynth()
        self.closed = False
        self.sample_rate = sample_rate
        self.driver: str | None = None
        self._lock = threading.Lock()
        self._synth = fluidsynth.Synth(gain=gain, samplerate=float(sample_rate))
        self._synth.setting("synth.reverb.active", 0)  # dry: what the MIDI says, nothing after it
        self._synth.setting("synth.chorus.active", 0)
        font = self._synth.sfload(str(path))
        if font == -1:
            self._synth.delete()
            raise SynthError(f"{path} is not a SoundFont FluidSynth can read")
        for channel in range(16):
            self._synth.program_select(channel, font, 128 if channel == 9 else 0, 0)
        self.soundfont = path
        if driver is not None:
            try:
                self._start(driver, name)
            except SynthError:
                self._synth.delete()
                self.closed = True
                raise

    def _start(self, driver: str, name: str) -> None:
        tried = AUTO_DRIVERS.get(sys.platform, ("alsa",)) if driver == "auto" else (driver,)
        for each in tried:
            if each == "jack":
                self._synth.setting("audio.jack.id", name)
                self._synth.setting("audio.jack.autoconnect", 1)
                self._synth.setting("audio.jack.multi", 0)
            # The audio driver alone: pyfluidsynth's start() would also open a
            # MIDI input (an ALSA sequencer port) that we neither want nor feed.
            self._synth.setting("audio.driver", each)
            driver_handle = self._fluidsynth.new_fluid_audio_driver(self._synth.settings, self._synth.synth)
            if driver_handle:
                self._synth.audio_driver = driver_handle  # deleted with the synth
                self.driver = each
                return
        raise SynthError(
            f"no audio output could be opened ({', '.join(tried)}); the MIDI output keeps playing. "
            "Start the sound server (PipeWire/PulseAudio, or JACK with --synth-driver jack), or check the audio device"
        )

    def send(self, message: tuple[int, ...] | list[int]) -> None:
        """Play one MIDI message (other kinds are ignored); safe from any thread."""
        if self.closed or not message:
            return
        status = message[0]
        kind, channel = status & 0xF0, status & 0x0F
        synth = self._synth
        with self._lock:
            if kind == 0x90 and len(message) >= 3 and message[2] > 0:
                synth.noteon(channel, message[1], message[2])
            elif kind in (0x80, 0x90) and len(message) >= 2:
                synth.noteoff(channel, message[1])
            elif kind == 0xB0 and len(message) >= 3:
                if message[1] == 120:
                    synth.all_sounds_off(channel)
                elif message[1] == 123:
                    synth.all_notes_off(channel)
                else:
                    synth.cc(channel, message[1], message[2])
            elif kind == 0xC0 and len(message) >= 2:
                synth.program_change(channel, message[1])
            elif kind == 0xE0 and len(message) >= 3:
                synth.pitch_bend(channel, (message[1] | message[2] << 7) - 8192)

    def silence(self) -> None:
        """End every sound at once, on every channel."""
        if self.closed:
            return
        with self._lock:
            for channel in range(16):
                self._synth.all_sounds_off(channel)

    def render_into(self, left: np.ndarray, right: np.ndarray, start: int, end: int) -> None:
        """Render frames ``start`` .. ``end - 1`` into two float32 arrays (a JACK client's port buffers), in
        place and without the dither that the 16-bit rendering adds."""
        if end <= start:
            return
        write = _write_float(self._fluidsynth)
        with self._lock:
            write(
                self._synth.synth, end - start, left.ctypes.data + 4 * start, 0, 1, right.ctypes.data + 4 * start, 0, 1
            )

    def render(self, frames: int) -> np.ndarray:
        """The next ``frames`` frames (no audio driver), stereo int16, shape (frames, 2)."""
        if frames <= 0:
            return np.zeros((0, 2), np.int16)
        with self._lock:
            return np.asarray(self._synth.get_samples(int(frames)), np.int16).reshape(-1, 2)

    def close(self) -> None:
        if self.closed:
            return
        self.silence()
        self.closed = True
        with self._lock:
            self._synth.delete()

    def __enter__(self) -> "SoundFontSynth":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def render_timed(
    messages: list[tuple[float, tuple[int, ...]]],
    soundfont: str | os.PathLike | None = None,
    *,
    sample_rate: int = SAMPLE_RATE,
    tail: float = 1.0,
    gain: float = 0.4,
) -> np.ndarray:
    """MIDI messages with their times in seconds, played by the synth: stereo int16 frames.

    Each message takes effect at its own frame (the audio up to it is rendered
    first); ``tail`` seconds follow the last, for the release.
    """
    with SoundFontSynth(soundfont, sample_rate=sample_rate, gain=gain) as synth:
        parts, done = [], 0
        for t, message in sorted(messages, key=lambda item: item[0]):
            frame = max(done, round(t * sample_rate))
            parts.append(synth.render(frame - done))
            done = frame
            synth.send(message)
        parts.append(synth.render(round(tail * sample_rate)))
        return np.concatenate(parts) if parts else np.zeros((0, 2), np.int16)


def write_wav(path: str | os.PathLike, frames: np.ndarray, sample_rate: int = SAMPLE_RATE) -> None:
    """Stereo int16 frames as a WAV file, written whole (temporary file, then rename)."""

    def write(out: Any) -> None:
        with wave.open(out, "wb") as wav:
            wav.setnchannels(2)
            wav.setsampwidth(2)
            wav.setframerate(sample_rate)
            wav.writeframes(np.ascontiguousarray(frames, "<i2").tobytes())

    replace_file(path, write)
