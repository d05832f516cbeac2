"""Timing where a DAW hears it: the frames at which answers reach a JACK port, and how played notes are heard.

For each period (64 ... 1024 frames at 48 kHz) a JACK server with the dummy
driver is started in a process of its own (JACK-Client binds one server per
process), and ``neuraltunes-live serve --tempo 120`` runs against it as a user
starts it, once per output path:

* **frames**: ``--jack-timing frames`` (JACK-Client: each event written at its
  frame, each input event timed by its frame);
* **send**: ``--jack-timing send`` (RtMidi's JACK output, sent when due and
  written by JACK at the next period's first frame; input stamped when Python
  reads it), the way every release before this one played.

A probe client of this script, outside the daemon, plays C-major phrases
into "NeuralTunes In" at exact frames and records "NeuralTunes Out" with each
event's absolute frame (``last_frame_time`` + offset). Per path, idle and
under load (two busy processes), it prints:

* **onset error**: each answer note-on's frame against the answer's own grid
  (12 steps a beat from its first note), p50 / p99 / max in ms and frames;
* **late**: events the daemon's port wrote after their frame (its log);
* **response**: the phrase's last note-off to the answer's first note, ms;
* **input error**: the onset the daemon heard (its ``log_notes`` lines)
  against the frame the probe played it at, each phrase against its first
  note (the phrase's own timeline, which its grid and feel are read on), ms.

The daemon's threads run at normal priority on the frames path (it asks for
nothing); on the send path ``serve`` asks for real-time priority for its
scheduler thread as it always has. The server runs at real-time priority
(``-R``) as real setups run it; ``--server-normal`` runs it without.

    python benchmarks/port_timing.py [--periods 64,128,256,512,1024] [--phrases 4] [--server-normal]
    python benchmarks/port_timing.py --minutes 10 --periods 128     (the long run)
    python benchmarks/port_timing.py --restarts 4 --periods 256     (a server that goes and comes back)
"""

from __future__ import annotations

import argparse
import collections
import json
import multiprocessing
import re
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

from jack_server import RATE, jack_server  # noqa: E402

TEMPO = 120
BEAT = RATE * 60 // TEMPO  # frames
STEP = BEAT / 12  # the answer grid: 16ths and triplets
PHRASE = [60, 62, 64, 65, 67, 65, 64, 62, 60]  # quarter notes; the last one held two beats
ANSWER_BARS = 2
HEARD = re.compile(r"heard note (\d+) at ([0-9.]+) s")
LATE = re.compile(r"\((\d+) in all\)")


def burn() -> None:
    while True:
        pass


