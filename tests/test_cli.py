"""The command line: help, and errors as one line."""

import subprocess
import sys

import pytest
from click.testing import CliRunner

from neuraltunes_live.cli import main

HEAVY = "('music21', 'mido', 'tensorflow', 'keras', 'matplotlib')"


@pytest.mark.parametrize(
    "command", [[], ["prepare"], ["train"], ["evaluate"], ["generate"], ["serve"], ["ports"], ["play"], ["record"]]
)
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
        f"Error: {config}: prepare.workers must be 0 (one per core) to 256, got -1"
    ]


def test_prepare_needs_out():
    result = CliRunner().invoke(main, ["prepare", "x"])
    assert result.exit_code == 2
    assert result.output.splitlines() == ["Error: Missing option '--out' (see 'main prepare --help')"]


@pytest.mark.parametrize(
    "command, flag, dotted",
    [
        ("serve", "--tempo", "live.tempo"),
        ("serve", "--start", "live.start"),
        ("serve", "--bars", "live.bars"),
        ("serve", "--backend", "live.backend"),
        ("generate", "--bars", "generate.bars"),
        ("generate", "--style", "generate.style"),
        ("prepare", "--workers", "prepare.workers"),
        ("generate", "--tempo", "live.tempo"),
        ("play", "--tempo", "live.tempo"),
    ],
)
def test_an_option_takes_the_values_its_setting_allows(command, flag, dotted):
    from neuraltunes_live.config import setting

    option = next(p for p in main.commands[command].params if flag in p.opts)
    rule = setting(dotted).rule
    if rule.choices:
        assert tuple(option.type.choices) == rule.choices
    else:
        assert (option.type.min, option.type.max) == (rule.low, rule.high)
    refused = "later" if rule.choices else str(rule.high + 1)
    result = CliRunner().invoke(main, [command, flag, refused])
    assert result.exit_code == 2 and f"Invalid value for '{flag}'" in result.output


def test_play_names_a_broken_file_before_opening_any_port(tmp_path):
    broken = tmp_path / "phrase.mid"
    broken.write_bytes(b"MThd\x00\x00\x00\x06\x00\x01\x00\x02\x01\xe0MTrk\x00\x00\x01\x00\x90")
    result = CliRunner().invoke(main, ["play", str(broken), "--to", "NeuralTunes In"])
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [
        f"Error: {broken}: truncated MIDI file: it ends in the middle of a chunk"
    ]


@pytest.mark.parametrize("seconds", ["0", "86401"])
def test_record_refuses_a_length_out_of_range(tmp_path, seconds):
    out = tmp_path / "take.mid"
    result = CliRunner().invoke(main, ["record", "--from", "x", "--out", str(out), "--seconds", seconds])
    assert result.exit_code == 2
    assert "Invalid value for '--seconds'" in result.output and "0<x<=86400" in result.output
    assert not out.exists()


def test_serve_without_a_midi_system_says_what_to_start(monkeypatch, tmp_path):
    # A JACK server name nobody runs: as on a machine with no JACK and no ALSA sequencer.
    monkeypatch.setenv("JACK_DEFAULT_SERVER", "ntlive-nobody-runs-this")
    monkeypatch.setenv("JACK_NO_START_SERVER", "1")
    config = tmp_path / "empty.toml"
    config.write_text("")
    result = CliRunner().invoke(main, ["serve", "--backend", "jack", "--config", str(config)])
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: cannot open MIDI (jack: ")
    assert "no JACK server is running: start one (jackd -d dummy &" in lines[0]


@pytest.fixture
def unwritable(monkeypatch):
    """Every folder reads as unwritable, as on a read-only disk (root may write anywhere else)."""
    import os

    import neuraltunes_live.files as files

    monkeypatch.setattr(files.os, "access", lambda path, mode: not mode & os.W_OK)


@pytest.mark.parametrize(
    "args",
    [
        ["prepare", "{tmp}/nothing", "--out", "{tmp}/data"],
        ["record", "--from", "NeuralTunes Out", "--out", "{tmp}/take.mid", "--seconds", "1"],
        ["evaluate", "{tmp}/model", "{tmp}/data", "--json", "{tmp}/eval.json"],
        ["fit-memory", "{tmp}/model", "{tmp}/data"],
    ],
    ids=["prepare", "record", "evaluate", "fit-memory"],
)
def test_an_output_that_cannot_be_written_is_one_line_before_any_work(args, tmp_path, unwritable, random_model_dir):
    import shutil

    shutil.copytree(random_model_dir, tmp_path / "model")
    result = CliRunner().invoke(main, [a.format(tmp=tmp_path) for a in args])
    assert result.exit_code == 1, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and "is not writable" in lines[0], result.output


def test_train_without_tensorflow_says_what_to_install(tiny_data, tmp_path):
    # As if TensorFlow and Keras were not installed: importing them fails.
    code = (
        "import sys; sys.modules['tensorflow'] = None; sys.modules['keras'] = None\n"
        "from neuraltunes_live.cli import main\n"
        f"main(['train', {str(tiny_data)!r}, '--out', {str(tmp_path / 'm')!r}, '--preset', 'tiny'])\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "Error: training needs TensorFlow (keras is missing): pip install 'neuraltunes-live[train]'"
    ]
    assert not (tmp_path / "m").exists()


@pytest.mark.parametrize("us_per_beat, gap", [(0, 0.06), (1, 0.06), (16_777_215, 6.0)])
def test_play_reads_tempos_out_of_range_as_generate_does(tmp_path, us_per_beat, gap):
    # A tempo of 0 used to stop `play --tempo` with ZeroDivisionError; 1 µs a beat played everything at once.
    from neuraltunes_live.data.midifile import timed_messages

    from .conftest import midi_track, off, on, save_midi
    from .fakes import log_lines

    path = save_midi(
        tmp_path / "odd.mid",
        midi_track((0, "set_tempo", {"tempo": us_per_beat}), on(0, 60), off(480, 60), on(0, 62), off(480, 62)),
    )
    warnings = log_lines()
    times = [t for t, m in timed_messages(path) if m[0] == 0x90]
    assert times[1] - times[0] == pytest.approx(gap)  # a beat at 1000 or at 10 BPM
    assert len(warnings) == 1 and warnings[0].startswith(f"warning: {path}: tempo") and "BPM; read as" in warnings[0]
    at_120 = [t for t, m in timed_messages(path, tempo_bpm=120) if m[0] == 0x90]
    assert at_120[1] - at_120[0] == pytest.approx(0.5)


def test_play_names_a_file_with_no_ticks_per_beat(tmp_path):
    from neuraltunes_live.data.midifile import timed_messages
    from neuraltunes_live.errors import ImportFailed

    path = tmp_path / "zero.mid"
    path.write_bytes(b"MThd\x00\x00\x00\x06\x00\x00\x00\x00\x00\x00")
    with pytest.raises(ImportFailed, match="0 ticks per beat"):
        timed_messages(path)
