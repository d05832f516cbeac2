"""``generate --accompany``: a melody file accompanied by the causal model, as playing it live would be.

The accompaniment is stepped through the melody exactly as ``serve --mode
accompany`` steps it while the player plays (``core.accompany.accompany_notes``:
from the step after the first note, each step hearing only the steps before
it), so the file shows what playing would give. The output has two tracks,
"melody" and "accompaniment"; ``--wav`` renders both with the built-in synth.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from neuraltunes_live.config import AccompanySettings, SynthSettings
from neuraltunes_live.core.accompany import AccompanyKnobs, accompany_notes
from neuraltunes_live.core.model_files import accompaniment_dir_or_default, load_accompany_model
from neuraltunes_live.data.midifile import read_midi, write_midi
from neuraltunes_live.errors import ImportFailed, NeuralTunesError
from neuraltunes_live.files import check_output_file, output_errors
from neuraltunes_live.offline.generate import render_wav


@dataclass(frozen=True)
class Accompanied:
    path: Path
    melody_notes: int
    notes: int
    tempo_bpm: float
    random_seed: int
    wav: Path | None = None
    wav_seconds: float = 0.0


def knobs_of(settings: AccompanySettings) -> AccompanyKnobs:
    return AccompanyKnobs(
        temperature=settings.temperature,
        activity=settings.activity,
        register=settings.register,
        texture=settings.texture,
    )


def accompany_file(
    melody_file: Path,
    out: Path,
    settings: AccompanySettings,
    *,
    beats_per_bar: int,
    tempo_bpm: float | None,
    random_seed: int,
    wav: Path | None = None,
    synth: SynthSettings | None = None,
) -> Accompanied:
    """Write ``melody_file`` and its accompaniment to ``out`` (and ``wav``)."""
    check_output_file(out)
    if wav is not None:
        check_output_file(wav, (".wav",))
    try:
        piece = read_midi(melody_file)
    except ImportFailed as err:
        raise NeuralTunesError(f"{melody_file}: {err}") from err
    if len(piece.notes) == 0:
        raise NeuralTunesError(f"{melody_file}: no notes to accompany")
    model = load_accompany_model(accompaniment_dir_or_default(settings.model))
    if random_seed < 0:
        random_seed = secrets.randbelow(2**31)
    rng = np.random.default_rng(random_seed)
    accompaniment = accompany_notes(model, piece.notes, knobs_of(settings), rng, beats_per_bar)
    tempo = tempo_bpm or piece.tempo_bpm
    with output_errors(out):
        write_midi([("melody", piece.notes), ("accompaniment", accompaniment)], out, tempo_bpm=tempo)
    seconds = render_wav(out, wav, synth or SynthSettings()) if wav is not None else 0.0
    return Accompanied(out, len(piece.notes), len(accompaniment), tempo, random_seed, wav, seconds)
