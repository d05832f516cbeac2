"""Continuing a phrase: prime the model on it, then sample note after note.

``Continuer`` is shared by ``generate`` (offline, to a file) and the daemon
(live): it owns the model state, the streaming decoder, the key and the loop
guard, and takes the sampling settings at every token, so a knob turned now
changes the next note. The model is anything with ``prime`` and ``step`` (the
NumPy ``LSTMModel``, or a scripted fake in tests). When the model has
``memory`` settings, the Continuer also keeps the piece's memory (the phrase
and everything played since) and blends it into every prediction.
"""

from __future__ import annotations

from typing import Any, Callable, Iterator, Protocol

import numpy as np

from neuraltunes_live.core.encoding import BOS, DURATION_BASE, EOS, MIN_PITCH, PITCH_BASE, SHIFT_BASE, Decoder, encode
from neuraltunes_live.core.keys import Key, estimate_key
from neuraltunes_live.core.memory import PieceMemory, blend_logits
from neuraltunes_live.core.notes import DURATION, ONSET, PITCH, TICKS_PER_BEAT
from neuraltunes_live.core.rhythm import phrase_grid
from neuraltunes_live.core.sampling import LoopGuard, SamplingSettings, allowed_tokens, sample

#: Most notes of a phrase the model is primed on; earlier ones are dropped.
MAX_PRIME_NOTES = 256


class StepModel(Protocol):
    def prime(self, tokens: np.ndarray, state=None) -> tuple[np.ndarray, object]: ...

    def step(self, token: int, state) -> tuple[np.ndarray, object]: ...


