"""Start a training run across several workers: each gets its TF_CONFIG, then runs `neuraltunes-live train`.

On one machine (N processes on 127.0.0.1, to try it or to use several
processes' worth of memory):

    python training/workers.py --local 2 -- --recipe training/default.toml

On several machines, run on each, with the same host list and its own index
(0 is the chief, which writes the model; the work folder `MODEL.training/`
must be on storage all of them see, for --resume):

    python training/workers.py --hosts a.lan:7070,b.lan:7070 --index 0 -- --recipe training/default.toml

Everything after `--` goes to `neuraltunes-live train`. With --local, one
worker's failure stops the others, and the exit status is the first
non-zero one.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys


def tf_config(hosts: list[str], index: int) -> str:
    """The TF_CONFIG of worker ``index`` of a cluster of ``hosts`` ("host:port")."""
    return json.dumps({"cluster": {"worker": hosts}, "task": {"type": "worker", "index": index}})


def free_local_hosts(count: int) -> list[str]:
    sockets = [socket.socket() for _ in range(count)]
    try:
        for each in sockets:
            each.bind(("127.0.0.1", 0))
        return [f"127.0.0.1:{each.getsockname()[1]}" for each in sockets]
    finally:
        for each in sockets:
            each.close()


def command(train_args: list[str]) -> list[str]:
    return [sys.executable, "-m", "neuraltunes_live", "train", *train_args]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--local", type=int, metavar="N", help="run N workers here, on free loopback ports")
    where.add_argument("--hosts", help="host:port of every worker, comma-separated, the same on each machine")
    parser.add_argument("--index", type=int, help="with --hosts: this machine's place in the list (0: chief)")
    parser.add_argument("train_args", nargs=argparse.REMAINDER, help="-- then the arguments of `train`")
    args = parser.parse_args()
    train_args = args.train_args[1:] if args.train_args[:1] == ["--"] else args.train_args
    if args.local is not None:
        if args.local < 1:
            parser.error("--local needs at least 1 worker")
        hosts = free_local_hosts(args.local)
        workers = [
            subprocess.Popen(command(train_args), env=dict(os.environ, TF_CONFIG=tf_config(hosts, i)))
            for i in range(len(hosts))
        ]
        codes = [worker.wait() for worker in workers]
        return next((code for code in codes if code), 0)
    hosts = [h.strip() for h in args.hosts.split(",") if h.strip()]
    if args.index is None or not 0 <= args.index < len(hosts):
        parser.error(f"--index must be 0 to {len(hosts) - 1}, this machine's place in --hosts")
    return subprocess.call(command(train_args), env=dict(os.environ, TF_CONFIG=tf_config(hosts, args.index)))


if __name__ == "__main__":
    sys.exit(main())
