"""``generate``: continue a MIDI file into a new one, with nothing left open."""

import mido
import pytest
from click.testing import CliRunner

from neuraltunes_live.cli import main
from neuraltunes_live.midifile import read_midi

from .conftest import midi_track, off, on, save_midi, tempo


@pytest.fixture
def seed_file(tmp_path):
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


def test_generate_writes_seed_and_continuation_tracks(seed_file, random_model_dir, tmp_path):
    out = tmp_path / "out.mid"
    result = run("--seed", seed_file, "--out", out, "--model", random_model_dir, "--bars", 2, "--random-seed", 5)
    assert result.exit_code == 0, result.output
    midi = mido.MidiFile(out)
    assert [t.name for t in midi.tracks] == ["seed", "continuation"]
    assert open_notes(out) == set()
    piece = read_midi(out)
    assert piece.tempo_bpm == pytest.approx(96)  # the seed file's tempo
    seed_end = 8 * 6  # eight eighth notes, in ticks
    later = piece.notes[piece.notes[:, 0] >= seed_end]
    assert len(later) > 0 and later[:, 0].max() < seed_end + 2 * 48
    assert "random seed 5" in result.output


def test_same_random_seed_same_file_and_variations_differ(seed_file, random_model_dir, tmp_path):
    a, b = tmp_path / "a.mid", tmp_path / "b.mid"
    for out in (a, b):
        assert run("--seed", seed_file, "--out", out, "--model", random_model_dir, "--random-seed", 9).exit_code == 0
    assert a.read_bytes() == b.read_bytes()
    result = run("--seed", seed_file, "--out", tmp_path / "v.mid", "--model", random_model_dir, "--variations", 3)
    assert result.exit_code == 0, result.output
    files = [tmp_path / f"v-{i}.mid" for i in (1, 2, 3)]
    assert all(f.exists() for f in files)
    assert len({f.read_bytes() for f in files}) == 3


def test_plot_and_style_and_key(seed_file, random_model_dir, tmp_path):
    out, png = tmp_path / "o.mid", tmp_path / "roll.png"
    result = run("--seed", seed_file, "--out", out, "--model", random_model_dir, "--style", "structured",
                 "--key", "D major", "--plot", png, "--temperature", 0.9)
    assert result.exit_code == 0, result.output
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    piece = read_midi(out)
    later = piece.notes[piece.notes[:, 0] >= 48]
    assert not {p % 12 for p in later[:, 1]} - {2, 4, 6, 7, 9, 11, 1}


@pytest.mark.parametrize(
    "args, message",
    [
        (["--style", "wild"], "generate.style must be one of balanced, creative, structured"),
        (["--key", "H"], "unknown key 'H'"),
        (["--temperature", "0"], "--temperature must be from 0.05 to 5"),
        (["--bars", "0"], "generate.bars must be from 1 to 256"),
    ],
)
def test_bad_options_give_one_line(seed_file, random_model_dir, tmp_path, args, message):
    result = run("--seed", seed_file, "--out", tmp_path / "x.mid", "--model", random_model_dir, *args)
    assert result.exit_code != 0
    assert message in result.output


def test_a_seed_that_is_not_midi_is_named(random_model_dir, tmp_path):
    bad = tmp_path / "bad.mid"
    bad.write_bytes(b"MThd junk")
    result = run("--seed", bad, "--out", tmp_path / "x.mid", "--model", random_model_dir)
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
    result = run("--seed", path, "--out", out, "--model", random_model_dir, "--bars", 2, "--random-seed", 1)
    if "no notes to continue" in result.output:
        return  # a file of drums or meta events only is refused with a clear line
    assert result.exit_code == 0, result.output
    assert open_notes(out) == set()
    assert len(read_midi(out).notes) > 0
