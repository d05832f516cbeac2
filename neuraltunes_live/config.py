"""Settings: every one defined once here, read from ``config.toml``, checked once at start.

Each setting is a dataclass field with its default, its help and its ``Rule``
(the values it takes); the environment variables and the command line's
options and their help (``cli``) are derived from the same definition.

Precedence, highest first: a command-line flag, an environment variable
``NEURALTUNES_<SECTION>_<KEY>`` (e.g. ``NEURALTUNES_PREPARE_RANDOM_SEED=7``), the
config file, the default here. The file is ``--config FILE``, else
``$NEURALTUNES_CONFIG``, else ``config.toml`` in the current folder if there is
one. A bad value is a ConfigError naming where it came from, the key, and what
is allowed.
"""

from __future__ import annotations

import dataclasses
import math
import os
import tomllib
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping

from neuraltunes_live.core.tempo import MAX_BPM, MIN_BPM
from neuraltunes_live.errors import ConfigError

if TYPE_CHECKING:  # the command line reads this module for its options: NumPy stays unloaded
    from neuraltunes_live.core.sampling import SamplingSettings

ENV_PREFIX = "NEURALTUNES_"

STYLES = ("balanced", "creative", "structured")
BACKENDS = ("auto", "alsa", "jack", "coremidi", "winmm")
CLOCKS = ("internal", "external")
MODES = ("call", "continuous", "accompany")
#: How the accompaniment is played (``core.accompany.TEXTURES``).
TEXTURES = ("block", "broken", "bass", "counter")
LENGTHS = ("follow", "fixed")
TAKE_EFFECT = ("bar", "now")
STARTS = ("beat", "bar", "immediate")
ON_PLAY = ("interrupt", "overlap")
SYNTH_DRIVERS = ("auto", "jack", "pipewire", "pulseaudio", "alsa", "coreaudio")
#: The training presets, as ``train --preset`` names them; ``training.model.PRESETS`` defines each.
PRESETS = ("default", "interval", "one-hot-lstm", "tiny")
#: The accompaniment model's presets (``training.accompany``): for a pairs folder (``prepare --player``).
ACCOMPANY_PRESETS = ("accompany", "accompany-ahead")


@dataclass(frozen=True)
class Rule:
    """The values a setting takes: a range (either end may be open) or a list of choices."""

    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False
    choices: tuple[str, ...] = ()
    words: str = ""  # how the allowed values are said, where the range alone says it badly

    def allows(self, value: Any) -> bool:
        if value is None:  # an optional setting left unset
            return True
        if self.choices:
            return value in self.choices
        if isinstance(value, float) and not math.isfinite(value):  # TOML reads nan and inf as floats
            return False
        if self.low is not None and (value <= self.low if self.low_open else value < self.low):
            return False
        return self.high is None or (value < self.high if self.high_open else value <= self.high)

    def describe(self) -> str:
        if self.words or self.choices:
            return self.words or "one of " + ", ".join(self.choices)
        low, high = f"{self.low:g}", f"{self.high:g}"
        if self.low_open:
            return f"above {low}, up to {high}"
        if self.high_open:
            return f"from {low} up to (not including) {high}"
        return f"from {low} to {high}"


#: Every tempo the program plays or reads, in BPM (``tempo.clamped_tempo`` keeps a file's inside it).
TEMPO = Rule(MIN_BPM, MAX_BPM, words=f"from {MIN_BPM:g} to {MAX_BPM:g} BPM")
TEMPERATURE = Rule(0.05, 5)
SEED = Rule(-1, None, words="-1 (new each run) or 0 and up")
CHANNEL = Rule(0, 16, words="0 (any) or 1 to 16")
CONTROLLER = Rule(-1, 127, words="-1 (off) or a controller number 0 to 127")


@dataclass(frozen=True)
class Setting:
    """One setting as the file, the environment and the command line know it."""

    section: str
    key: str
    kind: Any  # bool, int, float or str; ``T | None`` for one that may be left unset
    default: Any
    rule: Rule | None
    help: str
    flag: str  # its command-line option, e.g. ``--random-seed`` or ``--synth/--no-synth``
    about: str  # its comment in the config file (the help where that says enough)

    @property
    def env(self) -> str:
        return f"{ENV_PREFIX}{self.section}_{self.key}".upper()

    @property
    def dotted(self) -> str:
        return f"{self.section}.{self.key}"

    @property
    def base_kind(self) -> type:
        """The kind of value it takes when set: ``float`` for ``float | None``."""
        return _base_kind(self.kind)

    @property
    def optional(self) -> bool:
        """Whether it may be left unset (None), as no TOML value can say."""
        return type(None) in typing.get_args(self.kind)


def _base_kind(kind: Any) -> type:
    args = [a for a in typing.get_args(kind) if a is not type(None)]
    return args[0] if args else kind


