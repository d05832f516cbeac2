"""``prepare`` end to end: bad files, duplicates, the cache, interrupts, corpora."""

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from click.testing import CliRunner

from neuraltunes_live.cli import main
from neuraltunes_live.config import PrepareSettings
from neuraltunes_live.data import dataset
from neuraltunes_live.data import prepare as preparing
from neuraltunes_live.data.prepare import prepare
from neuraltunes_live.data.score_import import corpus_files
from neuraltunes_live.errors import DataError

from .conftest import midi_track, off, on, save_midi


def tune_file(path, pitches, step=480):
    events = []
    for pitch in pitches:
        events += [on(0, pitch), off(step, pitch)]
    return save_midi(path, midi_track(*events))


@pytest.fixture
def folder(tmp_path):
    """Five different tunes, one transposed duplicate, and three bad files."""
    songs = tmp_path / "songs"
    (songs / "sub").mkdir(parents=True)
    for i in range(5):
        tune_file(songs / f"tune{i}.mid", [60 + i, 64, 67 - i, 72, 60 + 2 * i])
    tune_file(songs / "sub" / "tune0_up.mid", [65, 69, 72, 77, 65])  # tune0 a fourth up
    good = (songs / "tune1.mid").read_bytes()
    (songs / "broken.mid").write_bytes(good[: len(good) - 10])
    (songs / "empty.mid").write_bytes(b"")
    (songs / "notes.txt").write_text("not music")
    (songs / ".hidden.mid").write_bytes(b"ignored: hidden")
    return songs


def options(tmp_path, **kw):
    return PrepareSettings(cache_dir=str(tmp_path / "cache"), workers=1, **kw)


def test_folder_with_bad_files_prepares_the_good_ones(tmp_path, folder):
    report = prepare([str(folder)], tmp_path / "data", options(tmp_path))
    reasons = {r.label.split("/")[-1]: r.reason for r in report.skipped}
    assert reasons == {
        "broken.mid": "truncated MIDI file: it ends in the middle of a chunk",
        "empty.mid": "empty file",
        "notes.txt": "not a music file (.txt file)",
    }
    assert report.counts.pieces_found == 6
    assert report.counts.duplicates_removed == 1
    assert report.counts.pieces == 5
    assert report.counts.notes == 25
    assert report.splits == {"train": 3, "validation": 1, "test": 1}

    manifest = dataset.read_manifest(tmp_path / "data")
    # Files are read in sorted path order and the first copy is kept.
    assert manifest.duplicates == (dataset.Duplicate(str(folder / "tune0.mid"), str(folder / "sub" / "tune0_up.mid")),)
    statuses = {Path_name(f.source): f.status for f in manifest.files}
    assert statuses["broken.mid"] == "skipped" and statuses["tune3.mid"] == "ok"
    everything = sum((list(manifest.pieces[s]) for s in dataset.SPLITS), [])
    assert sorted(Path_name(n) for n in everything) == ["tune0_up.mid"] + [f"tune{i}.mid" for i in range(1, 5)]
    train = dataset.read_split(tmp_path / "data", "train")
    assert train.notes.tolist() == [5, 5, 5] and len(train.tokens) == train.offsets[-1]


def Path_name(label):
    return label.rsplit("/", 1)[-1]


def test_summary_names_each_skipped_file_and_exits_zero(tmp_path, folder):
    result = CliRunner().invoke(
        main, ["prepare", str(folder), "--out", str(tmp_path / "d"), "--workers", "1", "--no-cache"]
    )
    assert result.exit_code == 0, result.output
    assert "pieces     5 kept of 6 (1 duplicates removed)" in result.output
    assert f"{folder / 'broken.mid'}: truncated MIDI file" in result.output
    assert f"{folder / 'empty.mid'}: empty file" in result.output
    assert f"{folder / 'notes.txt'}: not a music file (.txt file)" in result.output


