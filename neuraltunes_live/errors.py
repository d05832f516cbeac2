"""The package's exceptions: one base class, a few subclasses.

The CLI turns any of them into one line on stderr and a non-zero exit; code
below the CLI raises them with the underlying cause chained (``from err``).
"""


class NeuralTunesError(Exception):
    """Base class of every error this package raises on purpose."""


class ConfigError(NeuralTunesError):
    """A setting has a bad value; the message names the key and what is allowed."""


class ImportFailed(NeuralTunesError):
    """A music file could not be turned into notes; the message says why."""


class DataError(NeuralTunesError):
    """A prepared data directory is missing, incomplete or of another version."""


class ModelError(NeuralTunesError):
    """A model folder is missing, damaged, or not one this version can run."""


class TrainingError(NeuralTunesError):
    """Training cannot start or go on; the message says what to do."""


class PortError(NeuralTunesError):
    """A MIDI system or port cannot be opened; the message says what to do."""


class OutputError(NeuralTunesError):
    """A file or folder cannot be written where asked; the message names it and why."""


class SynthError(NeuralTunesError):
    """The built-in synth cannot play: no SoundFont, no FluidSynth, or no audio output; says what to do."""