def _setting(
    default: Any,
    help: str,
    rule: Rule | None = None,
    *,
    flag: str = "",
    about: str = "",
    **range_or_choices: Any,
) -> Any:
    """A setting: its default, what it does, the values it takes (``rule``, or a ``Rule``'s fields).

    ``flag`` names its command-line option where ``--key-with-dashes`` would
    say it badly; ``about`` is a longer comment for the config file.
    """
    if range_or_choices:
        rule = Rule(**range_or_choices)
    return field(default=default, metadata={"rule": rule, "help": help, "flag": flag, "about": about})


@dataclass(frozen=True)
class PrepareSettings:
    """Importing music into a data folder (neuraltunes-live prepare)."""

    random_seed: int = _setting(
        1234,
        "Random seed of the train/validation/test split.",
        low=0,
        high=None,
        words="0 and up",
        about="Random seed of the shuffle that splits tunes into train / validation / test. "
        "The same pieces and the same seed always give the same split.",
    )
    validation_fraction: float = _setting(
        0.1,
        "Share of pieces held out for validation.",
        low=0,
        high=1,
        high_open=True,
        about="Share of pieces held out for validation (early stopping). Whole tunes are held out; "
        "with test_fraction it must stay below 1.",
    )
    test_fraction: float = _setting(
        0.1,
        "Share of pieces held out for the test set.",
        low=0,
        high=1,
        high_open=True,
        about="Share of pieces held out for the test set (evaluate).",
    )
    include_drums: bool = _setting(
        False,
        "Keep channel 10 (drums).",
        flag="--include-drums/--no-drums",
        about="Keep notes on MIDI channel 10 (General MIDI drums). Drum notes name instruments, "
        "not pitches, so they are left out by default.",
    )
    player: str = _setting(
        "",
        "Prepare melody and accompaniment pairs: part:N or channel:N is the player.",
        about="Prepare melody and accompaniment pairs for the accompaniment model instead of event sequences: "
        "part:N names the player's part of a score (part:1, the soprano of a chorale) or track of a MIDI file, "
        "channel:N its MIDI channel; everything else is the accompaniment. Empty: event sequences.",
    )
    workers: int = _setting(0, "Import processes.", low=0, high=256, words="0 (one per core) to 256")
    cache_dir: str = _setting(
        "",
        "Where imported notes are cached (empty: the user's cache folder).",
        about="Where imported notes are cached between runs, keyed by file path, size and modification time. "
        "Empty: $XDG_CACHE_HOME/neuraltunes-live/import, or ~/.cache/neuraltunes-live/import.",
    )


@dataclass(frozen=True)
class TrainSettings:
    """Training a model on a data folder (neuraltunes-live train)."""

    preset: str = _setting(
        "default",
        "The network and how it is trained.",
        choices=PRESETS + ACCOMPANY_PRESETS,
        about="The network and how it is trained: default (the shipped model's), interval (default without "
        "the key context), one-hot-lstm (the earlier note-string projects' layers: one-hot, LSTM 256, "
        "LSTM 256, Dense 128) or tiny (trains in seconds, for trying the pipeline); for melody and "
        "accompaniment pairs, accompany (the live accompanist) or accompany-ahead (it also hears the next "
        "beat: a benchmark's yardstick, not for playing).",
    )
    epochs: int = _setting(30, "Most epochs; early stopping may end sooner.", low=1, high=10_000)
    random_seed: int = _setting(
        1234, "Random seed of the initial weights and the training windows.", low=0, high=None, words="0 and up"
    )
    decay_epochs: int | None = _setting(
        None,
        "Epochs the learning rate's decay spans (unset: epochs).",
        low=1,
        high=10_000,
        about="Presets with a final learning rate lower it along a cosine over this many epochs (unset: "
        "over epochs). Above epochs, the run stops part-way down the curve, at the model a longer run "
        "has after that many epochs.",
    )
    batch_size: int = _setting(16, "Windows per update.", low=1, high=4096)
    seq_len: int = _setting(128, "Events per training window.", low=2, high=4096)
    patience: int = _setting(4, "Epochs without improvement before stopping.", low=1, high=10_000)
    replicas: int = _setting(
        1,
        "Mirror training over this many logical CPU devices (on a machine without a GPU).",
        low=1,
        high=64,
    )
    source_balance: float = _setting(
        1.0,
        "How training windows are shared among sources (corpora, folders): by their events to this power.",
        low=0,
        high=1,
        about="How training windows are shared among the data's sources (a corpus, or a folder): each "
        "source's share is its events to this power, so 1 draws every event alike (a big corpus gets most "
        "windows), 0.5 by the square root (a corpus 100 times bigger gets 10 times the windows), 0 gives "
        "every source the same share.",
    )


@dataclass(frozen=True)
class EvaluateSettings:
    """Scoring models on a data folder's test pieces (neuraltunes-live evaluate)."""

    style: str = _setting("balanced", "Style the continuations are sampled in.", choices=STYLES)
    random_seed: int = _setting(1234, "Random seed of the sampled continuations.", low=0, high=None, words="0 and up")


