"""A JACK server with the dummy driver for one benchmark run: its own name, stopped with SIGTERM.

JACK-Client binds the first server a process talks to, so a benchmark that
sweeps periods runs each period's server from a process of its own.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
from pathlib import Path
from typing import Iterator

RATE = 48000


@contextlib.contextmanager
def jack_server(period: int, realtime: bool = False, log: Path | None = None) -> Iterator[dict[str, str]]:
    """Start ``jackd -d dummy`` at ``period`` frames (``-R`` with ``realtime``); yields the environment
    that finds it (also set in this process's own)."""
    if shutil.which("jackd") is None or shutil.which("jack_wait") is None:
        raise SystemExit("needs jackd and jack_wait (Debian/Ubuntu: sudo apt-get install jackd2)")
    name = f"ntlive-bench-{os.getpid()}-{period}"
    env = dict(os.environ, JACK_DEFAULT_SERVER=name, JACK_NO_START_SERVER="1")
    priority = ["-R"] if realtime else ["--no-realtime"]
    out = open(log, "wb") if log is not None else subprocess.DEVNULL
    server = subprocess.Popen(
        ["jackd", *priority, "-n", name, "-d", "dummy", "-r", str(RATE), "-p", str(period)],
        env=env,
        stdout=out,
        stderr=subprocess.STDOUT,
    )
    before = os.environ.get("JACK_DEFAULT_SERVER")
    try:
        waited = subprocess.run(["jack_wait", "-w", "-t", "10"], env=env, capture_output=True)
        if waited.returncode != 0 or server.poll() is not None:
            raise SystemExit(f"the JACK server (period {period}) did not start")
        os.environ["JACK_DEFAULT_SERVER"] = name
        yield env
    finally:
        server.send_signal(signal.SIGTERM)  # never SIGKILL: it leaves shared memory behind
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        if out is not subprocess.DEVNULL:
            out.close()
        if before is None:
            os.environ.pop("JACK_DEFAULT_SERVER", None)
        else:
            os.environ["JACK_DEFAULT_SERVER"] = before
