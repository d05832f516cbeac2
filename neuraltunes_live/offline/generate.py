"""``generate``: continue a MIDI file with the model and write the result.

Each output file has two tracks, "phrase" (the phrase as read) and
"continuation", so a DAW shows them apart. ``--variations K`` writes K files
from K independent draws; the random seed used is reported so a take can be
made again.
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from neuraltunes_live.config import StyleSettings, SynthSettings
from neuraltunes_live.core.continuation import continue_notes
from neuraltunes_live.core.keys import Key, parse_key
from neuraltunes_live.core.model_files import load_model
from neuraltunes_live.core.sampling import SamplingSettings
from neuraltunes_live.data.midifile import read_midi, timed_messages, write_midi
from neuraltunes_live.errors import ImportFailed, NeuralTunesError
from neuraltunes_live.files import check_output_file, output_errors
from neuraltunes_live.live.synth import SAMPLE_RATE, SoundFontSynth, render_timed, write_wav

logger = logging.getLogger(__name__)

#: Most files one ``generate`` writes (``--variations``).
MAX_VARIATIONS = 100
#: What ``--plot`` can draw into.
PLOT_SUFFIXES = (".png", ".svg", ".pdf")


def key_choice(key_setting: str, style: StyleSettings) -> Key | bool:
    """What to mask pitches to: a named Key, True (the phrase's key) or False (nothing)."""
    text = key_setting.strip().lower()
    if text == "":
        return style.key_mask
    if text == "auto":
        return True
    if text == "none":
        return False
    try:
        return parse_key(key_setting)
    except ValueError as err:
        raise NeuralTunesError(str(err)) from err


def variation_paths(out: Path, count: int) -> list[Path]:
    """``out`` itself for one file; ``name-1.mid`` … ``name-K.mid`` for K."""
    if count == 1:
        return [out]
    return [out.with_name(f"{out.stem}-{i}{out.suffix or '.mid'}") for i in range(1, count + 1)]


@dataclass(frozen=True)
class Generated:
    path: Path
    phrase_notes: int
    notes: int
    bars: int
    tempo_bpm: float
    wav: Path | None = None
    wav_seconds: float = 0.0


def generate(
    phrase_file: Path,
    out: Path,
    *,
    model_dir: Path,
    bars: int,
    beats_per_bar: int,
    settings: SamplingSettings,
    key: Key | bool,
    tempo_bpm: float | None,
    variations: int,
    random_seed: int,
    plot: Path | None = None,
    wav: Path | None = None,
    synth: SynthSettings | None = None,
) -> tuple[list[Generated], int]:
    """Write the continuations (and, with ``wav``, their audio); returns what was written and the seed used."""
    if not 1 <= variations <= MAX_VARIATIONS:
        raise NeuralTunesError(f"--variations must be from 1 to {MAX_VARIATIONS}, got {variations}")
    paths = variation_paths(out, variations)
    for path in paths:
        check_output_file(path)
    if plot is not None:
        check_output_file(plot, PLOT_SUFFIXES)
    wavs = variation_paths(wav, variations) if wav is not None else [None] * variations
    for each in wavs:
        if each is not None:
            check_output_file(each, (".wav",))
    if wav is not None:  # before any work: the library, the SoundFont, and that it loads (one line if not)
        SoundFontSynth((synth or SynthSettings()).soundfont or None).close()
    try:
        piece = read_midi(phrase_file)
    except ImportFailed as err:
        raise NeuralTunesError(f"{phrase_file}: {err}") from err
    for warning in piece.warnings:
        logger.warning(f"{phrase_file}: {warning}")
    if len(piece.notes) == 0:
        raise NeuralTunesError(f"{phrase_file}: no notes to continue")
    model = load_model(model_dir)
    if random_seed < 0:
        random_seed = secrets.randbelow(2**31)
    tempo = tempo_bpm or piece.tempo_bpm
    written = []
    for index, path in enumerate(paths):
        rng = np.random.default_rng([random_seed, index])
        continuation = continue_notes(
            model,
            piece.notes,
            bars=bars,
            settings=settings,
            rng=rng,
            beats_per_bar=beats_per_bar,
            key=key,
        )
        parts = [("phrase", piece.notes), ("continuation", continuation)]
        with output_errors(path):
            write_midi(parts, path, tempo_bpm=tempo)
        audio = wavs[index]
        seconds = render_wav(path, audio, synth or SynthSettings()) if audio is not None else 0.0
        written.append(Generated(path, len(piece.notes), len(continuation), bars, tempo, audio, seconds))
        if plot is not None and index == 0:
            from neuraltunes_live.offline.plot import piano_roll

            with output_errors(plot):
                piano_roll(
                    parts,
                    plot,
                    title=f"{phrase_file.name} continued for {bars} bars",
                    beats_per_bar=beats_per_bar,
                )
    return written, random_seed


def render_wav(midi: Path, out: Path, settings: SynthSettings) -> float:
    """The MIDI file just written, played by the built-in synth into ``out``; returns its seconds."""
    frames = render_timed(timed_messages(midi), settings.soundfont or None, gain=settings.gain)
    with output_errors(out):
        write_wav(out, frames)
    return len(frames) / SAMPLE_RATE