@dataclass(frozen=True)
class StyleSettings:
    """How adventurous sampling is: one of the named styles."""

    temperature: float = _setting(1.0, "Below 1 plays safe, above 1 takes chances.", TEMPERATURE)
    top_k: int = _setting(
        0, "Sample among the k likeliest events only.", low=0, high=None, words="0 (no limit) or more"
    )
    top_p: float = _setting(
        1.0,
        "Sample among the likeliest events making up this share.",
        low=0,
        high=1,
        low_open=True,
        about="Sample only among the likeliest events making up this share of the probability (1: all).",
    )
    key_mask: bool = _setting(False, "Keep pitches in the key of the played phrase.")
    max_repeats: int = _setting(
        4,
        "How often a note or figure may repeat in a row.",
        low=0,
        high=16,
        words="0 (off) to 16",
        about="The loop guard: a note, or a figure of up to 48 notes (two bars of 16ths and more), may repeat "
        "this many times in a row, not more (0: no guard).",
    )
    keep_grid: bool = _setting(
        True,
        "Keep the played phrase's rhythmic grid.",
        about="Keep the played phrase's rhythmic grid: notes start only where the phrase's feel puts them "
        "(straight or swung eighths, triplets, 16ths, ...), so a swung riff is answered swung and a jig in "
        "triplets.",
    )

    def sampling(self, temperature: float | None = None) -> SamplingSettings:
        """The sampling settings of this style, at another temperature if given."""
        from neuraltunes_live.core.sampling import SamplingSettings

        return SamplingSettings(
            temperature=self.temperature if temperature is None else temperature,
            top_k=self.top_k,
            top_p=self.top_p,
            max_repeats=self.max_repeats,
            keep_grid=self.keep_grid,
        )


_MODEL_HELP = "Model folder (default: the shipped one)."


@dataclass(frozen=True)
class GenerateSettings:
    """Continuing a MIDI file (neuraltunes-live generate)."""

    model: str = _setting(
        "",
        _MODEL_HELP,
        about="Model folder to continue with. Empty: the shipped models/default.",
    )
    style: str = _setting("balanced", "Style of sampling.", choices=STYLES)
    temperature: float | None = _setting(None, "A temperature instead of the style's.", TEMPERATURE)
    bars: int = _setting(8, "Bars to add.", low=1, high=256)
    beats_per_bar: int = _setting(4, "Beats (quarter notes) in a bar.", low=1, high=16)
    tempo: float | None = _setting(None, "Tempo of the output (unset: the phrase file's).", TEMPO)
    key: str = _setting(
        "",
        "Keep to a key: 'auto' (the phrase's), 'none', or a name like 'D minor'.",
        about='Keep pitches in a key: "" follows the style (structured keeps to the key of the phrase), '
        '"auto" always keeps to the phrase\'s key, "none" never masks, or name one: "D minor", "F# major", "Bb".',
    )
    variations: int = _setting(1, "Write this many alternative files.", low=1, high=100)
    random_seed: int = _setting(
        -1,
        "Repeat a take exactly.",
        SEED,
        about="Random seed of the choices: -1 draws a new one each run (and prints it, so a run you liked can "
        "be repeated), 0 and up repeat exactly.",
    )


