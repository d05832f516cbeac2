"""The sound path: how late the built-in synth sounds a note-on, and what share of a core it takes.

One run, one table:

- **Latency**, from the frame a note-on is due (or the moment it is handed
  to the synth) to its first audible sample (above -50 dBFS) in the audio the
  synth produced, p50 / p99 / max over the notes:

  * *over JACK, at its frame* (``serve --synth`` on JACK now): the note-on is
    handed over ahead with its time and rendered in a JACK client of ours
    (``JackSynthOutput``) at its offset in the period; measured from its frame.
  * *over JACK, sent when due* (``serve --synth`` before, and with
    ``--jack-timing send``): FluidSynth's own JACK driver gets the note-on at
    its moment and sounds it in the next period it renders; measured from
    that moment (``frame_time``). A second JACK client in this process hears
    the synth; a JACK server with the dummy driver is started for each period.
    The goal: at its frame, no later than the SoundFont's attack (the
    sample-exact row below) plus one synth block (64 samples).
  * *rendered in blocks*: no audio driver; note-ons arrive at random moments
    and the synth renders fixed blocks, as a driver with that period would
    (the part of the latency that is the synth's own, without the driver's
    buffering).
  * *rendered to the sample* (``generate --wav``): each event at its frame.

- **CPU share**: the time it takes to render an answer of the shipped model
  (16 bars at 120 BPM), over the answer's length; one core.

    python benchmarks/synth.py [--notes 100] [--periods 128,256,512]
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from jack_server import jack_server  # noqa: E402

from neuraltunes_live.core.continuation import continue_notes  # noqa: E402
from neuraltunes_live.core.model_files import SHIPPED_MODEL, load_model  # noqa: E402
from neuraltunes_live.core.notes import TICKS_PER_BEAT, notes_array  # noqa: E402
from neuraltunes_live.core.sampling import SamplingSettings  # noqa: E402
from neuraltunes_live.live.synth import SAMPLE_RATE, SoundFontSynth, find_soundfont, render_timed  # noqa: E402

AUDIBLE = 100  # int16, -50 dBFS
PITCHES = [48, 55, 60, 64, 67, 72, 76, 79]


def percentiles(values: list[float]) -> str:
    a = np.asarray(values)
    return f"{np.percentile(a, 50):.2f} / {np.percentile(a, 99):.2f} / {a.max():.2f}"


def block_latency(notes: int, block: int, rng: np.random.Generator) -> list[float]:
    """Note-ons at random moments between blocks of ``block`` frames: milliseconds to the first audible sample."""
    out = []
    with SoundFontSynth() as synth:
        for i in range(notes):
            synth.render(block * rng.integers(20, 40))  # the last note dies away first
            arrival = rng.uniform(0, block)  # frames into the block being played out when it arrives
            synth.send((0x90, PITCHES[i % len(PITCHES)], 100))
            rendered = synth.render(block * 8)
            level = np.abs(rendered.astype(np.int32)).max(axis=1)
            first = int(np.argmax(level > AUDIBLE))
            out.append((block - arrival + first) * 1000 / SAMPLE_RATE)  # heard from the next block on
            synth.send((0x80, PITCHES[i % len(PITCHES)], 0))
    return out


def exact_latency(notes: int) -> list[float]:
    messages = []
    for i in range(notes):
        messages += [
            (0.5 * i, (0x90, PITCHES[i % len(PITCHES)], 100)),
            (0.5 * i + 0.3, (0x80, PITCHES[i % len(PITCHES)], 0)),
        ]
    frames = render_timed(messages)
    level = np.abs(frames.astype(np.int32)).max(axis=1)
    out = []
    for t, message in messages:
        if message[0] == 0x90:
            at = round(t * SAMPLE_RATE)
            out.append(int(np.argmax(level[at:] > AUDIBLE)) * 1000 / SAMPLE_RATE)
    return out


def jack_latency(notes: int, period: int) -> dict[str, list[float]] | str:
    """Over a JACK server with the dummy driver, the two ways ``serve --synth`` has played on JACK:

    * ``at its frame``: the note-on handed over ahead with its time, rendered in a JACK client of ours
      (``JackSynthOutput``, as serve does now); milliseconds from that frame to the first audible sample;
    * ``sent when due``: handed to FluidSynth's own JACK driver at its moment (as serve did before);
      milliseconds from that moment (``frame_time``) to the first audible sample.

    Another client of this process hears the synth, each period with its first frame.
    """
    if shutil.which("jackd") is None:
        return "no jackd"
    import jack

    from neuraltunes_live.live.clock import FrameClock
    from neuraltunes_live.live.ports import JackSynthOutput

    with jack_server(period):
        heard: list[tuple[int, np.ndarray]] = []
        listener = jack.Client("Bench Listener", no_start_server=True)
        ports = [listener.inports.register(f"in_{i}") for i in range(2)]

        @listener.set_process_callback
        def process(frames):
            level = np.maximum(np.abs(ports[0].get_array()), np.abs(ports[1].get_array()))
            heard.append((listener.last_frame_time, level.copy()))

        def first_sound(after: int) -> int | None:
            for start, level in list(heard):
                loud = np.flatnonzero(level > AUDIBLE / 32768)
                loud = loud[start + loud >= after]
                if len(loud):
                    return start + int(loud[0])
            return None

        listener.activate()
        clock = FrameClock(lambda: listener.frame_time, listener.samplerate)
        out: dict[str, list[float]] = {"at its frame": [], "sent when due": []}
        rng = np.random.default_rng(1)
        for way in out:
            if way == "at its frame":
                synth = SoundFontSynth(name="Bench Synth")
                port = JackSynthOutput(synth, clock, own="Bench Synth")
            else:
                synth, port = SoundFontSynth(driver="jack", name="Bench Synth"), None
            try:
                for side, listening in zip(("left", "right"), ports):
                    listener.connect(f"Bench Synth:{side}", listening)
                time.sleep(0.3)
                for i in range(notes):
                    time.sleep(rng.uniform(0.25, 0.35))
                    pitch = PITCHES[i % len(PITCHES)]
                    heard.clear()
                    if port is not None:
                        due = clock.frame_of(clock.now() + port.lead) + int(rng.integers(0, period))
                        port.send_at(due / SAMPLE_RATE, (0x90, pitch, 100))
                        port.send_at(due / SAMPLE_RATE + 0.15, (0x80, pitch, 0))
                        time.sleep(port.lead + 0.15)
                    else:
                        due = clock.frame_of(clock.now())
                        synth.send((0x90, pitch, 100))
                        time.sleep(0.15)
                        synth.send((0x80, pitch, 0))
                    first = first_sound(due)
                    if first is not None:
                        out[way].append((first - due) * 1000 / SAMPLE_RATE)
            finally:
                if port is not None:
                    port.close()
                synth.close()
                time.sleep(0.2)
        listener.deactivate()
        listener.close()
        return out


def cpu_share() -> tuple[float, float, int]:
    """(render seconds, audio seconds, notes) for 16 bars of the shipped model's answer at 120 BPM."""
    model = load_model(SHIPPED_MODEL)
    phrase = notes_array(
        [(i * TICKS_PER_BEAT // 2, p, TICKS_PER_BEAT // 2, 90) for i, p in enumerate([62, 66, 69, 74, 73, 71, 69, 66])]
    )
    answer = continue_notes(
        model, phrase, bars=16, settings=SamplingSettings(0.8, top_p=0.9), rng=np.random.default_rng(3)
    )
    answer = answer[answer[:, 0] >= 4 * TICKS_PER_BEAT]
    seconds = 0.5 / TICKS_PER_BEAT  # 120 BPM
    messages = []
    for onset, pitch, duration, velocity in answer.tolist():
        messages += [(onset * seconds, (0x90, pitch, velocity)), ((onset + duration) * seconds, (0x80, pitch, 0))]
    began = time.perf_counter()
    frames = render_timed(messages, tail=0.0)
    return time.perf_counter() - began, len(frames) / SAMPLE_RATE, len(answer)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--notes", type=int, default=100)
    parser.add_argument("--periods", default="128,256,512")
    args = parser.parse_args()
    periods = [int(p) for p in args.periods.split(",")]
    soundfont = find_soundfont()
    rng = np.random.default_rng(0)
    rows = []
    exact = exact_latency(args.notes)
    goal = float(np.percentile(exact, 99)) + 64 * 1000 / SAMPLE_RATE  # the attack, and one synth block
    for period in periods:
        result = jack_latency(args.notes, period)
        for way in ("at its frame", "sent when due"):
            shown = result if isinstance(result, str) else f"{percentiles(result[way])} ({len(result[way])} notes)"
            if not isinstance(result, str) and way == "at its frame":
                p99 = float(np.percentile(result[way], 99))
                shown += f"; goal p99 <= {goal:.2f}: {'met' if p99 <= goal else 'MISSED'}"
            rows.append((f"over JACK, {way}, period {period} ({period * 1000 / SAMPLE_RATE:.1f} ms)", shown))
    for block in periods:
        rows.append((f"rendered in blocks of {block}", percentiles(block_latency(args.notes, block, rng))))
    rows.append(("rendered to the sample (generate --wav): the SoundFont's attack", percentiles(exact)))
    render, audio, notes = cpu_share()
    print(f"Sound path, FluidSynth with {soundfont.name}, {SAMPLE_RATE} Hz, {os.cpu_count()} cores")
    print()
    print("| path | note-on to sound, ms: p50 / p99 / max |")
    print("|---|---|")
    for name, shown in rows:
        print(f"| {name} | {shown} |")
    print()
    print(
        f"CPU: rendering 16 bars of an answer ({notes} notes, {audio:.1f} s of audio) took {render * 1000:.0f} ms: "
        f"{100 * render / audio:.2f} % of one core."
    )


if __name__ == "__main__":
    main()
