"""Phrases as people play them into the daemon, written out, with the key each is in.

Used by ``answers.py``. Each phrase is a notes array (``neuraltunes_live.core.notes``:
onset and duration in ticks, 12 to the beat) starting at tick 0, its scale
(pitch classes that are "in the key"), and its bar length in beats. Timing is
on the grid the player meant: swung eighths are 8 + 4 ticks, triplets 4 ticks.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from neuraltunes_live.core.keys import MAJOR, MINOR, pitch_class
from neuraltunes_live.core.keys import scale as pitch_classes_of
from neuraltunes_live.core.notes import TICKS_PER_BEAT, notes_array, sort_notes


def midi(name: str) -> int:
    """ "C4" → 60, "F#5" → 78, "Bb2" → 46."""
    letter, octave = name[:-1], int(name[-1])
    return 12 * (octave + 1) + pitch_class(letter)


def scale(tonic: str, steps: tuple[int, ...]) -> frozenset[int]:
    return pitch_classes_of(pitch_class(tonic), steps)


def major(tonic: str) -> frozenset[int]:
    return scale(tonic, MAJOR)


def minor(tonic: str) -> frozenset[int]:
    return scale(tonic, MINOR)


#: A blues riff's notes: the major scale's with the flat third and flat seventh (mixolydian + ♭3).
def blues(tonic: str) -> frozenset[int]:
    return scale(tonic, (0, 2, 3, 4, 5, 7, 9, 10))


def line(*items: tuple, start: float = 0, velocity: int = 90) -> list[tuple[int, int, int, int]]:
    """Notes one after another: each item is (names, beats) with names a note, a chord "C4 E4 G4", or "-" (a rest).

    Beats may be fractions ("1/3") so triplets and swing land on the grid exactly.
    """
    at = Fraction(start)
    rows = []
    for names, beats in items:
        beats = Fraction(beats)
        if names != "-":
            ticks = int(beats * TICKS_PER_BEAT)
            for name in names.split():
                rows.append((int(at * TICKS_PER_BEAT), midi(name), ticks, velocity))
        at += beats
    return rows


def swung(*names: str, start: float = 0) -> list[tuple[int, int, int, int]]:
    """Swung eighths: long (2/3 beat), short (1/3 beat), long, ..."""
    return line(*[(n, "2/3" if i % 2 == 0 else "1/3") for i, n in enumerate(names)], start=start)


def even(beats: str, *names: str, start: float = 0) -> list[tuple[int, int, int, int]]:
    return line(*[(n, beats) for n in names], start=start)


@dataclass(frozen=True)
class Phrase:
    name: str
    notes: np.ndarray
    scale: frozenset[int]
    key: str
    beats_per_bar: int = 4
    about: str = ""

    @property
    def chordal(self) -> bool:
        from answer_measures import voices

        return voices(self.notes) >= 1.5


def _phrase(name, rows, scale_, key, beats_per_bar=4, about=""):
    return Phrase(name, sort_notes(notes_array(rows)), scale_, key, beats_per_bar, about)


def suite() -> list[Phrase]:
    q, e, h, s, t = 1, "1/2", 2, "1/4", "1/3"
    return [
        _phrase(
            "C major melody",
            line(("C4", q), ("D4", q), ("E4", q), ("F4", q), ("G4", h), ("E4", q), ("C4", q)),
            major("C"),
            "C major",
            about="two bars, quarters and a half note",
        ),
        _phrase(
            "G major, 4 bars",
            line(
                ("G4", q),
                ("B4", e),
                ("A4", e),
                ("G4", q),
                ("D5", q),
                ("E5", e),
                ("D5", e),
                ("B4", q),
                ("G4", h),
                ("A4", q),
                ("B4", q),
                ("C5", q),
                ("E5", q),
                ("D5", e),
                ("C5", e),
                ("B4", q),
                ("A4", h),
            ),
            major("G"),
            "G major",
            about="long: four bars of quarters and eighths",
        ),
        _phrase(
            "D minor melody",
            line(
                ("D4", q),
                ("F4", e),
                ("E4", e),
                ("D4", q),
                ("A4", q),
                ("Bb4", e),
                ("A4", e),
                ("G4", e),
                ("F4", e),
                ("E4", q),
                ("C#4", q),
                ("D4", h),
            ),
            minor("D"),
            "D minor",
            about="with the leading tone",
        ),
        _phrase(
            "E minor bass line",
            line(
                ("E2", q),
                ("G2", q),
                ("B2", q),
                ("E3", q),
                ("D3", e),
                ("B2", e),
                ("A2", q),
                ("G2", q),
                ("F#2", q),
                ("E2", h),
            ),
            minor("E"),
            "E minor",
            about="low register",
        ),
        _phrase(
            "Bb major, high",
            line(
                ("F5", e),
                ("Bb5", e),
                ("D6", q),
                ("C6", e),
                ("Bb5", e),
                ("A5", q),
                ("Bb5", e),
                ("C6", e),
                ("D6", e),
                ("F6", e),
                ("Eb6", q),
                ("D6", q),
            ),
            major("Bb"),
            "Bb major",
            about="high register",
        ),
        _phrase("three notes", line(("E4", q), ("D4", q), ("C4", h)), major("C"), "C major", about="short"),
        _phrase(
            "five notes, F major",
            line(("F4", e), ("A4", e), ("C5", q), ("Bb4", e), ("A4", e), ("F4", h)),
            major("F"),
            "F major",
            about="short",
        ),
        _phrase(
            "block chords I-IV-V-I",
            line(("C3 E4 G4 C5", h), ("F3 F4 A4 C5", h), ("G3 D4 G4 B4", h), ("C3 E4 G4 C5", h)),
            major("C"),
            "C major",
            about="four-voice chords, half notes",
        ),
        _phrase(
            "broken chords Am-F-C-G",
            even(e, "A3", "C4", "E4", "C4", "F3", "A3", "C4", "A3", "C3", "E3", "G3", "E3", "G3", "B3", "D4", "B3"),
            minor("A"),
            "A minor",
            about="eighth-note arpeggios",
        ),
        _phrase(
            "16th-note runs, D major",
            even(
                s,
                "D4",
                "E4",
                "F#4",
                "G4",
                "A4",
                "B4",
                "C#5",
                "D5",
                "C#5",
                "B4",
                "A4",
                "G4",
                "F#4",
                "E4",
                "F#4",
                "G4",
                "A4",
                "F#4",
                "D4",
                "F#4",
                "A4",
                "D5",
                "A4",
                "F#4",
            )
            + line(("D4", h), start=6),
            major("D"),
            "D major",
            about="16th-note scale runs",
        ),
        _phrase(
            "16th arpeggios, Eb major",
            even(
                s,
                "Eb4",
                "G4",
                "Bb4",
                "Eb5",
                "Ab3",
                "C4",
                "Eb4",
                "Ab4",
                "Bb3",
                "D4",
                "F4",
                "Bb4",
                "Eb4",
                "G4",
                "Bb4",
                "G4",
            ),
            major("Eb"),
            "Eb major",
            about="16th notes",
        ),
        _phrase(
            "swung blues riff, C",
            swung("C4", "Eb4", "E4", "G4", "A4", "G4", "Eb4", "C4", "C4", "Eb4", "E4", "G4", "Bb4", "A4", "G4", "E4"),
            blues("C"),
            "C blues",
            about="swung eighths",
        ),
        _phrase(
            "swung shuffle, F",
            swung("F3", "A3", "C4", "D4", "Eb4", "D4", "C4", "A3", "Bb3", "D4", "F4", "G4", "Ab4", "G4", "F4", "D4"),
            blues("F"),
            "F blues",
            about="swung eighths, low",
        ),
        _phrase(
            "triplet jig, G major",
            even(
                t,
                "G4",
                "B4",
                "D5",
                "G5",
                "D5",
                "B4",
                "C5",
                "E5",
                "G5",
                "E5",
                "C5",
                "A4",
                "B4",
                "D5",
                "G5",
                "F#5",
                "D5",
                "A4",
                "G4",
                "B4",
                "D5",
                "G4",
                "-",
                "-",
            ),
            major("G"),
            "G major",
            about="12/8 feel: eighth triplets",
        ),
        _phrase(
            "6/8 jig, D major",
            even(
                e,
                "D5",
                "F#5",
                "A5",
                "G5",
                "F#5",
                "E5",
                "D5",
                "E5",
                "F#5",
                "E5",
                "C#5",
                "A4",
                "B4",
                "D5",
                "G5",
                "F#5",
                "E5",
                "D5",
            ),
            major("D"),
            "D major",
            beats_per_bar=3,
            about="compound meter, eighths in 6/8",
        ),
        _phrase(
            "waltz, F major",
            line(
                ("F4", q), ("A4", q), ("C5", q), ("D5", h), ("C5", q), ("Bb4", q), ("A4", q), ("G4", q), ("A4", h + 1)
            ),
            major("F"),
            "F major",
            beats_per_bar=3,
            about="3/4 tune",
        ),
        _phrase(
            "passing tone, C major",
            line(("E4", q), ("F4", e), ("F#4", e), ("G4", q), ("E4", q), ("D4", e), ("D#4", e), ("E4", q), ("C4", h)),
            major("C"),
            "C major",
            about="two chromatic passing notes",
        ),
        _phrase(
            "passing tone, A minor",
            line(
                ("A4", q),
                ("C5", q),
                ("B4", e),
                ("Bb4", e),
                ("A4", q),
                ("E4", q),
                ("G#4", e),
                ("A4", e),
                ("B4", q),
                ("A4", h),
            ),
            minor("A"),
            "A minor",
            about="a chromatic passing note",
        ),
        _phrase(
            "piano texture, Eb major",
            line(("Eb2", h), ("Bb2", h), ("Ab2", h), ("Bb2", h))
            + line(*[("G3 Bb3 Eb4", q)] * 4, *[("Ab3 C4 Eb4", q)] * 2, *[("Ab3 D4 F4", q)] * 2)
            + line(
                ("Bb4", e),
                ("G4", e),
                ("Eb5", q),
                ("D5", e),
                ("C5", e),
                ("Bb4", q),
                ("C5", e),
                ("Ab4", e),
                ("F4", q),
                ("Bb4", e),
                ("D5", e),
                ("F5", q),
            ),
            major("Eb"),
            "Eb major",
            about="bass, chords and melody at once",
        ),
        _phrase(
            "F# minor, 4 bars",
            line(
                ("F#4", q),
                ("A4", q),
                ("C#5", h),
                ("B4", e),
                ("A4", e),
                ("G#4", q),
                ("A4", h),
                ("D5", q),
                ("C#5", q),
                ("B4", q),
                ("A4", q),
                ("G#4", e),
                ("F#4", e),
                ("E#4", q),
                ("F#4", h),
            ),
            minor("F#"),
            "F# minor",
            about="long, with the leading tone",
        ),
    ]