@dataclass(frozen=True)
class LiveSettings:
    """The live daemon (neuraltunes-live serve): ports, tempo, how it listens and answers."""

    model: str = _setting(
        "",
        _MODEL_HELP,
        about="Model folder to play with. Empty: the shipped models/default. On SIGHUP the daemon loads it "
        "again (and keeps the old one if that fails).",
    )
    backend: str = _setting(
        "auto",
        "MIDI system.",
        choices=BACKENDS,
        about="MIDI system: auto (ALSA on Linux, falling back to JACK when ALSA has no sequencer and a JACK "
        "server runs; CoreMIDI on macOS), alsa, jack, coremidi, or winmm (Windows: no virtual ports, so name "
        "a loopMIDI port as input and output). ports, play and record use it too.",
    )
    jack_timing: str = _setting(
        "frames",
        "On JACK: frames writes each event at its own frame and times each input event by its frame "
        "(sample-accurate); send passes them through RtMidi when due, which JACK plays at its next period.",
        choices=("frames", "send"),
        about="On JACK: frames (JACK-Client) writes each answer's event at its own frame and times what you "
        "play by the frame it came in at, so the DAW records the exact grid; send hands events to RtMidi when "
        "due, and JACK plays them at the start of its next period (up to one period late). ALSA, CoreMIDI "
        "and Windows always send when due.",
    )
    input: str = _setting(
        "",
        "Listen to this port (name or part of it) instead of a virtual one.",
        about='Empty opens the virtual port "NeuralTunes In" for the DAW to pick; a name (or a unique part '
        "of one) connects to a port that exists. `neuraltunes-live ports` lists them.",
    )
    output: str = _setting(
        "",
        "Play to this port instead of a virtual one.",
        about='Empty opens the virtual port "NeuralTunes Out"; a name (or a unique part of one) connects to '
        "a port that exists.",
    )
    clock: str = _setting(
        "internal",
        "external: follow the DAW's MIDI clock.",
        choices=CLOCKS,
        about="internal: play at `tempo`. external: follow the DAW's MIDI clock (24 pulses a beat, Start / "
        "Stop / Continue, Song Position Pointer) sent to the input.",
    )
    tempo: float = _setting(120.0, "Tempo of the internal clock.", TEMPO)
    beats_per_bar: int = _setting(4, "Beats (quarter notes) in a bar.", low=1, high=16)
    mode: str = _setting(
        "call",
        "Call and response, or keep playing.",
        choices=MODES,
        about="call: answer each phrase you play. continuous: keep playing until a new phrase or a stop. "
        "accompany: play along while you play, following your harmony ([accompany]).",
    )
    start: str = _setting(
        "beat",
        "Where an answer starts.",
        choices=STARTS,
        about="Where an answer starts: on the next beat, the next bar line (counted from your phrase's first "
        "note, or from the DAW's bar 1 with an external clock), or immediately.",
    )
    on_play: str = _setting(
        "interrupt",
        "Playing while it answers stops the answer, or not.",
        choices=ON_PLAY,
        about="Playing while it answers: interrupt (it stops, note-offs sent, and listens) or overlap (it "
        "finishes while it listens).",
    )
    silence_beats: float = _setting(
        1.0,
        "Beats of silence that end a phrase.",
        low=0.125,
        high=16,
        about="A phrase ends when all keys are up and this many beats have passed, or when it has lasted "
        "max_phrase_beats. Notes outside the piano's range (MIDI 21..108) are moved by octaves into it; only "
        "the last 256 notes of a phrase are heard.",
    )
    phrase_end: str = _setting(
        "adaptive",
        "adaptive: a phrase that lands (its tonic on a beat, held like its typical note) ends after half the "
        "silence, a breath (a last note under 3/4 of the typical one) may last half again as long; "
        "fixed: always silence_beats.",
        choices=("adaptive", "fixed"),
    )
    max_phrase_beats: float = _setting(32.0, "The longest phrase, in beats.", low=1, high=256)
    min_notes: int = _setting(2, "Fewer notes than this are not answered.", low=1, high=64)
    length: str = _setting(
        "follow",
        "follow: an answer as many whole bars long as the call (1 to [controls] max_bars); fixed: `bars` bars.",
        choices=LENGTHS,
    )
    bars: int = _setting(
        4,
        "Answer length in bars; given on the command line, it implies --length fixed.",
        low=1,
        high=64,
        about="Answer length in bars with length = fixed (the bars knob, or `serve --bars N`, switches to fixed).",
    )
    style: str = _setting("balanced", "Style of sampling.", choices=STYLES)
    temperature: float = _setting(1.0, "A factor on the style's temperature.", TEMPERATURE)
    lookahead_beats: float = _setting(4.0, "How far ahead notes are sampled, in beats.", low=0.5, high=16)
    output_offset_ms: float = _setting(
        0.0,
        "Send answers this much later (or, negative, earlier) than their beat: the DAW's latency.",
        low=-500,
        high=500,
        words="from -500 to 500 ms",
        about="Send every answer note this many milliseconds after (or, negative, before) its beat: the DAW's "
        "monitoring latency, so answers land on its grid. It applies with the internal tempo and with an "
        "external MIDI clock. To measure it: record the DAW's metronome and the answer to a phrase played on "
        "its grid together, and read how far the answer's notes sit from the clicks.",
    )
    input_channel: int = _setting(0, "The channel listened to.", CHANNEL)
    output_channel: int = _setting(1, "The channel answers are sent on.", low=1, high=16)
    passthrough: bool = _setting(False, "Also send the player's notes to the output.")
    synth: bool = _setting(
        False,
        "Also play the answers through the built-in SoundFont synth.",
        flag="--synth/--no-synth",
        about="Sound without a DAW: play the answers through the built-in SoundFont synth (section [synth]) "
        "as well as sending them to the output port.",
    )
    synth_input: bool = _setting(
        False,
        "Play the player's own notes through the synth too (implies --synth).",
        flag="--synth-input/--no-synth-input",
    )
    random_seed: int = _setting(
        -1,
        "Repeat a session's choices exactly.",
        SEED,
        about="Random seed of the choices: -1 draws a new one each run (and logs it), 0 and up repeat a "
        "session's choices exactly.",
    )
    record_dir: str = _setting(
        "",
        "Record every exchange and the whole session as MIDI files in this folder.",
        about="Record the session in this folder (empty: off): every exchange (your phrase and its answer, "
        "with every take) as a two-track .mid named by its time, and session-<time>.mid with everything heard "
        "and played. Each file is written whole; a file that cannot be written is one warning and playing "
        "goes on.",
    )
    log_notes: bool = _setting(
        False, "Log each note-on heard with its time on the daemon's clock (on JACK: its frame over the rate)."
    )

    def channel(self) -> int | None:
        """The input channel as MIDI's 0..15; None listens to all."""
        return None if self.input_channel == 0 else self.input_channel - 1

    @property
    def grid(self) -> str:
        """Where bars count from: the phrase's first note, or the DAW's bar 1 (external clock)."""
        return "clock" if self.clock == "external" else "phrase"


