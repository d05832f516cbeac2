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
from neuraltunes_live.config import Config, Rule, Setting, setting
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


def _click_type(kind: type, rule: Rule | None) -> Any:
    if rule is not None and rule.choices:
        return click.Choice(rule.choices)
    if rule is not None and kind in (int, float):
        if kind is int:
            low, high = (None if v is None else int(v) for v in (rule.low, rule.high))
            return click.IntRange(low, high, min_open=rule.low_open, max_open=rule.high_open)
        return click.FloatRange(rule.low, rule.high, min_open=rule.low_open, max_open=rule.high_open)
    return kind


def setting_option(defined: Setting) -> click.Option:
    """The option that sets one setting from the command line: its flag, type, values and help from its definition.

    Unset, it is None, and the environment, the config file or the default decide.
    """
    default = "" if defined.default in ("", None) else f", default {defined.default}"
    text = f"{defined.help} Config: [{defined.section}] {defined.key}{default}."
    rule = defined.rule
    if rule is not None and rule.words and not rule.choices:
        text = f"{text} {rule.words[0].upper()}{rule.words[1:]}."
    name = _param_name(defined)
    if defined.base_kind is bool:
        return click.Option([defined.flag, name], default=None, help=text)
    return click.Option([defined.flag, name], type=_click_type(defined.base_kind, rule), help=text)


def _param_name(defined: Setting) -> str:
    return f"setting__{defined.section}__{defined.key}"