def phrase_tokens(notes: np.ndarray, beats_per_bar: int = 4) -> tuple[np.ndarray, int]:
    """Tokens to prime on (BOS, then the phrase), and the tick the phrase was moved by.

    Only the last ``MAX_PRIME_NOTES`` notes are kept, moved earlier by whole
    bars so the model hears them where they fall in the bar.
    """
    notes = np.asarray(notes, dtype=np.int32).reshape(-1, 4)
    if len(notes) > MAX_PRIME_NOTES:
        notes = notes[np.argsort(notes[:, ONSET], kind="stable")][-MAX_PRIME_NOTES:]
    bar = beats_per_bar * TICKS_PER_BEAT
    moved = (int(notes[:, ONSET].min()) // bar) * bar if len(notes) else 0
    shifted = notes.copy()
    shifted[:, ONSET] -= moved
    return encode(shifted, bos_eos=True)[:-1], moved  # no EOS: the piece goes on


class PrimeCache:
    """The model's state after each prefix of a phrase primed so far.

    The daemon primes the phrase *while it is played*, note by note, so when
    the phrase ends only its last notes are left to prime and the answer
    starts in a millisecond or two, however long the phrase. ``prime`` takes
    the longest cached prefix of the tokens given and primes the rest; a
    prefix that changed (a chord tidied, a late note sorted in) is simply
    primed again from the last snapshot that still matches.
    """

    def __init__(self, model: StepModel):
        self.model = model
        self.reset()

    def reset(self) -> None:
        self._tokens = np.empty(0, dtype=np.int64)
        self._snapshots: list[tuple[int, np.ndarray, Any]] = []  # (length, last logits, state)

    def _best(self, tokens: np.ndarray) -> tuple[int, Any, Any]:
        common = min(len(self._tokens), len(tokens))
        mismatch = np.flatnonzero(self._tokens[:common] != tokens[:common])
        if len(mismatch):
            common = int(mismatch[0])
        for length, logits, state in reversed(self._snapshots):
            if length <= common:
                return length, logits, state
        return 0, None, None

    def prime(self, tokens: np.ndarray, *, keep: bool = True) -> tuple[np.ndarray, Any]:
        """Last logits and state after ``tokens``, priming only what is not cached."""
        tokens = np.asarray(tokens, dtype=np.int64)
        length, logits, state = self._best(tokens)
        if length < len(tokens):
            all_logits, state = self.model.prime(tokens[length:], state)
            logits = all_logits[-1]
        if keep:
            self._snapshots = [snap for snap in self._snapshots if snap[0] <= length]
            if length < len(tokens):
                self._snapshots.append((len(tokens), logits, state))
            self._tokens = tokens
        return logits, state


class Continuer:
    """Carries the model on from a phrase, one sampled token at a time."""

    def __init__(self, model: StepModel, rng: np.random.Generator, *, key: Key | None = None):
        self.model = model
        self.rng = rng
        self.key = key
        self.decoder = Decoder()
        self.guard = LoopGuard()
        self.grid: frozenset[int] | None = None  # the phrase's rhythmic grid
        self.logits: Any = None  # the next event's logits, once primed
        self.state: Any = None  # the model's state, once primed
        self.last_token = BOS
        self.offset = 0  # add to the decoder's clock for the phrase's own ticks
        self.chord: tuple[int, int] = (0, -1)  # notes started at the current tick, and the highest
        settings = getattr(model, "memory", None)
        self.memory = PieceMemory(settings) if settings is not None else None

    def prime(
        self,
        notes: np.ndarray,
        beats_per_bar: int = 4,
        *,
        use_key: bool | Key = False,
        cache: PrimeCache | None = None,
    ) -> None:
        """Take in the phrase; ``use_key=True`` masks to the key estimated from it.

        With a ``cache`` of the phrase's beginning (primed as it was played),
        only the rest is primed now.
        """
        tokens, self.offset = phrase_tokens(notes, beats_per_bar)
        if cache is not None and cache.model is self.model:
            self.logits, self.state = cache.prime(tokens, keep=False)
        else:
            logits, self.state = self.model.prime(tokens)
            self.logits = logits[-1]
        for token in tokens:
            self.decoder.feed(int(token))
            self._follow_chord(int(token))
        if self.memory is not None:
            self.memory.reset(tokens)
        self.last_token = int(tokens[-1])
        notes = np.asarray(notes).reshape(-1, 4)
        ordered = notes[np.lexsort((notes[:, PITCH], notes[:, ONSET]))]
        self.guard.reset(ordered[:, PITCH])
        self.grid = phrase_grid(notes)[1] if len(notes) else None
        if isinstance(use_key, Key):
            self.key = use_key
        elif use_key:
            self.key = estimate_key(notes[:, PITCH], notes[:, DURATION])

    @property
    def clock(self) -> int:
        """The current position in the phrase's own ticks."""
        return self.decoder.clock + self.offset

    def peek(self, settings: SamplingSettings) -> int:
        """Draw the next token without taking it (the caller may stop first)."""
        if self.logits is None:
            raise RuntimeError("prime the Continuer before sampling")
        avoid = self.guard.avoid(settings.max_repeats)
        grid = self.grid if settings.keep_grid else None
        mask = allowed_tokens(
            self.last_token, key=self.key, avoid_pitch=avoid, grid=grid, position=self.clock, chord=self.chord
        )
        logits = self.logits if self.memory is None else blend_logits(self.memory, self.logits)
        return sample(logits, mask, settings, self.rng)

    def take(self, token: int) -> tuple[int, int, int, int] | None:
        """Feed a token to the model and decoder; return a finished note or None."""
        self.logits, self.state = self.model.step(token, self.state)
        if self.memory is not None:
            self.memory.feed(token)
        self.last_token = token
        note = self.decoder.feed(token)
        self._follow_chord(token)
        if PITCH_BASE <= token < DURATION_BASE:
            self.guard.feed(token - PITCH_BASE + MIN_PITCH)
        if note is None:
            return None
        onset, pitch, duration, velocity = note
        return (onset + self.offset, pitch, duration, velocity)

    def _follow_chord(self, token: int) -> None:
        if SHIFT_BASE <= token < PITCH_BASE:
            self.chord = (0, -1)
        elif PITCH_BASE <= token < DURATION_BASE:
            self.chord = (self.chord[0] + 1, token - PITCH_BASE + MIN_PITCH)

    def next_note(self, settings: Callable[[], SamplingSettings]) -> tuple[int, int, int, int]:
        """Sample until a note is complete; ``settings`` is asked before every event."""
        while True:
            note = self.take(self.peek(settings()))
            if note is not None:
                return note

    def notes_until(self, end_tick: int, settings: SamplingSettings) -> Iterator[tuple[int, int, int, int]]:
        """Sample notes until the clock would reach ``end_tick`` (phrase ticks)."""
        while True:
            token = self.peek(settings)
            if SHIFT_BASE <= token < PITCH_BASE and self.clock + token - SHIFT_BASE + 1 >= end_tick:
                return
            if token == EOS:
                return
            note = self.take(token)
            if note is not None:
                yield note


def continue_notes(
    model: StepModel,
    phrase_notes: np.ndarray,
    *,
    bars: int,
    settings: SamplingSettings,
    rng: np.random.Generator,
    beats_per_bar: int = 4,
    key: Key | bool = False,
    start_tick: int | None = None,
) -> np.ndarray:
    """Notes continuing ``phrase_notes`` for ``bars`` bars after the phrase ends.

    The bars count from ``start_tick`` if given, else from the beat at or after
    the phrase's last note ends.

    The continuation starts where the model puts it (often with the phrase's
    last notes still sounding) and ends at the last bar line: no note starts
    after it, and each note's length is its own, so none is left open.
    """
    phrase_notes = np.asarray(phrase_notes, dtype=np.int32).reshape(-1, 4)
    continuer = Continuer(model, rng)
    continuer.prime(phrase_notes, beats_per_bar, use_key=key)
    if start_tick is None:
        last = int((phrase_notes[:, ONSET] + phrase_notes[:, DURATION]).max()) if len(phrase_notes) else 0
        start_tick = -(-last // TICKS_PER_BEAT) * TICKS_PER_BEAT
    end = start_tick + bars * beats_per_bar * TICKS_PER_BEAT
    rows = list(continuer.notes_until(end, settings))
    return np.array(rows, dtype=np.int32).reshape(-1, 4)