@dataclass(frozen=True)
class AccompanySettings:
    """Playing along (serve --mode accompany, generate --accompany): the accompaniment model and its knobs."""

    model: str = _setting(
        "",
        "Accompaniment model folder (default: the shipped one).",
        flag="--accompaniment-model",
        about="Accompaniment model folder (trained on `prepare --player` pairs). Empty: the shipped models/accompany.",
    )
    channel: int = _setting(
        2, "The channel the accompaniment is sent on.", low=1, high=16, flag="--accompaniment-channel"
    )
    texture: str = _setting(
        "block",
        "How the chords are played.",
        choices=TEXTURES,
        about="How the accompaniment plays its chords: block (bass and close chords, struck together), "
        "broken (the bass, then the chord's notes one an eighth), bass (a bass line alone) or counter "
        "(one voice under the melody, moving to the nearest note of each chord).",
    )
    register: int = _setting(
        55,
        "Lowest pitch of the chords (the bass goes an octave and a half below).",
        low=24,
        high=96,
        words="a MIDI note from 24 to 96",
    )
    activity: float = _setting(
        1.0,
        "How often a new chord is struck: the model's odds times this.",
        low=0.05,
        high=20,
        about="How often the accompaniment strikes: on every eighth-note step the model's odds of striking "
        "are multiplied by this (below 1 it holds longer, above 1 it moves more).",
    )
    temperature: float = _setting(0.8, "Below 1 plays safe, above 1 takes chances.", TEMPERATURE)
    listen_ms: float = _setting(
        20.0,
        "How long into each step it listens for a note played on it before playing.",
        low=0,
        high=200,
        about="How long into each eighth-note step it listens for a note you play on the step before it "
        "chooses and plays the step's chord: its notes start this long after the step, plus the output's "
        "own lead (on JACK a period and 20 ms). Notes played later count from the next step.",
    )
    count_in_beats: int = _setting(
        0,
        "Beats counted in before it plays (0: it starts with your first note).",
        low=0,
        high=64,
        about="0: the accompaniment starts on the step after your first note. N: it starts N beats after "
        "the mode begins (or the DAW starts), whether you play or not.",
    )
    stop_beats: float = _setting(
        4.0,
        "Beats of silence from you after which it stops.",
        low=0.5,
        high=64,
        about="When you have played nothing for this many beats, the accompaniment ends its notes and "
        "waits for you again.",
    )


@dataclass(frozen=True)
class SynthSettings:
    """The built-in SoundFont synth (FluidSynth): serve --synth, generate --wav, play --synth."""

    soundfont: str = _setting(
        "",
        "General MIDI SoundFont (.sf2) to play with (default: the system's).",
        about="A General MIDI SoundFont. Empty: the system's (Debian/Ubuntu: timgm6mb-soundfont or "
        "fluid-soundfont-gm in /usr/share/sounds/sf2).",
    )
    driver: str = _setting(
        "auto",
        "Audio output of the synth (auto: JACK with JACK MIDI, else the system's).",
        choices=SYNTH_DRIVERS,
        flag="--synth-driver",
        about="Audio output: auto (JACK when the MIDI runs over JACK, else PipeWire, PulseAudio or ALSA on "
        "Linux, CoreAudio on macOS), jack, pipewire, pulseaudio, alsa or coreaudio.",
    )
    gain: float = _setting(0.4, "Loudness of the synth.", low=0.01, high=2)


@dataclass(frozen=True)
class PlaySettings:
    """Playing a MIDI file into a port (neuraltunes-live play)."""

    tempo: float | None = _setting(None, "Play at this tempo (unset: the file's).", TEMPO)


@dataclass(frozen=True)
class RecordSettings:
    """Recording a port into a MIDI file (neuraltunes-live record)."""

    seconds: float | None = _setting(
        None,
        "Stop after this long (unset: at Ctrl-C).",
        low=0,
        high=86_400,
        low_open=True,
        words="above 0, up to 86400 s (a day)",
    )