class Probe:
    """A JACK client outside the daemon: plays events at exact frames, records what comes with its frames."""

    def __init__(self):
        import jack

        self.client = jack.Client("Timing Probe", no_start_server=True)
        self.out = self.client.midi_outports.register("play")
        self.into = self.client.midi_inports.register("hear")
        self.plan: collections.deque[tuple[int, bytes]] = collections.deque()
        self.heard: list[tuple[int, bytes]] = []
        self.heard_all: list[tuple[int, bytes]] = []  # never cleared
        self.client.set_process_callback(self._process)
        self.client.activate()

    def _process(self, frames: int) -> None:
        start = self.client.last_frame_time
        self.out.clear_buffer()
        while self.plan and self.plan[0][0] < start + frames:
            frame, data = self.plan.popleft()
            self.out.write_midi_event(max(0, frame - start), data)
        for offset, data in self.into.incoming_midi_events():
            self.heard.append((start + offset, bytes(data)))
            self.heard_all.append((start + offset, bytes(data)))

    def connect(self) -> None:
        self.client.connect(self.out, "NeuralTunes In:NeuralTunes In")
        self.client.connect("NeuralTunes Out:NeuralTunes Out", self.into)

    def play_phrase(self) -> tuple[list[int], int]:
        """The phrase from the next beat but one; (its note-on frames, its last note-off's frame)."""
        begin = (self.client.frame_time // BEAT + 2) * BEAT
        ons, events = [], []
        for i, pitch in enumerate(PHRASE):
            on = begin + i * BEAT
            length = 2 * BEAT if i == len(PHRASE) - 1 else BEAT * 9 // 10
            ons.append(on)
            events += [(on, bytes((0x90, pitch, 90))), (on + length, bytes((0x80, pitch, 0)))]
        events.sort()
        self.plan.extend(events)
        return ons, events[-1][0]

    def close(self) -> None:
        self.client.deactivate()
        self.client.close()


def serve(env: dict[str, str], path: str, log: list[str], extra: tuple[str, ...] = ()) -> subprocess.Popen:
    config = Path(tempfile.mkdtemp()) / "config.toml"
    config.write_text("")
    args = [sys.executable, "-m", "neuraltunes_live", "serve", "--backend", "jack", "--jack-timing", path]
    args += ["--config", str(config), "--tempo", str(TEMPO), "--bars", str(ANSWER_BARS), "--random-seed", "3"]
    args += list(extra)
    process = subprocess.Popen(
        args,
        env=dict(env, NEURALTUNES_LIVE_LOG_NOTES="true"),
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    ready = threading.Event()

    def read() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            log.append(line.rstrip())
            if "ready in" in line:
                ready.set()

    threading.Thread(target=read, daemon=True).start()
    if not ready.wait(60):
        process.kill()
        raise SystemExit("serve did not get ready:\n" + "\n".join(log))
    return process


def trial(env: dict[str, str], path: str, loaded: bool, phrases: int) -> dict:
    """One path, idle or loaded: the figures for that row."""
    workers = [multiprocessing.Process(target=burn, daemon=True) for _ in range(2 if loaded else 0)]
    for worker in workers:
        worker.start()
    log: list[str] = []
    daemon = serve(env, path, log)
    probe = Probe()
    errors: list[float] = []
    responses: list[float] = []
    heard_errors: list[float] = []
    try:
        probe.connect()
        time.sleep(0.5)
        for _ in range(phrases):
            first_heard = len([line for line in log if HEARD.search(line)])
            ons, end = probe.play_phrase()
            answer_seconds = (end - probe.client.frame_time) / RATE + ANSWER_BARS * 4 * 60 / TEMPO + 1.5
            time.sleep(answer_seconds)
            answer = sorted(
                f for f, d in probe.heard if len(d) == 3 and d[0] & 0xF0 == 0x90 and d[2] > 0 and f > ons[0]
            )
            probe.heard.clear()
            if answer:
                responses.append((answer[0] - end) * 1000 / RATE)
                offsets = np.asarray(answer) - answer[0]
                errors += list(np.abs(offsets - np.round(offsets / STEP) * STEP)[1:])  # the first sets the grid
            heard = [float(m.group(2)) for m in map(HEARD.search, log) if m][first_heard:]
            if len(heard) == len(ons):
                played = (np.asarray(ons) - ons[0]) / RATE
                heard_errors += list(np.abs((np.asarray(heard) - heard[0]) - played) * 1000)
    finally:
        probe.close()
        daemon.terminate()
        daemon.wait(timeout=20)
        for worker in workers:
            worker.terminate()
            worker.join()
    late = [int(m.group(1)) for m in map(LATE.search, log) if m]
    return {
        "path": path,
        "load": "loaded" if loaded else "idle",
        "onset_frames": [float(e) for e in errors],
        "response_ms": responses,
        "input_ms": heard_errors,
        "late": late[-1] if late else (0 if path == "frames" else None),
        "notes": len(errors) + len(responses),  # every note-on: the firsts, and those measured
    }


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


JUNK = [bytes((0xF0, 0x01)), bytes((0x93,)), bytes((0xFF, 0xFF, 0xFF)), bytes((0x80, 200, 3)), bytes((0xF7,))]


def long_run(period: int, minutes: float, realtime: bool) -> dict:
    """Phrases, knobs, junk and the answers for ``minutes`` on the frames path: onset error by minute,
    the daemon's memory at the start and the end, notes left sounding, phrases unanswered."""
    with jack_server(period, realtime=realtime) as env:
        log: list[str] = []
        daemon = serve(env, "frames", log)
        probe = Probe()
        rng = np.random.default_rng(7)
        by_minute: dict[int, list[float]] = collections.defaultdict(list)
        sent = sounding_at_end = 0
        began = time.monotonic()
        rss = [rss_kb(daemon.pid)]
        try:
            probe.connect()
            time.sleep(0.5)
            while time.monotonic() - began < minutes * 60:
                now = probe.client.frame_time
                probe.plan.append((now + 2000, bytes((0xB0, 21, int(rng.integers(0, 128))))))  # the temperature knob
                probe.plan.append((now + 3000, JUNK[sent % len(JUNK)]))
                ons, end = probe.play_phrase()
                sent += 1
                time.sleep((end - probe.client.frame_time) / RATE + ANSWER_BARS * 4 * 60 / TEMPO + 1.5)
                answer = sorted(f for f, d in probe.heard if len(d) == 3 and d[0] & 0xF0 == 0x90 and d[2] > 0)
                answer = [f for f in answer if f > ons[0]]
                if answer:
                    offsets = np.asarray(answer) - answer[0]
                    minute = int((time.monotonic() - began) // 60)
                    by_minute[minute] += list(np.abs(offsets - np.round(offsets / STEP) * STEP)[1:])
            rss.append(rss_kb(daemon.pid))
        finally:
            probe.close()
            daemon.terminate()
            daemon.wait(timeout=20)
        sounding: set[int] = set()
        for _, data in probe.heard_all:
            if len(data) == 3 and data[0] & 0xF0 == 0x90 and data[2] > 0:
                sounding.add(data[1])
            elif len(data) == 3 and (data[0] & 0xF0 == 0x80 or data[0] & 0xF0 == 0x90):
                sounding.discard(data[1])
            elif len(data) == 3 and data[0] & 0xF0 == 0xB0 and data[1] == 123:
                sounding.clear()
        sounding_at_end = len(sounding)
        answered = sum("answering" in line for line in log)
        late = [int(m.group(1)) for m in map(LATE.search, log) if m]
    minutes_seen = sorted(by_minute)
    return {
        "period": period,
        "minutes": minutes,
        "phrases": sent,
        "answered": answered,
        "first": [float(e) for e in by_minute[minutes_seen[0]]] if minutes_seen else [],
        "last": [float(e) for e in by_minute[minutes_seen[-1]]] if minutes_seen else [],
        "rss_kb": rss,
        "sounding_at_end": sounding_at_end,
        "late": late[-1] if late else 0,
        "errors": sum("error while" in line for line in log),
    }


def print_long_run(r: dict) -> None:
    print(
        f"Long run: {r['minutes']:g} minutes at period {r['period']}, frames path; phrases, a knob and junk each round"
    )
    print(f"  phrases played {r['phrases']}, answered {r['answered']}; late events {r['late']}; errors {r['errors']}")
    print(f"  onset error, first minute (frames): {pct(r['first'])}; last minute: {pct(r['last'])}")
    print(f"  daemon RSS: {r['rss_kb'][0] / 1024:.1f} MB at the start, {r['rss_kb'][-1] / 1024:.1f} MB at the end")
    print(f"  notes left sounding after SIGTERM: {r['sounding_at_end']}")


def restarts(period: int, times: int, realtime: bool) -> list[dict]:
    """The server stopped and started again under its name ``times`` times (the second at another
    period): seconds from the new server answering to both ports of the daemon being there, and
    whether a phrase played then is answered."""
    rows = []
    with jack_server(period, realtime=realtime) as env:
        log: list[str] = []
        daemon = serve(env, "frames", log)
        servers: list[subprocess.Popen] = []
        try:
            for i in range(times):
                subprocess.run(["pkill", "-TERM", "-f", f"jackd .*-n {env['JACK_DEFAULT_SERVER']} "], check=False)
                time.sleep(1.0)
                new_period = period * 2 if i % 2 == 0 else period
                priority = ["-R"] if realtime else ["--no-realtime"]
                command = ["jackd", *priority, "-n", env["JACK_DEFAULT_SERVER"], "-d", "dummy", "-r", str(RATE)]
                servers.append(
                    subprocess.Popen(
                        [*command, "-p", str(new_period)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT
                    )
                )
                subprocess.run(["jack_wait", "-w", "-t", "10"], env=env, capture_output=True)
                up = time.monotonic()
                back = None
                while time.monotonic() - up < 10:
                    ports = subprocess.run(["jack_lsp"], env=env, capture_output=True, text=True).stdout
                    if "NeuralTunes In:NeuralTunes In" in ports and "NeuralTunes Out:NeuralTunes Out" in ports:
                        back = time.monotonic() - up
                        break
                    time.sleep(0.02)
                probe = Probe()
                probe.connect()
                time.sleep(0.3)
                ons, end = probe.play_phrase()
                time.sleep((end - probe.client.frame_time) / RATE + ANSWER_BARS * 4 * 60 / TEMPO + 1.0)
                answered = any(len(d) == 3 and d[0] & 0xF0 == 0x90 and d[2] > 0 and f > end for f, d in probe.heard)
                probe.close()
                rows.append({"period": new_period, "back_s": back, "answered": answered})
        finally:
            daemon.terminate()
            daemon.wait(timeout=20)
            subprocess.run(["pkill", "-TERM", "-f", f"jackd .*-n {env['JACK_DEFAULT_SERVER']} "], check=False)
            for server in servers:
                server.wait(timeout=10)
    return rows


def run_period(period: int, phrases: int, realtime: bool) -> list[dict]:
    rows = []
    with jack_server(period, realtime=realtime) as env:
        for path in ("frames", "send"):
            for loaded in (False, True):
                row = trial(env, path, loaded, phrases)
                row["period"] = period
                rows.append(row)
    return rows


def pct(values, scale: float = 1.0) -> str:
    if not values:
        return "—"
    a = np.asarray(values, dtype=float) * scale
    return f"{np.percentile(a, 50):.2f} / {np.percentile(a, 99):.2f} / {a.max():.2f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--periods", default="64,128,256,512,1024")
    parser.add_argument("--phrases", type=int, default=4)
    parser.add_argument("--server-normal", action="store_true", help="run the JACK server without -R")
    parser.add_argument("--minutes", type=float, help="a long run of this many minutes at the first period")
    parser.add_argument("--restarts", type=int, help="stop and start the server this many times instead")
    parser.add_argument("--one-period", type=int, help=argparse.SUPPRESS)  # a period's own process
    args = parser.parse_args()
    if args.restarts:
        period = int(args.periods.split(",")[0])
        print(f"The JACK server stopped and started again under its name, {args.restarts} times")
        print("seconds from the new server answering to both of the daemon's ports there; a phrase answered then?")
        for row in restarts(period, args.restarts, not args.server_normal):
            back = "never (10 s)" if row["back_s"] is None else f"{row['back_s']:.2f} s"
            print(f"  new period {row['period']:>5}: ports back after {back}; answered: {row['answered']}")
        return
    if args.minutes:
        print_long_run(long_run(int(args.periods.split(",")[0]), args.minutes, not args.server_normal))
        return
    if args.one_period:
        print(json.dumps(run_period(args.one_period, args.phrases, not args.server_normal)))
        return
    rows = []
    for period in [int(p) for p in args.periods.split(",")]:
        command = [sys.executable, __file__, "--one-period", str(period), "--phrases", str(args.phrases)]
        if args.server_normal:
            command.append("--server-normal")
        done = subprocess.run(command, capture_output=True, text=True)
        if done.returncode != 0:
            print(f"period {period}: failed\n{done.stderr[-2000:]}", file=sys.stderr)
            continue
        rows += json.loads(done.stdout.strip().splitlines()[-1])
    server = "normal priority" if args.server_normal else "real-time priority (-R)"
    print(f"JACK dummy driver, {RATE} Hz, server at {server}; serve --tempo {TEMPO}; {args.phrases} phrases a row")
    print("onset error: answer note-ons against the answer's own grid (12 a beat), p50 / p99 / max")
    print("input error: heard onsets against played frames, on each phrase's own timeline, p50 / p99 / max\n")
    head = (
        f"{'period':>6}  {'path':<6} {'load':<6} {'notes':>5}  {'onset error ms':<20} {'frames':<20} "
        f"{'late':>4}  {'response ms':<22} {'input error ms':<18}"
    )
    print(head)
    print("-" * len(head))
    for r in rows:
        late = "—" if r["late"] is None else str(r["late"])
        print(
            f"{r['period']:>6}  {r['path']:<6} {r['load']:<6} {r['notes']:>5}  "
            f"{pct(r['onset_frames'], 1000 / RATE):<20} {pct(r['onset_frames']):<20} {late:>4}  "
            f"{pct(r['response_ms']):<22} {pct(r['input_ms']):<18}"
        )


if __name__ == "__main__":
    main()
