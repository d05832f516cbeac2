"""The session recorder: each exchange and the whole session as MIDI files, read back note for note."""

from __future__ import annotations

import os

import pytest

from neuraltunes_live.data.midifile import timed_messages
from neuraltunes_live.offline.session import SessionRecorder

from .fakes import log_lines

WALL = 1_764_590_400.0  # a fixed wall-clock time, so file names are known


def notes(pitches, start, step=0.5, channel=0):
    """Timed note-ons and note-offs of ``pitches``, one every ``step`` seconds from ``start``."""
    out = []
    for i, pitch in enumerate(pitches):
        out += [(start + i * step, (0x90 | channel, pitch, 90)), (start + i * step + 0.4, (0x80 | channel, pitch, 0))]
    return out


def recorder(folder, **kwargs):
    return SessionRecorder(folder, tempo_bpm=lambda: 120.0, wall_clock=lambda: WALL, **kwargs)


def close_enough(got, want):
    """Times within a MIDI tick at 120 BPM and 480 ticks a beat (about 1 ms); messages exact."""
    assert [m for _, m in got] == [m for _, m in want]
    assert all(abs(a - b) < 1.1e-3 for (a, _), (b, _) in zip(got, want)), (got, want)


def test_each_exchange_and_the_session_read_back_note_for_note(tmp_path):
    lines = log_lines()
    rec = recorder(tmp_path)
    first, answer = notes([60, 62, 64], 10.0), notes([67, 65, 64, 62], 12.0, channel=0)
    second, again = notes([72, 71], 16.0), notes([69, 67], 17.5)
    for t, m in first:
        rec.heard(t, m)
    rec.phrase(10.0)
    rec.heard(11.2, (0xB0, 21, 64))  # a knob is heard too
    for t, m in answer:
        rec.played(t, m)
    for t, m in second:
        rec.heard(t, m)
    rec.phrase(16.0)  # the first exchange is over: written
    for t, m in again:
        rec.played(t, m)
    rec.close()
    names = sorted(p.name for p in tmp_path.iterdir())
    stamp = names[0][:15]
    assert names == [f"{stamp}-exchange-001.mid", f"{stamp}-exchange-002.mid", f"session-{stamp}.mid"]
    assert lines == [f"session recorded in {tmp_path}"]
    exchange = tmp_path / names[0]
    heard_first = sorted([(t - 10.0, m) for t, m in first] + [(1.2, (0xB0, 21, 64))], key=lambda x: x[0])
    played_first = [(t - 10.0, m) for t, m in answer]
    close_enough(timed_messages(exchange), sorted(heard_first + played_first, key=lambda x: x[0]))
    close_enough(
        timed_messages(tmp_path / names[1]), sorted([(t - 16.0, m) for t, m in second + again], key=lambda x: x[0])
    )
    everything = [(t - 10.0, m) for t, m in first + [(11.2, (0xB0, 21, 64))] + answer + second + again]
    close_enough(timed_messages(tmp_path / names[2]), sorted(everything, key=lambda x: x[0]))


def test_an_unwritable_folder_is_one_warning_and_playing_goes_on(tmp_path):
    if os.geteuid() == 0:
        blocked = tmp_path / "file"
        blocked.write_text("not a folder")
        folder = blocked / "session"  # below a file: no one can make it
    else:
        folder = tmp_path / "ro"
        folder.mkdir()
        folder.chmod(0o500)
    lines = log_lines()
    rec = recorder(folder)
    for t, m in notes([60, 62], 0.0):
        rec.heard(t, m)
    rec.phrase(0.0)
    rec.played(1.0, (0x90, 67, 90))
    rec.phrase(3.0)
    rec.close()
    assert len(lines) == 1 and lines[0].startswith("warning:")  # and no "session recorded" at the stop
    assert f"cannot record the session in {folder}" in lines[0]


def test_a_failed_write_leaves_no_partial_file_and_the_others_are_written(tmp_path):
    from neuraltunes_live.data.midifile import write_timed_tracks
    from neuraltunes_live.files import replace_file

    def half_then_full_disk(out):
        out.write(b"MThd\x00\x00")  # part of the file is out when the disk fills
        raise OSError(28, "No space left on device")

    def flaky(path, tracks, tempo):
        if "exchange-001" in path.name:
            replace_file(path, half_then_full_disk)
        write_timed_tracks(path, tracks, tempo)

    lines = log_lines()
    rec = recorder(tmp_path, write=flaky)
    for t, m in notes([60, 62], 0.0):
        rec.heard(t, m)
    rec.phrase(0.0)
    for t, m in notes([64, 65], 3.0):
        rec.heard(t, m)
    rec.phrase(3.0)
    rec.close()
    names = sorted(p.name for p in tmp_path.iterdir())
    assert len(names) == 2 and names[0].endswith("-exchange-002.mid") and names[1].startswith("session-")
    assert not any(n.startswith(".") for n in names)  # no temporary file left behind
    assert sum("No space left on device" in line for line in lines) == 1