@dataclass(frozen=True)
class ControlSettings:
    """Knobs: the MIDI control change (CC) number of each, -1 to turn one off, and their ranges."""

    temperature: int = _setting(
        21,
        "Knob for the temperature.",
        CONTROLLER,
        about="Knob for the temperature: 0..127 onto temperature_low .. temperature_high, evenly in ratio "
        "(0.5 .. 1.0 at 64 .. 2.0 by default).",
    )
    bars: int = _setting(
        22,
        "Knob for the answer's length.",
        CONTROLLER,
        about="Knob for the answer's length: 1 + value * (max_bars - 1) / 127 bars.",
    )
    style: int = _setting(
        23,
        "Knob for the style.",
        CONTROLLER,
        about="Knob for the style: thirds of the range are balanced, creative, structured.",
    )
    mode: int = _setting(
        24,
        "Knob for the mode: call and response, continuous or accompany.",
        CONTROLLER,
        about="Knob for the mode: thirds of the range are call and response (0-42), continuous (43-85) "
        "and accompany (86-127).",
    )
    panic: int = _setting(
        25,
        "Button that silences everything.",
        CONTROLLER,
        about="Button that silences everything (a press: a value of 64 or more).",
    )
    keep: int = _setting(
        26,
        "Button held to loop the last answer.",
        CONTROLLER,
        about="Button held (64 and up) to loop the last answer, bar by bar, until it is let go; the loop then "
        "stops at takes_effect.",
    )
    again: int = _setting(27, "Button for another take of the answer to the last phrase.", CONTROLLER)
    undo: int = _setting(
        28,
        "Button that goes back to the take before.",
        CONTROLLER,
        about="Button that goes back to the take before (played again as it was).",
    )
    activity: int = _setting(
        29,
        "Knob for how often the accompaniment strikes.",
        CONTROLLER,
        about="Knob for the accompaniment's activity: 0..127 onto 0.25 .. 4 times the model's odds of "
        "striking, evenly in ratio (1 at 64).",
    )
    register: int = _setting(
        30,
        "Knob for the accompaniment's register.",
        CONTROLLER,
        about="Knob for the accompaniment's register: 0..127 onto its lowest chord note, MIDI 36 .. 72.",
    )
    texture: int = _setting(
        31,
        "Knob for the accompaniment's texture.",
        CONTROLLER,
        about="Knob for the accompaniment's texture: quarters of the range are block, broken, bass, counter.",
    )
    takes_effect: str = _setting(
        "bar", "When keep, again and undo act: at the next bar line, or now.", choices=TAKE_EFFECT
    )
    channel: int = _setting(0, "The channel knobs are read on.", CHANNEL)
    temperature_low: float = _setting(0.5, "The temperature factor at 0.", TEMPERATURE)
    temperature_high: float = _setting(2.0, "The temperature factor at 127.", TEMPERATURE)
    max_bars: int = _setting(16, "The answer's length at 127.", low=1, high=64)

    def knob_channel(self) -> int | None:
        """The knobs' channel as MIDI's 0..15; None reads all."""
        return None if self.channel == 0 else self.channel - 1


@dataclass(frozen=True)
class Config:
    prepare: PrepareSettings = field(default_factory=PrepareSettings)
    train: TrainSettings = field(default_factory=TrainSettings)
    evaluate: EvaluateSettings = field(default_factory=EvaluateSettings)
    generate: GenerateSettings = field(default_factory=GenerateSettings)
    style_balanced: StyleSettings = field(
        default_factory=lambda: StyleSettings(temperature=0.8, top_p=0.9, max_repeats=4)
    )
    style_creative: StyleSettings = field(
        default_factory=lambda: StyleSettings(temperature=1.25, top_p=1.0, max_repeats=3)
    )
    style_structured: StyleSettings = field(
        default_factory=lambda: StyleSettings(temperature=0.8, top_k=20, top_p=0.9, key_mask=True, max_repeats=4)
    )
    live: LiveSettings = field(default_factory=LiveSettings)
    accompany: AccompanySettings = field(default_factory=AccompanySettings)
    controls: ControlSettings = field(default_factory=ControlSettings)
    synth: SynthSettings = field(default_factory=SynthSettings)
    play: PlaySettings = field(default_factory=PlaySettings)
    record: RecordSettings = field(default_factory=RecordSettings)

    def style(self, name: str) -> StyleSettings:
        if name not in STYLES:
            raise ConfigError(f"unknown style {name!r}; styles: {', '.join(STYLES)}")
        return getattr(self, f"style_{name}")


def settings() -> list[Setting]:
    """Every setting, section by section, in the order the file lists them."""
    found = []
    for section, cls in typing.get_type_hints(Config).items():
        kinds = typing.get_type_hints(cls)
        defaults = getattr(Config(), section)
        for f in dataclasses.fields(cls):
            found.append(
                Setting(
                    section,
                    f.name,
                    kinds[f.name],
                    getattr(defaults, f.name),
                    f.metadata["rule"],
                    f.metadata["help"],
                    f.metadata["flag"] or "--" + f.name.replace("_", "-"),
                    f.metadata["about"] or f.metadata["help"],
                )
            )
    return found


