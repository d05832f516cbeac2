"""Score files and music21's corpus through music21."""

import pytest

from neuraltunes_live.data.score_import import SCORE_VELOCITY, corpus_files, read_score
from neuraltunes_live.errors import ImportFailed

TUNE_BOOK = """X:1
T:First
M:4/4
L:1/4
K:C
"C"C D E F | G2- G2 |]

X:2
T:Second
M:3/4
L:1/8
K:G
{a}B2 d2 g2 | [GBd]6 |]
"""


def test_tune_book_gives_one_piece_per_tune(tmp_path):
    path = tmp_path / "book.abc"
    path.write_text(TUNE_BOOK)
    first, second = read_score(path, name="book")
    assert (first.name, second.name) == ("book#1", "book#2")
    # The chord symbol "C" is not a note; the tied G is one half... whole note of 4 beats.
    assert first.notes[:, :3].tolist() == [[0, 60, 12], [12, 62, 12], [24, 64, 12], [36, 65, 12], [48, 67, 48]]
    assert set(first.notes[:, 3].tolist()) == {SCORE_VELOCITY}
    # The grace note {a} is left out; the chord is three notes at one onset.
    assert second.notes[:, :3].tolist() == [
        [0, 71, 12],
        [12, 74, 12],
        [24, 79, 12],
        [36, 67, 36],
        [36, 71, 36],
        [36, 74, 36],
    ]


@pytest.mark.parametrize("content, reason", [("", "empty file"), ("X:1\nT:Nothing\nK:C\n", "no notes")])
def test_bad_scores_raise_with_a_reason(tmp_path, content, reason):
    path = tmp_path / "bad.abc"
    path.write_text(content)
    with pytest.raises(ImportFailed, match=reason):
        read_score(path)


def test_unparseable_musicxml_says_music21_could_not_read_it(tmp_path):
    path = tmp_path / "broken.xml"
    path.write_text("<score-partwise><part id='P1'><measure>")
    with pytest.raises(ImportFailed, match="music21 could not read it"):
        read_score(path)


@pytest.mark.corpus
def test_corpus_glob_and_labels():
    found = corpus_files("music21:bach/bwv66.6*")
    assert [label for label, _ in found] == ["music21:bach/bwv66.6.mxl"]
    (piece,) = read_score(found[0][1], name=found[0][0])
    assert len(piece.notes) > 100 and piece.name == "music21:bach/bwv66.6.mxl"


def test_unknown_corpus_lists_the_known_ones():
    with pytest.raises(ImportFailed, match="no such corpus; music21 has .*bach.*essenFolksong"):
        corpus_files("music21:nonesuch")


def test_glob_matching_nothing_says_so():
    with pytest.raises(ImportFailed, match="matches 'zzz\\*'"):
        corpus_files("music21:bach/zzz*")
