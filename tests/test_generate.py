"""``generate``: continue a MIDI file into a new one, with nothing left open."""

import os

import mido
import pytest
from click.testing import CliRunner

from neuraltunes_live.cli import main
from neuraltunes_live.data.midifile import read_midi

from .conftest import midi_track, off, on, save_midi, tempo


@pytest.fixture
def phrase_file(tmp_path):
    events = [tempo(0, 96)]
    for pitch in (62, 66, 69, 74, 73, 71, 69, 66):
        events += [on(0, pitch), off(240, pitch)]
    return save_midi(tmp_path / "phrase.mid", midi_track(*events))


def open_notes(path):
    sounding = set()
    for msg in mido.merge_tracks(mido.MidiFile(path).tracks):
        if msg.type == "note_on" and msg.velocity > 0:
            sounding.add((msg.channel, msg.note))
        elif msg.type in ("note_on", "note_off"):
            sounding.discard((msg.channel, msg.note))
    return sounding


def run(*args):
    return CliRunner().invoke(main, ["generate", *map(str, args)])


def test_generate_writes_phrase_and_continuation_tracks(phrase_file, random_model_dir, tmp_path):
    out = tmp_path / "out.mid"
    result = run("--phrase", phrase_file, "--out", out, "--model", random_model_dir, "--bars", 2, "--random-seed", 5)
    assert result.exit_code == 0, result.output
    midi = mido.MidiFile(out)
    assert [t.name for t in midi.tracks] == ["phrase", "continuation"]
    assert open_notes(out) == set()
    piece = read_midi(out)
    assert piece.tempo_bpm == pytest.approx(96)  # the phrase file's tempo
    phrase_end = 8 * 6  # eight eighth notes, in ticks
    later = piece.notes[piece.notes[:, 0] >= phrase_end]
    assert len(later) > 0 and later[:, 0].max() < phrase_end + 2 * 48
    assert "random seed 5" in result.output


def test_same_random_seed_same_file_and_variations_differ(phrase_file, random_model_dir, tmp_path):
    a, b = tmp_path / "a.mid", tmp_path / "b.mid"
    for out in (a, b):
        assert (
            run("--phrase", phrase_file, "--out", out, "--model", random_model_dir, "--random-seed", 9).exit_code == 0
        )
    assert a.read_bytes() == b.read_bytes()
    result = run("--phrase", phrase_file, "--out", tmp_path / "v.mid", "--model", random_model_dir, "--variations", 3)
    assert result.exit_code == 0, result.output
    files = [tmp_path / f"v-{i}.mid" for i in (1, 2, 3)]
    assert all(f.exists() for f in files)
    assert len({f.read_bytes() for f in files}) == 3


def test_plot_and_style_and_key(phrase_file, random_model_dir, tmp_path):
    out, png = tmp_path / "o.mid", tmp_path / "roll.png"
    result = run(
        "--phrase",
        phrase_file,
        "--out",
        out,
        "--model",
        random_model_dir,
        "--style",
        "structured",
        "--key",
        "D major",
        "--plot",
        png,
        "--temperature",
        0.9,
    )
    assert result.exit_code == 0, result.output
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    piece = read_midi(out)
    later = piece.notes[piece.notes[:, 0] >= 48]
    assert not {p % 12 for p in later[:, 1]} - {2, 4, 6, 7, 9, 11, 1}


@pytest.mark.parametrize(
    "args, status, message",
    [
        (["--style", "wild"], 2, "Invalid value for '--style': 'wild' is not one of 'balanced', 'creative'"),
        (["--key", "H"], 1, "unknown key 'H'"),
        (["--temperature", "0"], 2, "Invalid value for '--temperature': 0.0 is not in the range 0.05<=x<=5"),
        (["--bars", "0"], 2, "Invalid value for '--bars': 0 is not in the range 1<=x<=256"),
    ],
)
def test_bad_options_give_one_line(phrase_file, random_model_dir, tmp_path, args, status, message):
    result = run("--phrase", phrase_file, "--out", tmp_path / "x.mid", "--model", random_model_dir, *args)
    assert result.exit_code == status and not isinstance(result.exception, (TypeError, ValueError, KeyError))
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ") and message in lines[0]
    assert not (tmp_path / "x.mid").exists()


def test_a_seed_that_is_not_midi_is_named(random_model_dir, tmp_path):
    bad = tmp_path / "bad.mid"
    bad.write_bytes(b"MThd junk")
    result = run("--phrase", bad, "--out", tmp_path / "x.mid", "--model", random_model_dir)
    assert result.exit_code == 1
    assert "bad.mid" in result.output and not (tmp_path / "x.mid").exists()