def config_text() -> str:
    """The config file that lists every setting at its default, each with its comment.

    ``config.toml`` in the project is this text (a test holds them equal);
    change a setting's definition here, then write it with ``python -m
    neuraltunes_live.config > config.toml``.
    """
    import textwrap

    lines = [
        "# neuraltunes-live settings, each at its default (written from neuraltunes_live/config.py).",
        "#",
        "# Precedence, highest first: a command-line flag, an environment variable",
        "# NEURALTUNES_<SECTION>_<KEY> (e.g. NEURALTUNES_LIVE_TEMPO=96), this file, the",
        "# built-in default. The file read is --config FILE, else $NEURALTUNES_CONFIG,",
        "# else ./config.toml.",
    ]
    described: set[type] = set()

    def comment(text: str) -> list[str]:
        return textwrap.wrap(text, 78, initial_indent="# ", subsequent_indent="# ")

    section_types = typing.get_type_hints(Config)
    by_section: dict[str, list[Setting]] = {}
    for each in settings():
        by_section.setdefault(each.section, []).append(each)
    for section, found in by_section.items():
        cls = section_types[section]
        lines.append("")
        first = cls not in described
        if first and cls.__doc__:
            lines += comment(cls.__doc__)
        lines.append(f"[{section}]")
        for each in found:
            if first:
                lines.append("")
                text = each.about
                if each.rule is not None and (not each.rule.choices or each.about == each.help):
                    text += f" Values: {each.rule.describe()}."
                lines += comment(text)
            value = f"{each.key} = {_toml_value(each.default)}" if each.default is not None else f"# {each.key} ="
            lines.append(value)
        described.add(cls)
    return "\n".join(lines) + "\n"


def setting(dotted: str) -> Setting:
    """One setting by its ``section.key`` name."""
    for each in settings():
        if f"{each.section}.{each.key}" == dotted:
            return each
    raise KeyError(dotted)


def write_controls(path: str | os.PathLike, controls: Mapping[str, int]) -> None:
    """Put ``controls`` (names to CC numbers) into the ``[controls]`` section of the config file ``path``.

    The file's other settings are kept (its comments are not: it is written
    again from its values); a new file holds the ``[controls]`` section alone.
    """
    from neuraltunes_live.files import replace_file

    path = Path(path)
    data = _read_file(path) if path.exists() else {}
    data.setdefault("controls", {}).update(controls)
    lines = ["# neuraltunes-live settings; [controls] written by serve --learn", ""]
    for section, values in data.items():
        lines.append(f"[{section}]")
        lines += [f"{key} = {_toml_value(value)}" for key, value in values.items()]
        lines.append("")
    text = "\n".join(lines).encode("utf-8")
    replace_file(path, lambda out: out.write(text))


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return repr(value)


def default_config_path(env: Mapping[str, str]) -> Path | None:
    if env.get(ENV_PREFIX + "CONFIG"):
        return Path(env[ENV_PREFIX + "CONFIG"])
    local = Path("config.toml")
    return local if local.is_file() else None


@dataclass(frozen=True)
class Recipe:
    """A training recipe's ``[recipe]``: what to prepare, where, and where the model goes.

    The recipe file's other sections (``[prepare]``, ``[train]``) are
    settings like a config file's, read under the same rules.
    """

    path: str
    text: str  # the file as written, recorded in the model it makes
    sources: tuple[str, ...]  # what ``prepare`` reads: files, folders, music21 corpora
    data: str  # where the prepared data goes
    out: str  # the model folder to write
    held_out_sources: tuple[str, ...] = ()  # a test set never trained on (whole composers, say)
    held_out: str = ""  # where that set is prepared
    init: str = ""  # a model folder to start from


def read_recipe(path: str | os.PathLike) -> Recipe:
    """The ``[recipe]`` of a recipe file; ConfigError names what is missing or wrong."""
    path = Path(path)
    data = _read_file(path)
    table = data.get("recipe")
    if not isinstance(table, dict):
        raise ConfigError(f"{path}: a recipe needs a [recipe] section (sources, data, out)")
    known = {f.name for f in dataclasses.fields(Recipe)} - {"path", "text"}
    unknown = sorted(set(table) - known)
    if unknown:
        raise ConfigError(f"{path}: unknown key recipe.{unknown[0]}; known: {', '.join(sorted(known))}")
    values: dict[str, Any] = {}
    for key in known:
        if key not in table:
            continue
        value = table[key]
        if key in ("sources", "held_out_sources"):
            if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
                raise ConfigError(f"{path}: recipe.{key} must be a list of sources (text), got {value!r}")
            value = tuple(value)
        elif not isinstance(value, str):
            raise ConfigError(f"{path}: recipe.{key} must be text, got {value!r}")
        values[key] = value
    for key in ("sources", "data", "out"):
        if not values.get(key):
            raise ConfigError(f"{path}: recipe.{key} is missing")
    if values.get("held_out_sources") and not values.get("held_out"):
        raise ConfigError(f"{path}: recipe.held_out_sources needs recipe.held_out, the folder to prepare them in")
    return Recipe(path=str(path), text=path.read_text(encoding="utf-8"), **values)


