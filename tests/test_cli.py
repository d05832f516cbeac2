"""The command line: help, and errors as one line."""

import subprocess
import sys

from click.testing import CliRunner

from neuraltunes_live.cli import main


def test_help_lists_prepare_without_loading_music21_or_mido():
    code = (
        "import sys; from click.testing import CliRunner; from neuraltunes_live.cli import main;"
        "r = CliRunner().invoke(main, ['--help']); print(r.output);"
        "print(sorted(m for m in ('music21', 'mido', 'tensorflow') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "prepare" in out
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