@pytest.mark.parametrize("junk", [(0xF8,), (0xF0, 1, 2), (), (0x90, 200)])
def test_clock_sysex_and_malformed_input_are_not_recorded(tmp_path, junk):
    rec = recorder(tmp_path)
    rec.heard(0.0, junk)
    rec.heard(0.5, (0x90, 60, 90))
    rec.heard(0.9, (0x80, 60, 0))
    rec.phrase(0.5)
    rec.close()
    session = next(tmp_path.glob("session-*.mid"))
    close_enough(timed_messages(session), [(0.0, (0x90, 60, 90)), (0.4, (0x80, 60, 0))])


# A session recorder in a process of its own, recording exchanges as fast as it
# can: exchange k is a phrase of 300 notes at pitch 40 + k % 40, answered by 300
# at pitch 80 - k % 40, so each file's content is known. The session file grows
# with every exchange, so most of the time a file is being written.
RECORDING_FOREVER = """
import sys
from pathlib import Path
from neuraltunes_live.offline.session import SessionRecorder

rec = SessionRecorder(Path(sys.argv[1]), tempo_bpm=lambda: 120.0)
k = 0
while True:
    k += 1
    start = 100.0 * k
    rec.phrase(start)
    for i in range(300):
        t = start + i * 0.1
        rec.heard(t, (0x90, 40 + k % 40, 90))
        rec.heard(t + 0.05, (0x80, 40 + k % 40, 0))
        rec.played(t + 50, (0x90, 80 - k % 40, 90))
        rec.played(t + 50.05, (0x80, 80 - k % 40, 0))
"""


def test_killed_mid_session_it_leaves_only_whole_files(tmp_path):
    """SIGKILL while a file is being written: every .mid there reads back whole, note for note."""
    import re
    import signal
    import subprocess
    import sys
    import time

    folder = tmp_path / "session"
    child = subprocess.Popen([sys.executable, "-c", RECORDING_FOREVER, str(folder)])
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:  # a few exchanges written, and a file in the making
            if folder.is_dir() and len(list(folder.glob("*-exchange-*.mid"))) >= 3 and list(folder.glob(".*.tmp")):
                break
            time.sleep(0.001)
        else:
            pytest.fail("the recorder wrote nothing in a minute")
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
    exchanges = sorted(folder.glob("*-exchange-*.mid"))
    numbers = [int(re.search(r"exchange-(\d+)", p.name).group(1)) for p in exchanges]
    assert numbers == list(range(1, len(numbers) + 1))  # none missing, none half there
    for number, path in zip(numbers, exchanges):
        k = number  # exchange n is the phrase begun in round n; round n + 1 began and closed it
        pitches = [m[1] for _, m in timed_messages(path) if m[0] == 0x90]
        assert pitches == [40 + k % 40] * 300 + [80 - k % 40] * 300, path.name
    # The session file is written again after each exchange: the one there is a whole one, with
    # every round up to the last exchange or the one before (killed while writing the next).
    (session,) = folder.glob("session-*.mid")
    pitches = sorted(m[1] for _, m in timed_messages(session) if m[0] == 0x90)
    rounds = len(pitches) // 600
    assert rounds in (len(numbers) - 1, len(numbers))
    assert pitches == sorted(p for k in range(1, rounds + 1) for p in [40 + k % 40] * 300 + [80 - k % 40] * 300)
    leftovers = [p.name for p in folder.iterdir() if p.suffix != ".mid"]
    assert all(re.fullmatch(r"\..+\.mid\..+\.tmp", name) for name in leftovers), leftovers  # hidden, never a .mid


def test_half_written_files_a_killed_session_left_are_removed_at_the_next_start(tmp_path):
    stale = tmp_path / ".20251201-120000-exchange-003.mid.k2j3.tmp"
    fresh = tmp_path / ".20251201-120000-session.mid.x8a1.tmp"  # perhaps another daemon's, still writing
    other = tmp_path / ".notes.txt.tmp"
    for path in (stale, fresh, other):
        path.write_bytes(b"MThd")
    os.utime(stale, (WALL - 120, WALL - 120))
    os.utime(fresh, (WALL - 10, WALL - 10))
    os.utime(other, (WALL - 120, WALL - 120))
    lines = log_lines()
    recorder(tmp_path).close()
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([fresh.name, other.name])
    assert lines == [f"removed 1 half-written file(s) a stopped session left in {tmp_path}"]