def test_nothing_usable_is_an_error_naming_the_reasons(tmp_path):
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "a.mid").write_bytes(b"")
    (bad / "b.txt").write_text("x")
    result = CliRunner().invoke(main, ["prepare", str(bad), str(tmp_path / "nope"), "--out", str(tmp_path / "d")])
    assert result.exit_code == 1
    assert "Error: nothing prepared: no file gave any notes" in result.output
    assert "a.mid: empty file" in result.output and "nope: no such file, folder" in result.output
    assert not (tmp_path / "d").exists()


def test_second_run_is_served_from_the_cache_and_gives_the_same_data(tmp_path, folder):
    first = prepare([str(folder)], tmp_path / "d1", options(tmp_path))
    second = prepare([str(folder)], tmp_path / "d2", options(tmp_path))
    assert first.counts.files_cached == 0
    assert second.counts.files_cached == 6  # the good files; bad ones are read again
    for split in dataset.SPLITS:
        a, b = dataset.read_split(tmp_path / "d1", split), dataset.read_split(tmp_path / "d2", split)
        assert np.array_equal(a.tokens, b.tokens) and a.names == b.names


def test_an_edited_file_is_read_again(tmp_path, folder):
    prepare([str(folder)], tmp_path / "d", options(tmp_path))
    tune_file(folder / "tune2.mid", [40, 41, 42])
    report = prepare([str(folder)], tmp_path / "d", options(tmp_path))
    assert report.counts.files_cached == 5 and report.counts.notes == 23


def test_damaged_cache_entries_are_read_again(tmp_path, folder):
    prepare([str(folder)], tmp_path / "d", options(tmp_path))
    for entry in (tmp_path / "cache").rglob("*.npz"):
        entry.write_bytes(b"garbage")
    report = prepare([str(folder)], tmp_path / "d", options(tmp_path))
    assert report.counts.files_cached == 0 and report.counts.pieces == 5


def test_parallel_workers_give_the_same_result(tmp_path, folder):
    prepare([str(folder)], tmp_path / "one", options(tmp_path, random_seed=3))
    prepare([str(folder)], tmp_path / "two", PrepareSettings(workers=2, random_seed=3), use_cache=False)
    one = json.loads((tmp_path / "one" / "manifest.json").read_text())
    two = json.loads((tmp_path / "two" / "manifest.json").read_text())
    assert one["pieces"] == two["pieces"] and one["counts"]["notes"] == two["counts"]["notes"]


def test_interrupt_while_writing_leaves_the_old_data_and_no_debris(tmp_path, folder, monkeypatch):
    out = tmp_path / "data"
    prepare([str(folder)], out, options(tmp_path))
    before = {p.name: p.read_bytes() for p in out.iterdir()}

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(dataset, "write_split", interrupted)
    result = CliRunner().invoke(main, ["prepare", str(folder), "--out", str(out), "--workers", "1", "--no-cache"])
    assert result.exit_code == 130
    assert "Interrupted; nothing half-written was left behind." in result.output
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cache", "data", "songs"]


def test_interrupt_during_import_writes_nothing(tmp_path, folder, monkeypatch):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(preparing, "import_file", interrupted)
    with pytest.raises(KeyboardInterrupt):
        prepare([str(folder)], tmp_path / "data", options(tmp_path))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["songs"]


def test_refuses_to_replace_a_folder_that_is_not_prepared_data(tmp_path, folder):
    precious = tmp_path / "precious"
    precious.mkdir()
    (precious / "thesis.tex").write_text("years of work")
    with pytest.raises(DataError, match="exists and is not prepared data"):
        prepare([str(folder)], precious, options(tmp_path))
    assert (precious / "thesis.tex").read_text() == "years of work"


def test_refuses_to_replace_a_file(tmp_path, folder):
    song = tmp_path / "song.mid"
    song.write_bytes(b"keep me")
    with pytest.raises(DataError, match="exists and is not a folder"):
        prepare([str(folder)], song, options(tmp_path))
    assert song.read_bytes() == b"keep me"