def _configured(*dotted: str, given: Callable[[dict[str, Any]], None] | None = None) -> Callable[[Any], Any]:
    """Give a command ``--config`` and an option for each setting named; it is called with ``config``.

    The settings' flags, types, ranges and help all come from ``config``'s
    definitions, so no command holds a default or range of its own.
    ``given`` may change the flags' values (``section.key`` to value, None
    where not given) before the config is built, for a flag that implies
    another.
    """
    defined = [setting(name) for name in dotted]

    def decorate(command: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(command)
        def run(*args: Any, **kwargs: Any) -> Any:
            from neuraltunes_live.config import load_config

            flags = {each.dotted: kwargs.pop(_param_name(each)) for each in defined}
            if given is not None:
                given(flags)
            try:
                config = load_config(kwargs.pop("config_path"), overrides=flags, recipe=kwargs.get("recipe_path"))
            except NeuralTunesError as err:
                raise click.ClickException(str(err)) from err
            return command(*args, config=config, **kwargs)

        params = list(getattr(run, "__click_params__", []))
        params.extend(setting_option(each) for each in reversed(defined))
        params.append(click.Option(["--config", "config_path"], type=click.Path(path_type=Path), help="Config file."))
        run.__click_params__ = params  # type: ignore[attr-defined]
        run.__settings__ = tuple(dotted)  # type: ignore[attr-defined]
        return run

    return decorate


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
@click.option("--no-cache", is_flag=True, help="Read every file again; leave the cache alone.")
@click.option(
    "--held-out",
    is_flag=True,
    help="Put every piece in the test split: a set to evaluate on that is never trained on.",
)
@_configured("prepare.random_seed", "prepare.workers", "prepare.include_drums", "prepare.cache_dir", "prepare.player")
@_user_errors
def prepare(sources: tuple[str, ...], out_dir: Path, no_cache: bool, held_out: bool, config: Config) -> None:
    """Turn music into event sequences split by piece, in OUT.

    SOURCE is a .mid/.midi/.mxl/.xml/.musicxml/.abc/.krn file, a folder of
    them, or a music21 corpus: music21:bach, music21:essenFolksong,
    music21:ryansMammoth/Ac* (a glob narrows it by file name). With --player
    it writes melody and accompaniment pairs, what the accompaniment model
    trains on.
    """
    if config.prepare.player:
        _run_prepare_pairs(sources, out_dir, config, held_out=held_out)
        return
    _run_prepare(sources, out_dir, config, use_cache=not no_cache, held_out=held_out)


def _run_prepare_pairs(sources: tuple[str, ...], out: Path, config: Config, *, held_out: bool) -> None:
    from neuraltunes_live.data.pairs import prepare_pairs

    with contextlib.ExitStack() as stack:
        bar: list[Any] = []

        def start(total: int) -> None:
            bar.append(stack.enter_context(click.progressbar(length=total, label=f"Importing {out}", file=sys.stderr)))

        manifest = prepare_pairs(
            list(sources),
            out,
            config.prepare.player,
            config.prepare,
            held_out=held_out,
            progress=lambda n: bar[0].update(n),
            on_jobs=start,
        )
    counts = ", ".join(f"{len(names)} {split}" for split, names in manifest.pieces.items())
    click.echo(
        f"Wrote {out}: {manifest.pieces_found - manifest.duplicates_removed} melody and accompaniment pairs "
        f"(player {manifest.player}; {counts}) from {manifest.files} files; "
        f"{manifest.duplicates_removed} duplicates removed, {len(manifest.files_skipped)} files skipped."
    )
    for label, why in list(manifest.files_skipped.items())[:10]:
        click.echo(f"  skipped {label}: {why}")


def _run_prepare(
    sources: tuple[str, ...], out: Path, config: Config, *, use_cache: bool = True, held_out: bool, err: bool = False
) -> None:
    """``prepare`` with its progress bar, then its summary (on stderr with ``err``)."""
    from neuraltunes_live.data import prepare as preparing

    with contextlib.ExitStack() as stack:
        bar: list[Any] = []

        def start(total: int) -> None:
            bar.append(stack.enter_context(click.progressbar(length=total, label=f"Importing {out}", file=sys.stderr)))

        report = preparing.prepare(
            list(sources),
            out,
            config.prepare,
            use_cache=use_cache,
            held_out=held_out,
            progress=lambda n: bar[0].update(n),
            on_jobs=start,
        )
    for line in preparing.iter_summary(report):
        click.echo(line, err=err)


def _quiet_tensorflow() -> None:
    # TensorFlow's C++ start-up lines (CPU features; "failed call to cuInit" on
    # every machine without a GPU) alarm more than they tell; real failures
    # still arrive as Python exceptions. TF_CPP_MIN_LOG_LEVEL=0 shows them all.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


@main.command()
@click.argument("data_dir", required=False, type=click.Path(path_type=Path))
@click.option(
    "--out", "out_dir", type=click.Path(path_type=Path), help="Model folder to write (with --recipe: its out)."
)
@click.option(
    "--recipe",
    "recipe_path",
    type=click.Path(path_type=Path),
    help="A recipe (training/*.toml): prepares its data if that is not there yet, then trains with its settings.",
)
@click.option("--resume", is_flag=True, help="Go on with an interrupted run of the same settings.")
@click.option(
    "--init",
    "init_from",
    type=click.Path(path_type=Path),
    help="Start from this model folder's weights (parts the preset adds start at zero).",
)
@_configured(
    "train.preset",
    "train.epochs",
    "train.random_seed",
    "train.batch_size",
    "train.seq_len",
    "train.patience",
    "train.replicas",
    "train.source_balance",
    "train.decay_epochs",
)
@_user_errors
def train(
    data_dir: Path | None,
    out_dir: Path | None,
    recipe_path: Path | None,
    resume: bool,
    init_from: Path | None,
    config: Config,
) -> None:
    """Train the LSTM on DATA_DIR (from `prepare`) and write the model folder OUT, or follow a --recipe.

    Uses a GPU when there is one; several GPUs train mirrored. Under
    TF_CONFIG it is one worker of a run across machines (training/README.md).
    """
    recipe = None
    if recipe_path is not None:
        from neuraltunes_live.config import read_recipe

        if data_dir is not None:
            raise click.UsageError("give DATA_DIR or --recipe, not both: the recipe names its data")
        recipe = read_recipe(recipe_path)
        data_dir = Path(recipe.data)
        out_dir = out_dir or Path(recipe.out)
        init_from = init_from or (Path(recipe.init) if recipe.init else None)
    elif data_dir is None or out_dir is None:
        raise click.UsageError("Missing DATA_DIR and --out (or a --recipe that names them)")
    assert out_dir is not None
    _quiet_tensorflow()
    try:
        from neuraltunes_live.training.train import train as run_training
        from neuraltunes_live.training.train import work_dir_for
    except ImportError as err:
        raise click.ClickException(
            f"training needs TensorFlow ({err.name} is missing): pip install 'neuraltunes-live[train]'"
        ) from err
    if recipe is not None:
        _prepare_for(recipe.sources, Path(recipe.data), config, held_out=False)
        if recipe.held_out_sources:
            _prepare_for(recipe.held_out_sources, Path(recipe.held_out), config, held_out=True)
    from neuraltunes_live.data.pairs import is_pairs_folder

    if is_pairs_folder(data_dir):
        from neuraltunes_live.training.accompany import train_accompaniment

        train_accompaniment(data_dir, out_dir, config.train)
        return
    try:
        run_training(
            data_dir,
            out_dir,
            config.train,
            resume=resume,
            init=init_from,
            recipe=recipe.text if recipe is not None else None,
        )
    except KeyboardInterrupt:
        click.echo(
            f"\nInterrupted; the last finished epoch is kept in {work_dir_for(out_dir)}. "
            "Run the same command with --resume to go on.",
            err=True,
        )
        sys.exit(130)


def _prepare_for(sources: tuple[str, ...], out: Path, config: Config, *, held_out: bool) -> None:
    """A recipe's data: prepared unless ``out`` already holds these sources prepared with these settings."""
    from neuraltunes_live.data import prepare as preparing

    if config.prepare.player:
        from neuraltunes_live.data.pairs import pairs_prepared_already

        if pairs_prepared_already(out, sources, config.prepare, held_out):
            click.echo(f"{out}: prepared already, from the recipe's sources with its settings.", err=True)
        else:
            _run_prepare_pairs(sources, out, config, held_out=held_out)
        return
    if preparing.prepared_already(out, sources, config.prepare, held_out):
        click.echo(f"{out}: prepared already, from the recipe's sources with its settings.", err=True)
        return
    _run_prepare(sources, out, config, held_out=held_out, err=True)


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
    from neuraltunes_live.core.model_files import CONFIG_FILE, FittedMemory, load_model, write_piece_memory
    from neuraltunes_live.data.dataset import read_split
    from neuraltunes_live.files import check_output_file, output_errors

    model = load_model(model_dir)
    check_output_file(model_dir / CONFIG_FILE)
    validation = read_split(data_dir, "validation")
    settings, fit = fit_piece_memory(model, validation.pieces(), float(validation.notes.sum()))
    with output_errors(model_dir / CONFIG_FILE):
        write_piece_memory(model_dir, FittedMemory.fitted(settings, fit, str(data_dir)))
    click.echo(
        f"Wrote the piece memory into {model_dir}: validation bits per note "
        f"{fit.validation_bits_per_note_network:.3f} from the network alone, "
        f"{fit.validation_bits_per_note:.3f} with the memory ({fit.validation_pieces} pieces)."
    )


@main.command()
@click.argument("model_dir", type=click.Path(path_type=Path))
@click.argument("data_dir", type=click.Path(path_type=Path))
@click.argument("others", nargs=-1, type=click.Path(path_type=Path), metavar="[MODEL_DIR]...")
@click.option("--json", "json_path", type=click.Path(path_type=Path), help="Write every figure to this JSON file.")
@click.option(
    "--baseline-data",
    type=click.Path(path_type=Path),
    help="Fit the Markov baseline on this data folder's training pieces (for a held-out DATA_DIR: the models' data).",
)
@_configured("evaluate.style", "evaluate.random_seed")
@_user_errors
def evaluate(
    model_dir: Path,
    data_dir: Path,
    others: tuple[Path, ...],
    json_path: Path | None,
    baseline_data: Path | None,
    config: Config,
) -> None:
    """Score MODEL_DIR on DATA_DIR's held-out test pieces, beside a Markov baseline.

    Further MODEL_DIRs (e.g. the one-hot-lstm preset trained on the same
    data) are scored in the same table.
    """
    from neuraltunes_live.files import check_output_file, write_json
    from neuraltunes_live.offline.evaluate import evaluate as run_evaluation
    from neuraltunes_live.offline.evaluate import format_report

    style_settings = config.style(config.evaluate.style)
    if json_path is not None:
        check_output_file(json_path)
    result = run_evaluation(
        [model_dir, *others],
        data_dir,
        settings=style_settings.sampling(),
        key_mask=style_settings.key_mask,
        random_seed=config.evaluate.random_seed,
        style=config.evaluate.style,
        baseline_data=baseline_data,
    )
    for line in format_report(result):
        click.echo(line)
    if json_path is not None:
        write_json(json_path, result.to_json())
        click.echo(f"Wrote {json_path}")


@main.command()
@click.option("--phrase", "phrase_file", type=click.Path(path_type=Path), help="The MIDI file to continue.")
@click.option(
    "--accompany",
    "melody_file",
    type=click.Path(path_type=Path),
    help="A melody MIDI file to accompany instead (the accompaniment model, as serve --mode accompany plays).",
)
@click.option("--out", "out", required=True, type=click.Path(path_type=Path), help="MIDI file to write.")
@click.option("--plot", type=click.Path(path_type=Path), help="Also draw a piano roll to this .png, .svg or .pdf file.")
@click.option(
    "--wav", type=click.Path(path_type=Path), help="Also render it to audio: this .wav file (built-in synth)."
)
@_configured(
    "generate.model",
    "generate.bars",
    "generate.style",
    "generate.temperature",
    "generate.tempo",
    "generate.key",
    "generate.variations",
    "generate.random_seed",
    "synth.soundfont",
    "accompany.model",
    "accompany.texture",
    "accompany.register",
    "accompany.activity",
)
@_user_errors
def generate(
    phrase_file: Path | None,
    melody_file: Path | None,
    out: Path,
    plot: Path | None,
    wav: Path | None,
    config: Config,
) -> None:
    """Continue the MIDI file given with --phrase (or accompany the one given with --accompany) and write OUT."""
    if (phrase_file is None) == (melody_file is None):
        raise click.UsageError("give --phrase FILE (to continue it) or --accompany FILE (to accompany it)")
    if melody_file is not None:
        _accompany(melody_file, out, wav, config)
        return
    assert phrase_file is not None
    from neuraltunes_live.core.model_files import model_dir_or_default
    from neuraltunes_live.offline.generate import generate as run_generate
    from neuraltunes_live.offline.generate import key_choice

    settings = config.generate
    style_settings = config.style(settings.style)
    written, used_seed = run_generate(
        phrase_file,
        out,
        model_dir=model_dir_or_default(settings.model),
        bars=settings.bars,
        beats_per_bar=settings.beats_per_bar,
        settings=style_settings.sampling(settings.temperature),
        key=key_choice(settings.key, style_settings),
        tempo_bpm=settings.tempo,
        variations=settings.variations,
        random_seed=settings.random_seed,
        plot=plot,
        wav=wav,
        synth=config.synth,
    )
    for item in written:
        click.echo(
            f"Wrote {item.path}: {item.phrase_notes} notes of the phrase, then {item.notes} notes over "
            f"{item.bars} bars at {item.tempo_bpm:g} BPM."
        )
    for item in written:
        if item.wav is not None:
            click.echo(f"Wrote {item.wav}: {item.wav_seconds:.1f} s of audio.")
    if plot is not None:
        click.echo(f"Wrote {plot}")
    click.echo(f"Style {settings.style}, random seed {used_seed} (pass --random-seed {used_seed} to repeat).")


def _accompany(melody_file: Path, out: Path, wav: Path | None, config: Config) -> None:
    from neuraltunes_live.offline.accompany import accompany_file

    settings = config.generate
    done = accompany_file(
        melody_file,
        out,
        config.accompany,
        beats_per_bar=settings.beats_per_bar,
        tempo_bpm=settings.tempo,
        random_seed=settings.random_seed,
        wav=wav,
        synth=config.synth,
    )
    click.echo(
        f"Wrote {done.path}: the melody's {done.melody_notes} notes and {done.notes} notes of accompaniment "
        f"({config.accompany.texture}) at {done.tempo_bpm:g} BPM."
    )
    if done.wav is not None:
        click.echo(f"Wrote {done.wav}: {done.wav_seconds:.1f} s of audio.")
    click.echo(f"Random seed {done.random_seed} (pass --random-seed {done.random_seed} to repeat).")


def _serve_flags(flags: dict[str, Any]) -> None:
    """``--bars N`` implies a fixed length, ``--synth-input`` the synth."""
    if flags["live.bars"] is not None and flags["live.length"] is None:
        flags["live.length"] = "fixed"
    if flags["live.synth_input"]:
        flags["live.synth"] = True


@main.command()
@click.option(
    "--learn",
    type=click.Path(path_type=Path),
    help="Assign the knobs by moving each in turn (the log asks); write them to this config file's [controls].",
)
@_configured(
    "live.model",
    "live.backend",
    "live.jack_timing",
    "live.input",
    "live.output",
    "live.tempo",
    "live.clock",
    "live.mode",
    "live.start",
    "live.length",
    "live.bars",
    "live.style",
    "live.random_seed",
    "live.record_dir",
    "live.synth",
    "live.synth_input",
    "synth.soundfont",
    "synth.driver",
    "accompany.model",
    "accompany.channel",
    "accompany.texture",
    "accompany.count_in_beats",
    "accompany.stop_beats",
    given=_serve_flags,
)
@_user_errors
def serve(learn: Path | None, config: Config) -> None:
    """Listen for phrases and answer them, live, until Ctrl-C (or SIGTERM).

    Opens the virtual ports "NeuralTunes In" and "NeuralTunes Out" (or the
    ports named). SIGHUP loads the model again.
    """
    from neuraltunes_live.live.serve import serve as run_serve

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
@_configured("live.backend")
@_user_errors
def ports(config: Config) -> None:
    """List the MIDI ports to play from (inputs) and to (outputs)."""
    from neuraltunes_live.live.ports import list_ports

    name, inputs, outputs = list_ports(config.live.backend)
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
@_configured("play.tempo", "live.backend", "synth.soundfont", "synth.driver")
@_user_errors
def play(midi_file: Path, to: str | None, synth: bool, config: Config) -> None:
    """Play MIDI_FILE into a port in time (a keyboard for trying the daemon), or through the synth."""
    from neuraltunes_live.data.midifile import timed_messages
    from neuraltunes_live.live.playback import play as run_play

    if to is None and not synth:
        raise click.UsageError("Missing option '--to' (or --synth): where to play the file.")
    _log_to_stderr(clock=True)
    messages = timed_messages(midi_file, config.play.tempo)
    sent = run_play(messages, to, config.live.backend, synth=config.synth if synth else None, name=str(midi_file))
    click.echo(f"Sent {sent} messages.")


@main.command()
@click.option("--from", "source", required=True, help="Port to record (name or part of it), e.g. 'NeuralTunes Out'.")
@click.option("--out", "out", required=True, type=click.Path(path_type=Path), help="MIDI file to write.")
@_configured("record.seconds", "live.backend")
@_user_errors
def record(source: str, out: Path, config: Config) -> None:
    """Record what a port sends into a MIDI file (120 BPM, times as heard)."""
    from neuraltunes_live.data.midifile import write_timed_messages
    from neuraltunes_live.files import check_output_file, output_errors
    from neuraltunes_live.live.playback import record as run_record

    out.parent.mkdir(parents=True, exist_ok=True)
    check_output_file(out)
    _log_to_stderr(clock=True)
    kept = run_record(source, config.live.backend, config.record.seconds)
    with output_errors(out):
        write_timed_messages(out, kept)
    click.echo(f"Wrote {out}: {len(kept)} messages.")
