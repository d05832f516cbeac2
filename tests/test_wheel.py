"""The wheel on its own: built, installed into a fresh environment outside the repository, run from elsewhere.

It must carry the shipped model, so ``generate`` and ``serve`` work from any
folder with nothing from the checkout.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from neuraltunes_live.core.notes import notes_array
from neuraltunes_live.data.midifile import read_midi, write_midi

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """A fresh virtual environment with only the wheel (and what it depends on) installed."""
    where = tmp_path_factory.mktemp("wheel")
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", str(ROOT), "--no-deps", "-q", "-w", str(where / "dist")],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert built.returncode == 0, built.stderr[-2000:]
    [wheel] = (where / "dist").glob("neuraltunes_live-*.whl")
    subprocess.run([sys.executable, "-m", "venv", str(where / "venv")], check=True, timeout=300)
    python = where / "venv" / "bin" / "python"
    install = subprocess.run(
        [str(python), "-m", "pip", "install", "-q", str(wheel)], capture_output=True, text=True, timeout=900
    )
    assert install.returncode == 0, install.stderr[-2000:]
    return where / "venv" / "bin"


def clean_env() -> dict[str, str]:
    """The environment without anything pointing into the checkout."""
    return {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}


def test_the_installed_wheel_generates_with_its_own_model_from_any_folder(installed, tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    phrase = elsewhere / "phrase.mid"
    write_midi(notes_array([(12 * i, p, 10, 90) for i, p in enumerate([60, 62, 64, 65, 67])]), phrase)
    where = subprocess.run(
        [
            str(installed / "python"),
            "-c",
            "from neuraltunes_live.core.model_files import SHIPPED_MODEL; print(SHIPPED_MODEL)",
        ],
        cwd=elsewhere,
        env=clean_env(),
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert "site-packages" in where and not where.startswith(str(ROOT))
    result = subprocess.run(
        [
            str(installed / "neuraltunes-live"),
            "generate",
            "--phrase",
            "phrase.mid",
            "--out",
            "answer.mid",
            "--bars",
            "2",
            "--random-seed",
            "1",
        ],
        cwd=elsewhere,
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert len(read_midi(elsewhere / "answer.mid").notes) > 5


def test_the_installed_wheel_serves_with_its_own_model(installed, tmp_path):
    # No MIDI system to open here on purpose: the model is loaded first, then
    # the ports fail with their one line, which shows the model was found.
    env = dict(clean_env(), JACK_DEFAULT_SERVER="no-such-server-here", JACK_NO_START_SERVER="1")
    result = subprocess.run(
        [str(installed / "neuraltunes-live"), "serve", "--backend", "jack"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1, result.stderr
    assert "Error: cannot open MIDI" in result.stderr and "model" not in result.stderr.lower()
    assert "Traceback" not in result.stderr
