"""MIDI file import and export, malformed files included.

Every import test runs twice: as ``read_midi`` reads (symusic where it can
vouch for its notes, else mido) and through mido alone, so both hold the rules.
"""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from neuraltunes_live.core.encoding import BIN_VELOCITY, normalize
from neuraltunes_live.data.midifile import parse_midi, read_midi, write_midi
from neuraltunes_live.errors import ImportFailed

from .conftest import midi_track, notes, off, on, save_midi, tempo

PPQ = 480
TICK = PPQ // 12  # MIDI ticks per grid tick


@pytest.fixture(autouse=True, params=["as read", "mido alone"])
def reader(request, monkeypatch):
    if request.param == "mido alone":
        from neuraltunes_live.data import midifile

        monkeypatch.setattr(midifile, "fast_piece", lambda *args, **kwargs: None)
    return request.param


def test_ordinary_files_are_read_by_symusic(melody_file, tmp_path, reader):
    from neuraltunes_live.data.midifile import fast_piece

    repeats = save_midi(tmp_path / "r.mid", midi_track(on(0, 60), off(PPQ, 60), on(0, 60), off(PPQ, 60)))
    for path in (melody_file(), repeats):
        assert (fast_piece(path.read_bytes()) is not None) == (reader == "as read")


def pitches_and_times(piece):
    return piece.notes[:, :3].tolist()


def test_simple_melody(melody_file):
    piece = read_midi(melody_file())
    assert pitches_and_times(piece) == [[0, 60, 12], [12, 62, 12], [24, 64, 12], [36, 65, 12]]
    assert piece.notes[:, 3].tolist() == [100] * 4
    assert piece.name == "melody"


def test_format_0_and_format_1_give_the_same_notes(tmp_path):
    events = [on(0, 60), on(0, 64), off(PPQ, 60), off(0, 64), on(0, 67), off(PPQ, 67)]
    fmt0 = save_midi(tmp_path / "a.mid", midi_track(tempo(0, 100), *events), type=0)
    fmt1 = save_midi(
        tmp_path / "b.mid",
        midi_track(tempo(0, 100)),
        midi_track(*events[:4]),
        midi_track(on(PPQ, 67), off(PPQ, 67)),
    )
    a, b = read_midi(fmt0), read_midi(fmt1)
    assert np.array_equal(a.notes, b.notes)
    assert pitches_and_times(a) == [[0, 60, 12], [0, 64, 12], [12, 67, 12]]
    assert a.tempo_bpm == b.tempo_bpm == pytest.approx(100)


def test_tracks_do_not_steal_each_others_note_offs(tmp_path):
    # Both tracks play pitch 60 on channel 0, overlapping in time.
    path = save_midi(
        tmp_path / "x.mid",
        midi_track(on(0, 60), off(4 * PPQ, 60)),
        midi_track(on(PPQ, 60), off(PPQ, 60)),
    )
    assert pitches_and_times(read_midi(path)) == [[0, 60, 48], [12, 60, 12]]


def test_tempo_changes_mid_piece_keep_notes_on_their_beats(tmp_path):
    path = save_midi(
        tmp_path / "t.mid",
        midi_track(tempo(0, 120), tempo(2 * PPQ, 60), tempo(PPQ, 200)),
        midi_track(*[ev for i in range(5) for ev in (on(0, 60 + i), off(PPQ, 60 + i))]),
    )
    piece = read_midi(path)
    assert piece.notes[:, 0].tolist() == [0, 12, 24, 36, 48]
    assert piece.tempo_bpm == pytest.approx(120)


def test_smpte_division_goes_to_beats_through_the_tempo_map(tmp_path):
    # 25 frames x 40 ticks = 1000 ticks a second; 120 bpm then 60 bpm from 1 s.
    division = (-25 << 8) | 40
    path = save_midi(
        tmp_path / "smpte.mid",
        midi_track(tempo(0, 120), tempo(1000, 60)),
        midi_track(on(0, 60), off(500, 60), on(500, 62), off(1000, 62)),
        ticks_per_beat=division,
    )
    # 0.5 s = 1 beat at 120; pitch 62 starts at 1 s = beat 2 and lasts 1 s = 1 beat at 60.
    assert pitches_and_times(read_midi(path)) == [[0, 60, 12], [24, 62, 12]]


def test_drums_are_left_out_unless_asked_for(tmp_path):
    path = save_midi(
        tmp_path / "d.mid",
        midi_track(on(0, 36, channel=9), off(PPQ, 36, channel=9), on(0, 60), off(PPQ, 60)),
    )
    assert pitches_and_times(read_midi(path)) == [[12, 60, 12]]
    assert pitches_and_times(read_midi(path, include_drums=True)) == [[0, 36, 12], [12, 60, 12]]


def test_drums_only_file_says_so(tmp_path):
    path = save_midi(tmp_path / "d.mid", midi_track(on(0, 36, channel=9), off(PPQ, 36, channel=9)))
    with pytest.raises(ImportFailed, match=r"no notes \(only 1 drum notes on channel 10\)"):
        read_midi(path)


def test_note_on_with_velocity_zero_is_a_note_off(tmp_path):
    path = save_midi(tmp_path / "v.mid", midi_track(on(0, 60), on(PPQ, 60, 0), on(0, 62), on(PPQ, 62, 0)))
    assert pitches_and_times(read_midi(path)) == [[0, 60, 12], [12, 62, 12]]


