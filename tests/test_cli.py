"""The command line: help, and errors as one line."""

import subprocess
import sys

import pytest
from click.testing import CliRunner

from neuraltunes_live.cli import main

HEAVY = "('music21', 'mido', 'tensorflow', 'keras', 'matplotlib')"


@pytest.mark.parametrize("command", [[], ["prepare"], ["train"], ["evaluate"], ["generate"]])
def test_help_loads_no_heavy_library(command):
    code = (
        "import sys; from click.testing import CliRunner; from neuraltunes_live.cli import main;"
        f"r = CliRunner().invoke(main, {command + ['--help']!r}); print(r.output);"
        f"print(sorted(m for m in {HEAVY} if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "Usage:" in out
    if not command:
        assert all(name in out for name in ("prepare", "train", "evaluate", "generate"))
    assert out.strip().endswith("[]")


def test_bad_config_value_is_one_clean_line(tmp_path):
    config = tmp_path / "c.toml"
    config.write_text("[prepare]\nworkers = -1\n")
    result = CliRunner().invoke(main, ["prepare", "x", "--out", str(tmp_path / "d"), "--config", str(config)])
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [
        f"Error: {config}: prepare.workers must be 0 (one per core) or more, got -1"
    ]


def test_prepare_needs_out():
    result = CliRunner().invoke(main, ["prepare", "x"])
    assert result.exit_code == 2 and "Missing option '--out'" in result.output
