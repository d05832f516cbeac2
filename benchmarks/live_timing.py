"""Live timing: how fast the daemon answers and how close to its deadlines it sends.

One run, one table, ours against a naive player, with the shipped model:

- **Response latency**: from the moment a phrase is found complete (the
  phrase detector's decision) to the first note-on of the answer leaving
  ``send``, with ``start = "immediate"``. Ours primes the model on the phrase
  and streams the answer note by note; the naive player (the seeds' way:
  generate the answer, then play it) first samples the whole answer
  (``--bars`` bars), then plays.
- **Timing error**: for every note-on and note-off, the time it was sent
  minus the time it was due, while the generator keeps sampling (continuous
  mode). Ours is the daemon's scheduler thread (absolute deadlines, sleep then
  spin); the naive player samples a note, sends it, then ``time.sleep``s the
  gap to the next event, so its waits and its sampling add up. Both idle, and
  with two CPU-bound processes competing for the two cores.

Ours runs in-process exactly as ``serve`` builds it (the ``Daemon`` with its
threads and the system clock); ``send`` records the message and its time
instead of writing to a port, so MIDI-system delivery (a JACK period, for
instance) is not included. Ours is measured with and without the real-time
priority ``serve`` asks for (granted only where the system allows).

    python benchmarks/live_timing.py [--phrases 40] [--seconds 20]
"""

from __future__ import annotations

import argparse
import dataclasses
import multiprocessing
import os
import sys
import time
from pathlib import Path

for variable in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(variable, "1")

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from neuraltunes_live.config import Config  # noqa: E402
from neuraltunes_live.core.continuation import Continuer  # noqa: E402
from neuraltunes_live.core.model_files import SHIPPED_MODEL, load_model  # noqa: E402
from neuraltunes_live.core.notes import TICKS_PER_BEAT  # noqa: E402
from neuraltunes_live.live.clock import SystemClock  # noqa: E402
from neuraltunes_live.live.daemon import Daemon  # noqa: E402
from neuraltunes_live.live.scheduler import Sent  # noqa: E402
from neuraltunes_live.live.status import StatusLine  # noqa: E402

TEMPO = 120.0
SPB = 60.0 / TEMPO
PHRASE = [62, 66, 69, 74, 73, 71, 69, 66]  # eighth notes, a bar


def settings(**live) -> Config:
    base = Config()
    return dataclasses.replace(base, live=dataclasses.replace(base.live, tempo=TEMPO, **live))


def percentiles(values: list[float]) -> tuple[float, float, float]:
    ms = np.asarray(values) * 1000
    return float(np.percentile(ms, 50)), float(np.percentile(ms, 99)), float(ms.max())


def burn() -> None:
    while True:
        pass


class Load:
    """Two CPU-bound processes, one per core of a 2-core machine."""

    def __init__(self, active: bool):
        self.active = active
        self.workers: list[multiprocessing.Process] = []

    def __enter__(self):
        if self.active:
            self.workers = [multiprocessing.Process(target=burn, daemon=True) for _ in range(2)]
            for worker in self.workers:
                worker.start()
            time.sleep(0.5)
        return self

    def __exit__(self, *exc):
        for worker in self.workers:
            worker.terminate()
            worker.join()


# --- ours -------------------------------------------------------------------


def play_phrase(daemon: Daemon, clock: SystemClock) -> None:
    """PHRASE in eighth notes into the daemon's input, as a keyboard would."""
    begin = clock.now() + 0.01
    for i, pitch in enumerate(PHRASE):
        clock.sleep_until(begin + i * SPB / 2)
        daemon.receive((0x90, pitch, 90))
        clock.sleep_until(begin + (i + 0.8) * SPB / 2)
        daemon.receive((0x80, pitch, 0))


def our_latency(model, phrases: int, realtime: bool) -> list[float]:
    clock = SystemClock()
    sent: list[Sent] = []
    decided: list[float] = []
    daemon = Daemon(
        model,
        settings(start="immediate", bars=1, silence_beats=0.5),
        clock=clock,
        send=lambda m: None,
        rng=np.random.default_rng(1),
        on_sent=sent.append,
        realtime=realtime,
    )
    answering = daemon.engine.on_response

    def heard(number, phrase, start):
        decided.append(phrase.decided)
        answering(number, phrase, start)

    daemon.engine.on_response = heard
    daemon.start()
    latencies = []
    try:
        for _ in range(phrases):
            sent.clear()
            decided.clear()
            play_phrase(daemon, clock)
            deadline = clock.now() + 2.0
            while clock.now() < deadline and not any(s.message[0] == 0x90 for s in sent):
                time.sleep(0.005)
            first = next(s for s in list(sent) if s.message[0] == 0x90)
            latencies.append(first.sent - decided[0])
            daemon.receive((0xB0, 25, 127))  # panic, then release: silence before the next phrase
            daemon.receive((0xB0, 25, 0))
            time.sleep(0.05)
    finally:
        daemon.stop()
    return latencies