def test_overlapping_same_pitch_ends_the_first_note(tmp_path):
    path = save_midi(tmp_path / "o.mid", midi_track(on(0, 60), on(PPQ, 60), off(PPQ, 60), off(PPQ, 60)))
    # The second note-on ends the first; the first note-off ends the second; the last is ignored.
    assert pitches_and_times(read_midi(path)) == [[0, 60, 12], [12, 60, 12]]


def test_a_repeated_note_written_note_on_first_keeps_its_length(tmp_path):
    # The note-on of the repeat comes before the first note's note-off at the same tick: that
    # note-off is the first note's, so the repeat lasts until its own.
    repeat = midi_track(on(0, 60), on(PPQ, 60), off(0, 60), off(PPQ, 60))
    assert pitches_and_times(read_midi(save_midi(tmp_path / "r.mid", repeat))) == [[0, 60, 12], [12, 60, 12]]
    usual = midi_track(on(0, 60), off(PPQ, 60), on(0, 60), off(PPQ, 60))
    assert pitches_and_times(read_midi(save_midi(tmp_path / "u.mid", usual))) == [[0, 60, 12], [12, 60, 12]]


def test_zero_length_note_keeps_one_tick(tmp_path):
    path = save_midi(tmp_path / "z.mid", midi_track(on(0, 60), off(0, 60), on(PPQ, 62), off(PPQ, 62)))
    assert pitches_and_times(read_midi(path)) == [[0, 60, 1], [12, 62, 12]]


def test_note_never_switched_off_ends_with_its_track(tmp_path):
    path = save_midi(
        tmp_path / "n.mid",
        midi_track(on(0, 60), on(0, 64), off(2 * PPQ, 64), (PPQ, "end_of_track", {})),
    )
    assert pitches_and_times(read_midi(path)) == [[0, 60, 36], [0, 64, 24]]


def test_off_grid_and_triplet_timing_snap_to_the_grid(tmp_path):
    third = PPQ // 3
    events = [on(0, 60), off(third, 60), on(0, 62), off(third, 62), on(0, 64), off(third, 64)]
    events += [on(7, 65), off(PPQ - 7, 65)]  # 7 MIDI ticks late: snaps back onto the beat
    path = save_midi(tmp_path / "g.mid", midi_track(*events))
    assert pitches_and_times(read_midi(path)) == [[0, 60, 4], [4, 62, 4], [8, 64, 4], [12, 65, 12]]


def test_running_status_is_read(tmp_path):
    header = b"MThd" + (6).to_bytes(4, "big") + (0).to_bytes(2, "big") + (1).to_bytes(2, "big")
    header += PPQ.to_bytes(2, "big")
    # note_on 60, then running status: note_on 60 vel 0 after a beat, note_on 62, off.
    body = bytes([0x00, 0x90, 60, 100, 0x83, 0x60, 60, 0, 0x00, 62, 90, 0x83, 0x60, 62, 0])
    body += bytes([0x00, 0xFF, 0x2F, 0x00])
    data = header + b"MTrk" + len(body).to_bytes(4, "big") + body
    piece = parse_midi(data)
    assert pitches_and_times(piece) == [[0, 60, 12], [12, 62, 12]]


@pytest.mark.parametrize(
    "data, reason",
    [
        (b"", "empty file"),
        (b"MThd\x00\x00\x00\x06\x00\x01", "truncated"),
        (b"just some text, not music\n", "not a MIDI file"),
        (b"MThd\x00\x00\x00\x06\x00\x00\x00\x00\x00\x00", "0 ticks per beat"),
    ],
)
def test_malformed_files_raise_with_a_reason(data, reason):
    with pytest.raises(ImportFailed, match=reason):
        parse_midi(data)


def test_truncated_real_file_is_refused(melody_file):
    data = melody_file().read_bytes()
    with pytest.raises(ImportFailed, match="truncated"):
        parse_midi(data[: len(data) - 9])


def test_unreadable_path_is_a_reason_not_a_crash(tmp_path):
    with pytest.raises(ImportFailed, match="cannot read file"):
        read_midi(tmp_path / "missing.mid")


V = [int(v) for v in BIN_VELOCITY]
grid_notes = st.lists(
    st.tuples(st.integers(0, 400), st.integers(21, 108), st.integers(1, 96), st.sampled_from(V)),
    min_size=1,
    max_size=40,
)


@settings(max_examples=50, deadline=None)
@given(grid_notes)
def test_write_then_read_is_exact_for_normalized_notes(tmp_path_factory, rows):
    original = normalize(notes(*rows))
    path = tmp_path_factory.mktemp("rt") / "rt.mid"
    write_midi(original, path, tempo_bpm=97)
    piece = read_midi(path)
    assert np.array_equal(piece.notes, original)
    assert piece.tempo_bpm == pytest.approx(97, abs=1e-3)


def test_write_midi_leaves_no_partial_file_on_failure(tmp_path):
    target = tmp_path / "out.mid"
    with pytest.raises(ValueError):
        write_midi(notes((0, 200, 12, 64)), target)  # pitch 200 cannot be written
    assert list(tmp_path.iterdir()) == []


def test_a_note_past_a_million_beats_is_damage_not_music(tmp_path):
    # A delta time of five bytes (more than the standard's four) ends the note 15 * 2**28 ticks on.
    body = bytes([0, 0x90, 60, 90, 0x8F, 0x80, 0x80, 0x80, 0x00, 0x80, 60, 0, 0, 0xFF, 0x2F, 0])
    header = b"MThd" + (6).to_bytes(4, "big") + bytes([0, 0, 0, 1, 1, 0xE0])
    data = header + b"MTrk" + len(body).to_bytes(4, "big") + body
    with pytest.raises(ImportFailed, match="a note lies past beat 1,000,000"):
        parse_midi(data)
