"""The ``neuraltunes-live`` command line.

Each subcommand imports what it needs when it runs, so ``--help`` is instant
and the daemon never loads the training or score libraries. Errors of ours
become one line on stderr and exit status 1; Ctrl-C exits with 130.
"""

from __future__ import annotations

import contextlib
import functools
import signal
import sys
from pathlib import Path
from typing import Any, Callable

import click

from . import __version__
from .errors import NeuralTunesError


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def _user_errors(command: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(command)
    def run(*args: Any, **kwargs: Any) -> Any:
        # SIGTERM (kill, a service manager) cleans up exactly as Ctrl-C does.
        previous = signal.signal(signal.SIGTERM, _interrupt)
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


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="neuraltunes-live")
def main() -> None:
    """Continue a played phrase with an LSTM, live, over MIDI."""


@main.command()
@click.argument("sources", nargs=-1, required=True, metavar="SOURCE...")
@click.option(
    "--out", "out_dir", required=True, type=click.Path(path_type=Path), help="Data folder to write."
)
@click.option("--config", "config_path", type=click.Path(path_type=Path), help="Config file.")
@click.option("--seed", type=int, help="Seed of the train/validation/test split.")
@click.option("--workers", type=int, help="Import processes (0: one per core).")
@click.option("--include-drums/--no-drums", default=None, help="Keep channel 10 (drums).")
@click.option("--no-cache", is_flag=True, help="Read every file again; leave the cache alone.")
@_user_errors
def prepare(
    sources: tuple[str, ...],
    out_dir: Path,
    config_path: Path | None,
    seed: int | None,
    workers: int | None,
    include_drums: bool | None,
    no_cache: bool,
) -> None:
    """Turn music into event sequences split by piece, in OUT.

    SOURCE is a .mid/.midi/.mxl/.xml/.musicxml/.abc/.krn file, a folder of
    them, or a music21 corpus: music21:bach, music21:essenFolksong,
    music21:ryansMammoth/Ac* (a glob narrows it by file name).
    """
    from . import cache
    from . import prepare as preparing
    from .config import load_config

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
            bar.append(
                stack.enter_context(
                    click.progressbar(length=total, label="Importing", file=sys.stderr)
                )
            )

        report = preparing.prepare(
            list(sources), out_dir, options, progress=lambda n: bar[0].update(n), on_jobs=start
        )
    for line in preparing.iter_summary(report):
        click.echo(line)