def our_timing(model, seconds: float, realtime: bool, status: bool = False) -> list[float]:
    clock = SystemClock()
    sent: list[Sent] = []
    daemon = Daemon(
        model,
        settings(mode="continuous", start="beat", silence_beats=0.5),
        clock=clock,
        send=lambda m: None,
        rng=np.random.default_rng(2),
        on_sent=sent.append,
        realtime=realtime,
    )
    daemon.start()
    # The status line as serve draws it on a terminal, five times a second (into /dev/null here).
    line = StatusLine(daemon.snapshot, open(os.devnull, "w")).start() if status else None
    try:
        play_phrase(daemon, clock)
        time.sleep(seconds)
        played = list(sent)  # before the shutdown's note-offs
    finally:
        if line is not None:
            line.close()
        daemon.stop()
    return [s.sent - s.deadline for s in played if s.message[0] & 0xF0 in (0x80, 0x90)]


# --- the naive player -------------------------------------------------------


def primed(model, seed: int) -> Continuer:
    from neuraltunes_live.core.notes import notes_array

    rows = [(i * TICKS_PER_BEAT // 2, p, TICKS_PER_BEAT * 2 // 5, 90) for i, p in enumerate(PHRASE)]
    continuer = Continuer(model, np.random.default_rng(seed))
    continuer.prime(notes_array(rows))
    return continuer


def naive_latency(model, phrases: int, bars: int = 1) -> list[float]:
    """Generate the whole answer, then send its first note: the seeds' way, live."""
    style = Config().style("balanced").sampling()
    latencies = []
    for n in range(phrases):
        decided = time.perf_counter()
        continuer = primed(model, n)
        first = continuer.next_note(lambda: style)
        end = first[0] + bars * 4 * TICKS_PER_BEAT
        while continuer.next_note(lambda: style)[0] < end:
            pass
        latencies.append(time.perf_counter() - decided)  # sends the first note now
    return latencies


def naive_timing(model, seconds: float) -> list[float]:
    """Sample a note, send it, sleep until the next event: errors add up."""
    style = Config().style("balanced").sampling()
    continuer = primed(model, 3)
    errors = []
    begin = time.perf_counter()
    note = continuer.next_note(lambda: style)
    origin = previous = note[0]
    while time.perf_counter() - begin < seconds:
        due = begin + (note[0] - origin) / TICKS_PER_BEAT * SPB
        # Sleep the gap since the previous note-on, as a simple player does.
        gap = (note[0] - previous) / TICKS_PER_BEAT * SPB
        if gap > 0:
            time.sleep(gap)
        previous = note[0]
        errors.append(time.perf_counter() - due)  # the note-on "sent"
        note = continuer.next_note(lambda: style)
    return errors


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", type=Path, default=SHIPPED_MODEL)
    parser.add_argument("--phrases", type=int, default=40)
    parser.add_argument("--seconds", type=float, default=20.0)
    args = parser.parse_args()
    model = load_model(args.model)
    sys.setswitchinterval(0.0002)  # as serve does
    rows = []
    for realtime in (True, False):
        name = "ours, real-time priority" if realtime else "ours, normal priority"
        latency = percentiles(our_latency(model, args.phrases, realtime))
        idle = percentiles(our_timing(model, args.seconds, realtime))
        with Load(True):
            loaded = percentiles(our_timing(model, args.seconds, realtime))
        rows.append((name, latency, idle, loaded))
        if realtime:  # the same with the status line drawn, as on a terminal
            idle = percentiles(our_timing(model, args.seconds, realtime, status=True))
            with Load(True):
                loaded = percentiles(our_timing(model, args.seconds, realtime, status=True))
            rows.append((name + ", status line on", None, idle, loaded))
    latency = percentiles(naive_latency(model, args.phrases))
    idle = percentiles(naive_timing(model, args.seconds))
    with Load(True):
        loaded = percentiles(naive_timing(model, args.seconds))
    rows.append(("naive: generate, then sleep between notes", latency, idle, loaded))

    print(
        f"Live timing, {args.model.name} model, {TEMPO:g} BPM, {os.cpu_count()} cores, "
        f"{args.phrases} phrases, {args.seconds:g} s of playing per timing cell (milliseconds)"
    )
    print()
    print(
        "| player | response latency p50 / p99 | timing error idle p50 / p99 / max "
        "| timing error, 2 CPU-bound processes, p50 / p99 / max |"
    )
    print("|---|---|---|---|")
    for name, lat, idle, loaded in rows:
        shown = "(not measured)" if lat is None else f"{lat[0]:.2f} / {lat[1]:.2f}"
        print(
            f"| {name} | {shown} | {idle[0]:.3f} / {idle[1]:.3f} / {idle[2]:.2f} "
            f"| {loaded[0]:.3f} / {loaded[1]:.3f} / {loaded[2]:.2f} |"
        )


if __name__ == "__main__":
    main()