def music21_midi_files():
    import importlib.util
    from pathlib import Path

    spec = importlib.util.find_spec("music21")
    if spec is None:
        return []
    return sorted((Path(spec.origin).parent / "midi" / "testPrimitive").glob("*.mid"))


@pytest.mark.corpus
@pytest.mark.parametrize("path", music21_midi_files(), ids=lambda p: p.name)
def test_continues_midi_files_written_by_others(path, random_model_dir, tmp_path):
    # music21's own MIDI test files: format 0 and 1, odd tempos, chords, drums.
    out = tmp_path / "out.mid"
    result = run("--phrase", path, "--out", out, "--model", random_model_dir, "--bars", 2, "--random-seed", 1)
    if "no notes to continue" in result.output:
        # A file of drums or meta events only is refused with one clear line, and nothing is written.
        assert result.exit_code == 1 and result.output.strip() == f"Error: {path}: no notes to continue"
        assert not out.exists()
        return
    assert result.exit_code == 0, result.output
    assert open_notes(out) == set()
    assert len(read_midi(out).notes) > 0


def test_out_naming_a_folder_is_one_line(phrase_file, random_model_dir, tmp_path):
    result = run("--phrase", phrase_file, "--out", tmp_path, "--model", random_model_dir)
    assert result.exit_code == 1 and "it is a folder" in result.output
    assert "Traceback" not in result.output


def test_a_folder_that_cannot_be_written_is_one_line_before_any_work(
    phrase_file, random_model_dir, tmp_path, monkeypatch
):
    # As the system answers for a read-only disk (EROFS) or a folder of someone else's.
    import neuraltunes_live.files as files

    monkeypatch.setattr(files.os, "access", lambda path, mode: not mode & os.W_OK)
    reads = []
    monkeypatch.setattr("neuraltunes_live.offline.generate.read_midi", lambda path: reads.append(path))
    result = run("--phrase", phrase_file, "--out", tmp_path / "x.mid", "--model", random_model_dir)
    assert result.exit_code == 1 and "is not writable" in result.output
    assert reads == []  # refused before the phrase was even read


def test_an_os_error_while_writing_is_one_line_and_leaves_nothing(phrase_file, random_model_dir, tmp_path, monkeypatch):
    import neuraltunes_live.data.midifile as midifile

    def full_disk(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(midifile, "save_midifile", full_disk)
    result = run("--phrase", phrase_file, "--out", tmp_path / "x.mid", "--model", random_model_dir)
    assert result.exit_code == 1
    assert f"cannot write {tmp_path / 'x.mid'}: No space left on device" in result.output
    assert "Traceback" not in result.output and not (tmp_path / "x.mid").exists()


@pytest.mark.parametrize(
    "plot, message",
    [("missing/roll.png", "folder"), ("roll.mid", "must end in .png or .svg or .pdf")],
)
def test_a_bad_plot_path_is_refused_before_the_midi_is_written(phrase_file, random_model_dir, tmp_path, plot, message):
    out = tmp_path / "x.mid"
    result = run("--phrase", phrase_file, "--out", out, "--model", random_model_dir, "--plot", tmp_path / plot)
    assert result.exit_code == 1 and message in result.output
    assert not out.exists()


def test_variations_have_an_upper_bound(phrase_file, random_model_dir, tmp_path):
    result = run("--phrase", phrase_file, "--out", tmp_path / "v.mid", "--model", random_model_dir, "--variations", 101)
    assert result.exit_code == 2 and "1<=x<=100" in result.output
    assert list(tmp_path.glob("v-*.mid")) == []


@pytest.mark.parametrize("us_per_beat, bpm", [(0, 1000), (1, 1000), (16_777_215, 10)])
def test_tempos_out_of_range_are_read_within_it_with_a_warning(random_model_dir, tmp_path, us_per_beat, bpm):
    events = [(0, "set_tempo", {"tempo": us_per_beat})]
    for pitch in (60, 62, 64):
        events += [on(0, pitch), off(240, pitch)]
    phrase = save_midi(tmp_path / "odd.mid", midi_track(*events))
    out = tmp_path / "out.mid"
    result = run("--phrase", phrase, "--out", out, "--model", random_model_dir, "--bars", 1, "--random-seed", 1)
    assert result.exit_code == 0, result.output
    assert f"warning: {phrase}: tempo" in result.output and f"read as {bpm} BPM" in result.output
    assert read_midi(out).tempo_bpm == pytest.approx(bpm)


def test_the_phrase_has_one_name(phrase_file, random_model_dir, tmp_path):
    result = run("--seed", phrase_file, "--out", tmp_path / "x.mid", "--model", random_model_dir, "--bars", 1)
    assert result.exit_code == 2 and "No such option '--seed'" in result.output
    assert not (tmp_path / "x.mid").exists()
