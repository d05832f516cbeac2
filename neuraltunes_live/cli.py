"""The ``neuraltunes-live`` command line.

Each subcommand imports what it needs when it runs, so ``--help`` is instant
and the daemon never loads the training or score libraries. Errors of ours
become one line on stderr and exit status 1; Ctrl-C exits with 130.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import signal
import sys
import textwrap
import time
from pathlib import Path
from typing import Any, Callable, Iterator

import click

from neuraltunes_live import __version__
from neuraltunes_live.config import BACKENDS, TEMPERATURE, TEMPO, Rule, setting
from neuraltunes_live.errors import NeuralTunesError


class LogLines(logging.Formatter):
    """A log record as the user reads it: "warning: " before warnings, an indented traceback after errors.

    With ``clock`` (the live commands) each line starts with the time of day.
    """

    def __init__(self, clock: bool = False):
        super().__init__()
        self.clock = clock

    def format(self, record: logging.LogRecord) -> str:
        text = record.getMessage()
        if record.levelno == logging.WARNING:
            text = f"warning: {text}"
        if self.clock:
            text = f"{time.strftime('%H:%M:%S', time.localtime(record.created))} {text}"
        if record.exc_info:
            text += "\n" + textwrap.indent(self.formatException(record.exc_info), "  ")
        return text


class _ToStderr(logging.Handler):
    """Log lines to standard error as click writes it (so the test runner catches them too)."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            from neuraltunes_live.live import status

            if status.ACTIVE is not None:  # the status line gives way; it is drawn again after
                status.ACTIVE.clear_for_log()
            click.echo(self.format(record), err=True)
        except Exception:  # a log line must never stop the program
            self.handleError(record)