def test_split_seed_is_recorded_and_changes_the_split(tmp_path, folder):
    for i in range(5, 15):
        tune_file(folder / f"more{i}.mid", [50 + i, 55, 48 + i, 62])
    a = prepare([str(folder)], tmp_path / "a", options(tmp_path, random_seed=1))
    b = prepare([str(folder)], tmp_path / "b", options(tmp_path, random_seed=2))
    assert dataset.read_manifest(tmp_path / "a").options.random_seed == 1
    ma, mb = (dataset.read_manifest(tmp_path / x).pieces for x in "ab")
    assert a.splits == b.splits and ma != mb


@pytest.mark.corpus
def test_music21_corpus_subset(tmp_path):
    report = prepare(["music21:bach/bwv10*"], tmp_path / "bach", options(tmp_path, random_seed=5))
    assert report.counts.files == len(corpus_files("music21:bach/bwv10*")) >= 5
    assert not report.skipped
    assert report.splits["test"] >= 1 and report.splits["validation"] >= 1
    manifest = dataset.read_manifest(tmp_path / "bach")
    assert manifest.sources == ("music21:bach/bwv10*",)
    assert all(n.startswith("music21:bach/bwv10") for n in manifest.pieces["train"])
    again = prepare(["music21:bach/bwv10*"], tmp_path / "bach", options(tmp_path, random_seed=5))
    assert again.counts.files_cached == report.counts.files


SIGNAL_MID_WRITE = """
import os, signal, sys
from neuraltunes_live.data import dataset
from neuraltunes_live.cli import main

# As in a terminal, even when the test runner's shell ignores SIGINT.
signal.signal(signal.SIGINT, signal.default_int_handler)
real_write = dataset.write_split
def write_then_signal(path, *args):
    real_write(path, *args)  # one split file is on disk when the signal comes
    os.kill(os.getpid(), getattr(signal, sys.argv[1]))
dataset.write_split = write_then_signal
main(sys.argv[2:])
"""


@pytest.mark.parametrize("signal_name", ["SIGINT", "SIGTERM"])
def test_signal_while_writing_leaves_no_partial_folder(tmp_path, folder, signal_name):
    out = tmp_path / "data"
    args = ["prepare", str(folder), "--out", str(out), "--workers", "1", "--no-cache"]
    done = subprocess.run(
        [sys.executable, "-c", SIGNAL_MID_WRITE, signal_name, *args],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 130, done.stderr
    assert "Interrupted; nothing half-written was left behind." in done.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["songs"]


def test_the_split_is_drawn_with_the_random_seed_given(tmp_path, folder):
    out = tmp_path / "d"
    result = CliRunner().invoke(
        main, ["prepare", str(folder), "--out", str(out), "--random-seed", "7", "--no-cache", "--workers", "1"]
    )
    assert result.exit_code == 0, result.output
    assert dataset.read_manifest(out).options.random_seed == 7
    result = CliRunner().invoke(main, ["prepare", str(folder), "--out", str(out), "--seed", "7"])
    assert result.exit_code == 2 and "No such option '--seed'" in result.output  # one name for it


@pytest.mark.corpus
@pytest.mark.parametrize("how", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_stopping_prepare_prints_one_clean_line_and_no_worker_traceback(tmp_path, how):
    out = tmp_path / "d"
    env = dict(os.environ, NEURALTUNES_PREPARE_CACHE_DIR=str(tmp_path / "cache"))
    process = subprocess.Popen(
        # Bach and Palestrina's 1,318 small files: more than the 6 s below can import, however warm
        # music21's own cache is, and no file so long that a worker holds up the stop.
        [
            sys.executable,
            "-m",
            "neuraltunes_live",
            "prepare",
            "music21:bach",
            "music21:palestrina",
            "--out",
            str(out),
            "--workers",
            "2",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    time.sleep(6)  # the pool is importing by now
    process.send_signal(how)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130, stderr
    assert "Traceback" not in stderr and "KeyboardInterrupt" not in stderr, stderr
    assert "Interrupted; nothing half-written was left behind." in stderr
    assert not out.exists()
