"""Every command's options come from the settings' one definition (``config``), none has a default of its own."""

from __future__ import annotations

from pathlib import Path

import click
import pytest

from neuraltunes_live.cli import main, setting_option
from neuraltunes_live.config import config_text, settings

#: What click keeps as the default of an option given none (click 8.3 has a sentinel; earlier ones None).
NO_DEFAULT = (None, getattr(click.core, "UNSET", None))
BY_PARAM = {f"setting__{each.section}__{each.key}": each for each in settings()}


def _type_of(param: click.Parameter) -> tuple:
    kind = param.type
    if isinstance(kind, click.Choice):
        return ("choice", tuple(kind.choices))
    if isinstance(kind, (click.IntRange, click.FloatRange)):
        return (type(kind).__name__, kind.min, kind.max, kind.min_open, kind.max_open)
    return (type(kind).__name__,)


COMMANDS = sorted(main.commands.items())


@pytest.mark.parametrize("name, command", COMMANDS, ids=[name for name, _ in COMMANDS])
def test_each_option_is_a_setting_or_a_plain_argument_of_the_run(name, command):
    for param in command.params:
        if not isinstance(param, click.Option) or param.name == "help":
            continue
        defined = BY_PARAM.get(param.name or "")
        if defined is not None:  # derived: the flag, type, range and help of its definition; unset it is None
            expected = setting_option(defined)
            assert param.opts == expected.opts and param.secondary_opts == expected.secondary_opts
            assert _type_of(param) == _type_of(expected), f"{name} {param.opts[0]}"
            assert param.default in NO_DEFAULT and param.help == expected.help
            assert f"Config: [{defined.section}] {defined.key}" in (param.help or "")
        else:  # a path, a port's name or a switch of this run: nothing a config could hold
            where = f"{name} {param.opts[0]}"
            assert not isinstance(param.type, (click.Choice, click.IntRange, click.FloatRange)), where
            assert param.type not in (click.INT, click.FLOAT), f"{where} takes a number: it must be a setting"
            assert param.default in (*NO_DEFAULT, False), f"{where} has a default of its own"


def test_a_setting_given_its_own_default_on_a_command_is_caught():
    """The test above would see a flag that repeats a setting with a default or range of its own."""

    @click.command()
    @click.option("--tempo", "setting__live__tempo", type=click.FloatRange(1, 2000), default=120.0)
    def sneaky(setting__live__tempo):
        pass

    (param,) = sneaky.params
    expected = setting_option(BY_PARAM["setting__live__tempo"])
    assert _type_of(param) != _type_of(expected) and param.default not in NO_DEFAULT


def test_every_command_that_reads_a_setting_declares_it_once():
    for name, command in main.commands.items():
        declared = [p.name for p in command.params if p.name in BY_PARAM]
        assert len(declared) == len(set(declared)), name


def test_the_shipped_config_file_is_the_one_the_definitions_write():
    shipped = (Path(__file__).parents[1] / "config.toml").read_text(encoding="utf-8")
    assert shipped == config_text(), "config.toml is stale: python -m neuraltunes_live.config > config.toml"


def test_the_config_file_comments_every_setting_with_its_values():
    text = config_text()
    for each in settings():
        line = f"{each.key} = " if each.default is not None else f"# {each.key} ="
        assert line in text, each.dotted
        if each.rule is not None and not each.rule.choices:
            assert each.rule.describe() in " ".join(text.replace("#", " ").split()), each.dotted