def _log_to_stderr(clock: bool = False) -> None:
    """The package's log lines (info and up) to standard error, for the command now running."""
    package = logging.getLogger("neuraltunes_live")
    for handler in [h for h in package.handlers if isinstance(h, _ToStderr)]:
        package.removeHandler(handler)
    handler = _ToStderr()
    handler.setFormatter(LogLines(clock))
    package.addHandler(handler)
    package.setLevel(logging.INFO)


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def _user_errors(command: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(command)
    def run(*args: Any, **kwargs: Any) -> Any:
        # SIGTERM (kill, a service manager) cleans up exactly as Ctrl-C does.
        previous = signal.signal(signal.SIGTERM, _interrupt)
        _log_to_stderr()
        try:
            return command(*args, **kwargs)
        except NeuralTunesError as err:
            raise click.ClickException(str(err)) from err
        except KeyboardInterrupt:
            click.echo("\nInterrupted; nothing half-written was left behind.", err=True)
            sys.exit(130)
        finally:
            signal.signal(signal.SIGTERM, previous)

    return run


def _renamed(value: Any, old_value: Any, name: str, old_name: str) -> Any:
    """An option's value given under its name or its old one (with a note to use the new)."""
    if old_value is None:
        return value
    if value is not None:
        raise click.UsageError(f"{old_name} is the old name of {name}: give only {name}")
    click.echo(f"note: {old_name} is now {name}; the old name will go in a later version", err=True)
    return old_value


def _click_type(kind: type, rule: Rule | None) -> Any:
    if rule is not None and rule.choices:
        return click.Choice(rule.choices)
    if rule is not None and kind in (int, float):
        if kind is int:
            low, high = (None if v is None else int(v) for v in (rule.low, rule.high))
            return click.IntRange(low, high, min_open=rule.low_open, max_open=rule.high_open)
        return click.FloatRange(rule.low, rule.high, min_open=rule.low_open, max_open=rule.high_open)
    return kind


def _ranged(*decls: str, kind: type, rule: Rule, help: str, **extra: Any) -> Callable[[Any], Any]:
    """An option taking the values ``rule`` allows; click shows a plain range, the help says what values mean."""
    if rule.words and not rule.choices:
        help = f"{help} {rule.words[0].upper()}{rule.words[1:]}."
    return click.option(*decls, type=_click_type(kind, rule), help=help, **extra)


def _setting_option(dotted: str, *decls: str, help: str | None = None) -> Callable[[Any], Any]:
    """The option that sets ``section.key`` from the command line: type, values and help from its definition.

    Unset, it is None, and the environment, the config file or the default decide.
    """
    defined = setting(dotted)
    section, key = dotted.split(".")
    default = "" if defined.default == "" else f", default {defined.default}"
    text = f"{help or defined.help} Config: [{section}] {key}{default}."
    if defined.kind is bool:
        return click.option(*decls, default=None, help=text)
    if defined.rule is None:
        return click.option(*decls, type=defined.kind, help=text)
    return _ranged(*decls, kind=defined.kind, rule=defined.rule, help=text)


_BACKEND = click.option(
    "--backend", type=click.Choice(BACKENDS), default="auto", show_default=True, help="MIDI system."
)


class _UsageLine(click.ClickException):
    exit_code = 2  # click's status for a command line it cannot use


@contextlib.contextmanager
def _usage_in_one_line() -> Iterator[None]:
    """A usage error as one line naming what was wrong and where help is, not the usage block."""
    try:
        yield
    except click.exceptions.NoArgsIsHelpError:
        raise
    except click.UsageError as err:
        where = f" (see '{err.ctx.command_path} --help')" if err.ctx is not None else ""
        raise _UsageLine(err.format_message().rstrip(".") + where) from err


class _Commands(click.Group):
    def make_context(self, *args: Any, **kwargs: Any) -> click.Context:
        with _usage_in_one_line():
            return super().make_context(*args, **kwargs)

    def invoke(self, ctx: click.Context) -> Any:
        with _usage_in_one_line():
            return super().invoke(ctx)


@click.group(cls=_Commands, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="neuraltunes-live")
def main() -> None:
    """Continue a played phrase with an LSTM, live, over MIDI."""
    # The runtime's matrix products are small (one event at a time); a
    # multi-threaded BLAS spends longer waking threads than multiplying, and
    # far longer when the cores are busy. Set before NumPy loads (subcommands
    # import it lazily); a value the user set is kept.
    for variable in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(variable, "1")


@main.command()
@click.argument("sources", nargs=-1, required=True, metavar="SOURCE...")
@click.option("--out", "out_dir", required=True, type=click.Path(path_type=Path), help="Data folder to write.")
@click.option("--config", "config_path", type=click.Path(path_type=Path), help="Config file.")
@_setting_option("prepare.seed", "--random-seed", "seed")
@click.option("--seed", "old_seed", type=int, hidden=True, help="The old name of --random-seed.")
@_setting_option("prepare.workers", "--workers")
@_setting_option("prepare.include_drums", "--include-drums/--no-drums")
@click.option("--no-cache", is_flag=True, help="Read every file again; leave the cache alone.")
@_user_errors
def prepare(
    sources: tuple[str, ...],
    out_dir: Path,
    config_path: Path | None,
    seed: int | None,
    old_seed: int | None,
    workers: int | None,
    include_drums: bool | None,
    no_cache: bool,
) -> None:
    """Turn music into event sequences split by piece, in OUT.

    SOURCE is a .mid/.midi/.mxl/.xml/.musicxml/.abc/.krn file, a folder of
    them, or a music21 corpus: music21:bach, music21:essenFolksong,
    music21:ryansMammoth/Ac* (a glob narrows it by file name).
    """
    from neuraltunes_live.config import load_config
    from neuraltunes_live.data import cache
    from neuraltunes_live.data import prepare as preparing

    seed = _renamed(seed, old_seed, "--random-seed", "--seed")
    settings = load_config(
        config_path,
        overrides={
            "prepare.seed": seed,
            "prepare.workers": workers,
            "prepare.include_drums": include_drums,
        },
    ).prepare
    cache_dir = None if no_cache else Path(settings.cache_dir or cache.default_cache_dir())
    options = preparing.PrepareOptions(
        seed=settings.seed,
        validation_fraction=settings.validation_fraction,
        test_fraction=settings.test_fraction,
        include_drums=settings.include_drums,
        workers=settings.workers,
        cache_dir=cache_dir,
    )
    with contextlib.ExitStack() as stack:
        bar: list[Any] = []

        def start(total: int) -> None:
            bar.append(stack.enter_context(click.progressbar(length=total, label="Importing", file=sys.stderr)))

        report = preparing.prepare(list(sources), out_dir, options, progress=lambda n: bar[0].update(n), on_jobs=start)
    for line in preparing.iter_summary(report):
        click.echo(line)


def _quiet_tensorflow() -> None:
    # TensorFlow's C++ start-up lines (CPU features; "failed call to cuInit" on
    # every machine without a GPU) alarm more than they tell; real failures
    # still arrive as Python exceptions. TF_CPP_MIN_LOG_LEVEL=0 shows them all.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


@main.command()
@click.argument("data_dir", type=click.Path(path_type=Path))
@click.option("--out", "out_dir", required=True, type=click.Path(path_type=Path), help="Model folder to write.")
@click.option(
    "--preset",
    default="default",
    show_default=True,
    help="default, interval (default without the key context), seed (the seeds' layers) or tiny.",
)
@click.option(
    "--epochs",
    type=click.IntRange(1, 10_000),
    default=30,
    show_default=True,
    help="Most epochs, 1 to 10000; early stopping may end sooner.",
)
@click.option(
    "--random-seed", "seed", type=int, help="Seed of the initial weights and training windows (default 1234)."
)
@click.option("--seed", "old_seed", type=int, hidden=True, help="The old name of --random-seed.")
@click.option(
    "--batch-size", type=click.IntRange(1, 4096), default=16, show_default=True, help="Windows per update, 1 to 4096."
)
@click.option(
    "--seq-len",
    type=click.IntRange(2, 4096),
    default=128,
    show_default=True,
    help="Events per training window, 2 to 4096.",
)
@click.option(
    "--patience",
    type=click.IntRange(1, 10_000),
    default=4,
    show_default=True,
    help="Epochs without improvement before stopping.",
)
@click.option("--resume", is_flag=True, help="Go on with an interrupted run of the same settings.")
@click.option(
    "--init",
    "init_from",
    type=click.Path(path_type=Path),
    default=None,
    help="Start from this model folder's weights (parts the preset adds start at zero).",
)
@click.option(
    "--replicas",
    type=click.IntRange(1, 64),
    default=1,
    show_default=True,
    help="Mirror training over this many logical CPU devices (no GPU present).",
)
@_user_errors
def train(
    data_dir: Path,
    out_dir: Path,
    preset: str,
    epochs: int,
    seed: int | None,
    old_seed: int | None,
    batch_size: int,
    seq_len: int,
    patience: int,
    resume: bool,
    init_from: Path | None,
    replicas: int,
) -> None:
    """Train the LSTM on DATA_DIR (from `prepare`) and write MODEL_DIR.

    Uses a GPU when there is one; several GPUs train mirrored.
    """
    _quiet_tensorflow()
    try:
        from neuraltunes_live.training.train import TrainOptions, work_dir_for
        from neuraltunes_live.training.train import train as run_training
    except ImportError as err:
        raise click.ClickException(
            f"training needs TensorFlow ({err.name} is missing): pip install 'neuraltunes-live[train]'"
        ) from err
    seed = _renamed(seed, old_seed, "--random-seed", "--seed")
    options = TrainOptions(
        preset=preset,
        epochs=epochs,
        seed=1234 if seed is None else seed,
        batch_size=batch_size,
        seq_len=seq_len,
        patience=patience,
        resume=resume,
        replicas=replicas,
        init=str(init_from) if init_from else None,
        verbose="auto" if sys.stdout.isatty() else 2,
    )
    try:
        run_training(data_dir, out_dir, options)
    except KeyboardInterrupt:
        click.echo(
            f"\nInterrupted; the last finished epoch is kept in {work_dir_for(out_dir)}. "
            "Run the same command with --resume to go on.",
            err=True,
        )
        sys.exit(130)


@main.command("fit-memory")
@click.argument("model_dir", type=click.Path(path_type=Path))
@click.argument("data_dir", type=click.Path(path_type=Path))
@_user_errors
def fit_memory(model_dir: Path, data_dir: Path) -> None:
    """Fit MODEL_DIR's piece memory on DATA_DIR's validation pieces.

    `train` does this itself; this is for a model trained before, or on
    other data. It rewrites MODEL_DIR/model.json, leaving the weights alone.
    """
    from neuraltunes_live.core.memory_fit import fit_piece_memory
    from neuraltunes_live.core.model import load_model, write_piece_memory
    from neuraltunes_live.data.dataset import read_split
    from neuraltunes_live.files import check_output_file, output_errors

    model = load_model(model_dir)
    check_output_file(model_dir / "model.json")
    validation = read_split(data_dir, "validation")
    settings, about = fit_piece_memory(model, validation.pieces(), float(validation.notes.sum()))
    with output_errors(model_dir / "model.json"):
        write_piece_memory(model_dir, settings, {**about, "fitted_on": str(data_dir)})
    click.echo(
        f"Wrote the piece memory into {model_dir}: validation bits per note "
        f"{about['validation_bits_per_note_network']:.3f} from the network alone, "
        f"{about['validation_bits_per_note']:.3f} with the memory ({about['validation_pieces']} pieces)."
    )


@main.command()
@click.argument("model_dir", type=click.Path(path_type=Path))
@click.argument("data_dir", type=click.Path(path_type=Path))
@click.argument("others", nargs=-1, type=click.Path(path_type=Path), metavar="[MODEL_DIR]...")
@click.option("--json", "json_path", type=click.Path(path_type=Path), help="Write every figure to this JSON file.")
@click.option("--config", "config_path", type=click.Path(path_type=Path), help="Config file.")
@_setting_option("generate.style", "--style", help="Style the continuations are sampled in.")
@click.option("--random-seed", type=int, default=1234, show_default=True, help="Seed of the sampled continuations.")
@_user_errors
def evaluate(
    model_dir: Path,
    data_dir: Path,
    others: tuple[Path, ...],
    json_path: Path | None,
    config_path: Path | None,
    style: str | None,
    random_seed: int,
) -> None:
    """Score MODEL_DIR on DATA_DIR's held-out test pieces, beside a Markov baseline.

    Further MODEL_DIRs (e.g. the seed preset trained on the same data) are
    scored in the same table.
    """
    import json

    from neuraltunes_live.config import load_config
    from neuraltunes_live.files import check_output_file, output_errors, replace_file
    from neuraltunes_live.offline.evaluate import evaluate as run_evaluation
    from neuraltunes_live.offline.evaluate import format_report

    config = load_config(config_path, overrides={"generate.style": style})
    style_settings = config.style(config.generate.style)
    if json_path is not None:
        check_output_file(json_path)
    result = run_evaluation(
        [model_dir, *others],
        data_dir,
        settings=style_settings.sampling(),
        key_mask=style_settings.key_mask,
        seed=random_seed,
        style=config.generate.style,
    )
    for line in format_report(result):
        click.echo(line)
    if json_path is not None:
        text = (json.dumps(result.to_json(), indent=2) + "\n").encode("utf-8")
        with output_errors(json_path):
            replace_file(json_path, lambda out: out.write(text))
        click.echo(f"Wrote {json_path}")


@main.command()
@click.option("--phrase", "phrase_file", type=click.Path(path_type=Path), help="The MIDI file to continue.")
@click.option(
    "--seed", "old_phrase_file", type=click.Path(path_type=Path), hidden=True, help="The old name of --phrase."
)
@click.option("--out", "out", required=True, type=click.Path(path_type=Path), help="MIDI file to write.")
@_setting_option("generate.model", "--model", "model_dir")
@_setting_option("generate.bars", "--bars")
@_setting_option("generate.style", "--style")
@_ranged("--temperature", kind=float, rule=TEMPERATURE, help="Override the style's temperature.")
@_ranged("--tempo", kind=float, rule=TEMPO, help="Tempo of the output (default: the phrase file's).")
@_setting_option("generate.key", "--key")
@click.option(
    "--variations",
    type=click.IntRange(1, 100),
    default=1,
    show_default=True,
    help="Write this many alternative files (at most 100).",
)
@_setting_option("generate.random_seed", "--random-seed")
@click.option("--plot", type=click.Path(path_type=Path), help="Also draw a piano roll to this .png, .svg or .pdf file.")
@click.option(
    "--wav", type=click.Path(path_type=Path), help="Also render it to audio: this .wav file (built-in synth)."
)
@_setting_option("synth.soundfont", "--soundfont")
@click.option("--config", "config_path", type=click.Path(path_type=Path), help="Config file.")
@_user_errors
def generate(
    phrase_file: Path | None,
    old_phrase_file: Path | None,
    out: Path,
    model_dir: str | None,
    bars: int | None,
    style: str | None,
    temperature: float | None,
    tempo: float | None,
    key: str | None,
    variations: int,
    random_seed: int | None,
    plot: Path | None,
    wav: Path | None,
    soundfont: str | None,
    config_path: Path | None,
) -> None:
    """Continue the MIDI file given with --phrase and write OUT."""
    from neuraltunes_live.config import load_config
    from neuraltunes_live.core.model import model_dir_or_default
    from neuraltunes_live.offline.generate import generate as run_generate
    from neuraltunes_live.offline.generate import key_choice

    config = load_config(
        config_path,
        overrides={
            "generate.model": model_dir,
            "generate.bars": bars,
            "generate.style": style,
            "generate.key": key,
            "generate.random_seed": random_seed,
            "synth.soundfont": soundfont,
        },
    )
    settings = config.generate
    style_settings = config.style(settings.style)
    seed_file = _renamed(phrase_file, old_phrase_file, "--phrase", "--seed FILE")
    if seed_file is None:
        raise click.UsageError("Missing option '--phrase': the MIDI file to continue.")
    written, used_seed = run_generate(
        seed_file,
        out,
        model_dir=model_dir_or_default(settings.model),
        bars=settings.bars,
        beats_per_bar=settings.beats_per_bar,
        settings=style_settings.sampling(temperature),
        key=key_choice(settings.key, style_settings),
        tempo_bpm=tempo,
        variations=variations,
        random_seed=settings.random_seed,
        plot=plot,
        wav=wav,
        synth=config.synth,
    )
    for item in written:
        click.echo(
            f"Wrote {item.path}: {item.seed_notes} seed notes, then {item.notes} notes over "
            f"{item.bars} bars at {item.tempo_bpm:g} BPM."
        )
    for item in written:
        if item.wav is not None:
            click.echo(f"Wrote {item.wav}: {item.wav_seconds:.1f} s of audio.")
    if plot is not None:
        click.echo(f"Wrote {plot}")
    click.echo(f"Style {settings.style}, random seed {used_seed} (pass --random-seed {used_seed} to repeat).")


@main.command()
@click.option("--config", "config_path", type=click.Path(path_type=Path), help="Config file.")
@_setting_option("live.model", "--model", "model_dir")
@_setting_option("live.backend", "--backend")
@_setting_option("live.jack_timing", "--jack-timing")
@_setting_option("live.input", "--input", "input_port")
@_setting_option("live.output", "--output", "output_port")
@_setting_option("live.tempo", "--tempo")
@_setting_option("live.clock", "--clock")
@_setting_option("live.mode", "--mode")
@_setting_option("live.start", "--start")
@_setting_option("live.length", "--length")
@_setting_option("live.bars", "--bars", help="Answer length in bars; implies --length fixed.")
@_setting_option("live.style", "--style")
@_setting_option("live.random_seed", "--random-seed")
@_setting_option("live.record_dir", "--record-dir")
@click.option(
    "--learn",
    type=click.Path(path_type=Path),
    help="Assign the knobs by moving each in turn (the log asks); write them to this config file's [controls].",
)
@_setting_option("live.synth", "--synth/--no-synth")
@_setting_option("live.synth_input", "--synth-input/--no-synth-input")
@_setting_option("synth.soundfont", "--soundfont")
@_setting_option("synth.driver", "--synth-driver")
@_user_errors
def serve(
    config_path: Path | None,
    model_dir: str | None,
    backend: str | None,
    jack_timing: str | None,
    input_port: str | None,
    output_port: str | None,
    tempo: float | None,
    clock: str | None,
    mode: str | None,
    start: str | None,
    length: str | None,
    bars: int | None,
    style: str | None,
    random_seed: int | None,
    record_dir: str | None,
    learn: Path | None,
    synth: bool | None,
    synth_input: bool | None,
    soundfont: str | None,
    synth_driver: str | None,
) -> None:
    """Listen for phrases and answer them, live, until Ctrl-C (or SIGTERM).

    Opens the virtual ports "NeuralTunes In" and "NeuralTunes Out" (or the
    ports named). SIGHUP loads the model again.
    """
    from neuraltunes_live.config import load_config
    from neuraltunes_live.live.serve import serve as run_serve

    config = load_config(
        config_path,
        overrides={
            "live.model": model_dir,
            "live.backend": backend,
            "live.jack_timing": jack_timing,
            "live.input": input_port,
            "live.output": output_port,
            "live.tempo": tempo,
            "live.clock": clock,
            "live.mode": mode,
            "live.start": start,
            "live.length": "fixed" if bars is not None and length is None else length,
            "live.bars": bars,
            "live.style": style,
            "live.random_seed": random_seed,
            "live.record_dir": record_dir,
            "live.synth": True if synth_input else synth,
            "live.synth_input": synth_input,
            "synth.soundfont": soundfont,
            "synth.driver": synth_driver,
        },
    )
    _log_to_stderr(clock=True)
    recorder = None
    if config.live.record_dir:
        from neuraltunes_live.offline.session import SessionRecorder

        recorder = SessionRecorder(Path(config.live.record_dir), tempo_bpm=lambda: config.live.tempo)
    if learn is not None:
        from neuraltunes_live.files import check_output_file

        check_output_file(learn, (".toml",))
    run_serve(config, recorder, learn)


@main.command()
@_BACKEND
@_user_errors
def ports(backend: str) -> None:
    """List the MIDI ports to play from (inputs) and to (outputs)."""
    from neuraltunes_live.live.ports import list_ports

    name, inputs, outputs = list_ports(backend)
    click.echo(f"MIDI system: {name}")
    click.echo("Ports to listen to (--input, record --from):")
    for port in inputs or ["(none)"]:
        click.echo(f"  {port}")
    click.echo("Ports to play to (--output, play --to):")
    for port in outputs or ["(none)"]:
        click.echo(f"  {port}")


@main.command()
@click.argument("midi_file", type=click.Path(path_type=Path, exists=True, dir_okay=False))
@click.option("--to", "to", help="Port to play into (name or part of it), e.g. 'NeuralTunes In'.")
@click.option("--synth", is_flag=True, help="Also hear it through the built-in synth (without --to: only that).")
@_setting_option("synth.soundfont", "--soundfont")
@_setting_option("synth.driver", "--synth-driver")
@_BACKEND
@_ranged("--tempo", kind=float, rule=TEMPO, help="Play at this tempo (default: the file's).")
@click.option("--config", "config_path", type=click.Path(path_type=Path), help="Config file.")
@_user_errors
def play(
    midi_file: Path,
    to: str | None,
    synth: bool,
    soundfont: str | None,
    synth_driver: str | None,
    backend: str,
    tempo: float | None,
    config_path: Path | None,
) -> None:
    """Play MIDI_FILE into a port in time (a keyboard for trying the daemon), or through the synth."""
    from neuraltunes_live.config import load_config
    from neuraltunes_live.offline.playback import play as run_play

    if to is None and not synth:
        raise click.UsageError("Missing option '--to' (or --synth): where to play the file.")
    settings = (
        load_config(config_path, overrides={"synth.soundfont": soundfont, "synth.driver": synth_driver}).synth
        if synth
        else None
    )
    _log_to_stderr(clock=True)
    sent = run_play(midi_file, to, backend, tempo, synth=settings)
    click.echo(f"Sent {sent} messages.")


@main.command()
@click.option("--from", "source", required=True, help="Port to record (name or part of it), e.g. 'NeuralTunes Out'.")
@click.option("--out", "out", required=True, type=click.Path(path_type=Path), help="MIDI file to write.")
@click.option(
    "--seconds",
    type=click.FloatRange(0, 86_400, min_open=True),
    help="Stop after this long, at most 86400 (a day; default: at Ctrl-C).",
)
@_BACKEND
@_user_errors
def record(source: str, out: Path, seconds: float | None, backend: str) -> None:
    """Record what a port sends into a MIDI file (120 BPM, times as heard)."""
    from neuraltunes_live.offline.playback import record as run_record

    _log_to_stderr(clock=True)
    kept = run_record(source, out, backend, seconds)
    click.echo(f"Wrote {out}: {kept} messages.")