def load_config(
    path: str | os.PathLike | None = None,
    env: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
    recipe: str | os.PathLike | None = None,
) -> Config:
    """Build the Config; ``overrides`` maps ``"section.key"`` to flag values (None: not given).

    A ``recipe`` file's settings sit between the config file and the
    environment: what the recipe says is what the model is made with, but a
    flag still wins.
    """
    env = os.environ if env is None else env
    path = Path(path) if path is not None else default_config_path(env)
    layers: list[tuple[str, dict[str, dict[str, Any]]]] = []
    if path is not None:
        layers.append((str(path), _read_file(path)))
    if recipe is not None:
        layers.append((str(recipe), {k: v for k, v in _read_file(Path(recipe)).items() if k != "recipe"}))
    layers.append(("environment", _from_env(env)))
    flags: dict[str, dict[str, Any]] = {}
    for dotted, value in (overrides or {}).items():
        if value is not None:
            section, key = dotted.split(".", 1)
            flags.setdefault(section, {})[key] = value
    layers.append(("command line", flags))

    section_types = typing.get_type_hints(Config)
    for origin, layer in layers:
        unknown = sorted(set(layer) - set(section_types))
        if unknown:
            raise ConfigError(f"{origin}: unknown section [{unknown[0]}]; known: {', '.join(section_types)}")
    defaults = Config()
    sections = {}
    for section in section_types:
        values = {}
        for origin, layer in layers:
            values.update({k: (origin, v) for k, v in layer.get(section, {}).items()})
        sections[section] = _build(getattr(defaults, section), section, values)
    config = Config(**sections)
    _check_together(config)
    return config


def _read_file(path: Path) -> dict[str, dict[str, Any]]:
    try:
        with open(path, "rb") as handle:
            data = tomllib.load(handle)
    except FileNotFoundError as err:
        raise ConfigError(f"config file {path} does not exist") from err
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"{path}: not valid TOML ({err})") from err
    except UnicodeDecodeError as err:  # tomllib reads the bytes as UTF-8 and lets this through
        raise ConfigError(f"{path}: not valid TOML (not UTF-8 text: byte {err.start})") from err
    except OSError as err:
        raise ConfigError(f"{path}: cannot read ({err.strerror or err})") from err
    for name, value in data.items():
        if not isinstance(value, dict):
            raise ConfigError(f"{path}: {name} must be a [section], not a value")
    return data


def _from_env(env: Mapping[str, str]) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for each in settings():
        if each.env in env:
            found.setdefault(each.section, {})[each.key] = _EnvText(each.env, env[each.env])
    return found


@dataclass(frozen=True)
class _EnvText:
    variable: str
    text: str


def _build(default: Any, section: str, values: dict[str, tuple[str, Any]]) -> Any:
    """The section's defaults with the given values put in, each checked."""
    cls = type(default)
    settings = {f.name: f for f in dataclasses.fields(cls)}
    kinds = typing.get_type_hints(cls)
    kwargs = {}
    for key, (origin, value) in values.items():
        if key not in settings:
            raise ConfigError(f"{origin}: unknown key {section}.{key}; known: {', '.join(sorted(settings))}")
        definition = settings[key]
        kind = kinds[key]
        if isinstance(value, _EnvText):
            origin = value.variable
        converted = _convert(value, kind)
        where = f"{origin}: {section}.{key}"
        if converted is None:
            raise ConfigError(f"{where} must be {_kind_name(kind)}, got {_shown(value)}")
        rule = definition.metadata["rule"]
        if rule is not None and not rule.allows(converted):
            raise ConfigError(f"{where} must be {rule.describe()}, got {converted!r}")
        kwargs[key] = converted
    return dataclasses.replace(default, **kwargs)


def _convert(value: Any, kind: Any) -> Any:
    kind = _base_kind(kind)
    if isinstance(value, _EnvText):
        text = value.text.strip()
        if kind is bool:
            return {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}.get(text.lower())
        try:
            return kind(text)
        except ValueError:
            return None
    if kind is bool:
        return value if isinstance(value, bool) else None
    if kind is int:
        return value if isinstance(value, int) and not isinstance(value, bool) else None
    if kind is float:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        return float(value) if ok else None
    return value if isinstance(value, kind) else None


def _kind_name(kind: Any) -> str:
    return {bool: "true or false", int: "a whole number", float: "a number", str: "text"}[_base_kind(kind)]


def _shown(value: Any) -> str:
    return repr(value.text) if isinstance(value, _EnvText) else repr(value)


def _check_together(config: Config) -> None:
    held_out = config.prepare.validation_fraction + config.prepare.test_fraction
    if held_out >= 1:
        raise ConfigError(
            "prepare.validation_fraction + prepare.test_fraction must be below 1 "
            f"(training needs pieces), got {held_out:g}"
        )
    controls = config.controls
    if controls.temperature_low >= controls.temperature_high:
        raise ConfigError(
            "controls.temperature_low must be below controls.temperature_high, got "
            f"{controls.temperature_low:g} and {controls.temperature_high:g}"
        )
    knobs = (
        controls.temperature,
        controls.bars,
        controls.style,
        controls.mode,
        controls.panic,
        controls.keep,
        controls.again,
        controls.undo,
    )
    numbers = [n for n in knobs if n >= 0]
    if len(numbers) != len(set(numbers)):
        raise ConfigError(f"[controls] gives one controller number to two knobs: {numbers}")


if __name__ == "__main__":
    print(config_text(), end="")
