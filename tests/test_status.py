"""The status line: its words, drawn in place only when they change, and what the daemon shows in it."""

from __future__ import annotations

import io

from neuraltunes_live.live.status import Snapshot, StatusLine, answer_words, describe

from .fakes import ScriptedModel, quarter_notes_of
from .test_daemon import PHRASE, Rig


def test_the_words():
    assert answer_words(2, 3, 1.2, looping=False) == "take 2 of 3, 1.5 bars left"
    assert answer_words(1, 1, 0.8, looping=False) == "take 1 of 1, 1 bar left"
    assert answer_words(1, 1, None, looping=False) == "take 1 of 1, until stopped"
    assert answer_words(1, 2, None, looping=True) == "looping take 1 of 2"
    assert answer_words(1, 1, 0.0, looping=False) == "" and answer_words(0, 0, 3.0, looping=False) == ""
    line = describe(Snapshot(8, "C major", "take 1 of 1, 2 bars left", "call", "balanced", 1.0, "as long as the call"))
    assert line == (
        "heard 8 notes in C major | answer: take 1 of 1, 2 bars left | call | balanced | temperature x1.00 "
        "| as long as the call"
    )
    assert describe(Snapshot(0, "", "", "call", "creative", 0.5, "4 bars")).startswith("listening | call")


def test_drawn_in_place_only_when_it_changes_and_cleared_for_log_lines():
    stream = io.StringIO()
    texts = iter(["a", "a", "b"])
    line = StatusLine(lambda: None, stream)
    for text in texts:
        line.draw(text)
    assert stream.getvalue() == "\ra\x1b[K\rb\x1b[K"  # one line, no newline, the repeat not drawn
    line.clear_for_log()
    line.clear_for_log()  # nothing shown: nothing written
    assert stream.getvalue().endswith("\rb\x1b[K\r\x1b[K")
    line.draw("b")  # drawn again after the log line
    assert stream.getvalue().endswith("\r\x1b[K\rb\x1b[K") and "\n" not in stream.getvalue()


def test_the_daemon_shows_the_phrase_its_key_and_the_answer_left():
    rig = Rig(ScriptedModel(quarter_notes_of(67)), bars=2)
    assert describe(rig.daemon.snapshot()).startswith("listening | call | balanced")
    rig.run(PHRASE, until=2.6)  # the answer began at 2.0 s: two bars of 2 s, 1.7 left (shown as 2)
    snapshot = rig.daemon.snapshot()
    assert (snapshot.heard, snapshot.key) == (3, "C major")
    assert snapshot.answer == "take 1 of 1, 2 bars left" and snapshot.length == "2 bars"
    rig.run([], until=5.2)  # 0.8 s, 0.4 bars left: shown in halves, rounded up
    assert rig.daemon.snapshot().answer == "take 1 of 1, 0.5 bars left"
    rig.run([], until=6.5)
    assert rig.daemon.snapshot().answer == ""


def test_late_events_are_shown_only_once_there_are_some():
    on_time = Snapshot(4, "G major", "", "call", "balanced", 1.0, "4 bars")
    assert "late" not in describe(on_time)
    late = Snapshot(4, "G major", "", "call", "balanced", 1.0, "4 bars", late=3)
    assert describe(late).endswith("| 4 bars | 3 late")
