"""Training across worker processes: two real workers under TF_CONFIG on 127.0.0.1, as on two machines.

Each worker is its own ``neuraltunes-live train`` process with its own
``TF_CONFIG`` (``MultiWorkerMirroredStrategy``, collective all-reduce over
gRPC on loopback ports). They must train one model, written by the chief
alone, equal to what one process training the same global batches writes;
and a run that loses a worker must go on from its last epoch with
``--resume``.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("tensorflow")

from neuraltunes_live.core.continuation import continue_notes  # noqa: E402
from neuraltunes_live.core.model_files import load_model  # noqa: E402
from neuraltunes_live.core.sampling import SamplingSettings  # noqa: E402

from .conftest import notes  # noqa: E402
from .floats import assert_close  # noqa: E402

TINY = ["--preset", "tiny", "--batch-size", "8", "--seq-len", "16", "--random-seed", "11"]
WAIT = 600  # seconds a worker may take at most (two TensorFlow start-ups on two busy cores)


def free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    for each in sockets:
        each.bind(("127.0.0.1", 0))
    ports = [each.getsockname()[1] for each in sockets]
    for each in sockets:
        each.close()
    return ports


def start_workers(data: Path, out: Path, args: list[str], ports: list[int], tmp_path: Path) -> list[subprocess.Popen]:
    cluster = {"worker": [f"127.0.0.1:{port}" for port in ports]}
    workers = []
    for index in range(len(ports)):
        env = dict(
            os.environ,
            TF_CONFIG=json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}}),
            TF_CPP_MIN_LOG_LEVEL="3",
            OMP_NUM_THREADS="1",
            TF_NUM_INTRAOP_THREADS="1",
            TF_NUM_INTEROP_THREADS="1",
        )
        log = open(tmp_path / f"worker{index}.log", "w")
        command = [sys.executable, "-m", "neuraltunes_live", "train", str(data), "--out", str(out), *TINY, *args]
        workers.append(subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT))
    return workers


def finish(workers: list[subprocess.Popen], tmp_path: Path) -> None:
    for index, worker in enumerate(workers):
        try:
            code = worker.wait(timeout=WAIT)
        except subprocess.TimeoutExpired:
            for each in workers:
                each.kill()
            pytest.fail(f"worker {index} did not finish: {(tmp_path / f'worker{index}.log').read_text()[-3000:]}")
        assert code == 0, (tmp_path / f"worker{index}.log").read_text()[-3000:]


def alone(data: Path, out: Path, args: list[str]) -> None:
    env = {k: v for k, v in os.environ.items() if k != "TF_CONFIG"}
    done = subprocess.run(
        [sys.executable, "-m", "neuraltunes_live", "train", str(data), "--out", str(out), *TINY, *args],
        env=dict(env, TF_CPP_MIN_LOG_LEVEL="3"),
        capture_output=True,
        text=True,
        timeout=WAIT,
    )
    assert done.returncode == 0, done.stderr[-3000:]


def same_weights(a: Path, b: Path) -> None:
    with np.load(a / "weights.npz") as first, np.load(b / "weights.npz") as second:
        assert sorted(first.files) == sorted(second.files)
        for name in first.files:
            assert_close(first[name], second[name])


def test_two_workers_train_the_model_one_worker_trains_alone(tiny_data, tmp_path):
    out = tmp_path / "together"
    finish(start_workers(tiny_data, out, ["--epochs", "2"], free_ports(2), tmp_path), tmp_path)
    # One model folder, the chief's; the other worker wrote nothing anywhere.
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.endswith(".log")) == ["together"]
    assert "Worker 1 of 2 done; the chief writes the model." in (tmp_path / "worker1.log").read_text()
    model = load_model(out)
    assert model.info.training.workers == 2 and model.info.training.replicas == 2
    played = continue_notes(
        model,
        notes((0, 60, 12, 90), (12, 64, 12, 90)),
        bars=1,
        settings=SamplingSettings(),
        rng=np.random.default_rng(0),
    )
    assert len(played) > 0
    # The same global batches on one worker give the same network.
    alone(tiny_data, tmp_path / "alone", ["--epochs", "2"])
    same_weights(out, tmp_path / "alone")
    history = [line.split(",") for line in (out / "history.csv").read_text().splitlines()[1:]]
    by_one = [line.split(",") for line in (tmp_path / "alone" / "history.csv").read_text().splitlines()[1:]]
    for together_row, alone_row in zip(history, by_one, strict=True):  # the same figures, however many workers
        assert_close(np.array(together_row, float), np.array(alone_row, float))


def test_a_run_that_loses_a_worker_resumes_from_its_last_epoch(tiny_data, tmp_path):
    out = tmp_path / "model"
    work = tmp_path / "model.training"
    workers = start_workers(tiny_data, out, ["--epochs", "6", "--patience", "10"], free_ports(2), tmp_path)
    deadline = time.monotonic() + WAIT
    while not (work / "history.csv").exists() or len((work / "history.csv").read_text().splitlines()) < 3:
        assert time.monotonic() < deadline, (tmp_path / "worker0.log").read_text()[-3000:]
        assert all(w.poll() is None for w in workers), "a worker ended before it was stopped"
        time.sleep(0.2)
    workers[1].send_signal(signal.SIGKILL)  # a machine lost mid-run
    workers[0].send_signal(signal.SIGKILL)  # its partner waits on it forever: stopped too
    for worker in workers:
        worker.wait(timeout=60)
    kept = (work / "history.csv").read_text().splitlines()
    assert 3 <= len(kept) < 7 and not out.exists()

    finish(
        start_workers(tiny_data, out, ["--epochs", "6", "--patience", "10", "--resume"], free_ports(2), tmp_path),
        tmp_path,
    )
    history = (out / "history.csv").read_text().splitlines()
    assert history[: len(kept)] == kept  # the epochs already run were not run again
    assert [int(float(line.split(",")[0])) for line in history[1:]] == list(range(6))
    # And it is the model an uninterrupted run would have made.
    alone(tiny_data, tmp_path / "straight", ["--epochs", "6", "--patience", "10"])
    same_weights(out, tmp_path / "straight")


def test_a_tf_config_that_is_no_cluster_is_one_line(tiny_data, tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "neuraltunes_live", "train", str(tiny_data), "--out", str(tmp_path / "m"), *TINY],
        env=dict(os.environ, TF_CONFIG="{not json", TF_CPP_MIN_LOG_LEVEL="3"),
        capture_output=True,
        text=True,
        timeout=WAIT,
    )
    assert done.returncode == 1
    errors = [line for line in done.stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1 and "TF_CONFIG is not a cluster TensorFlow can join" in errors[0], done.stderr[-2000:]
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "m").exists()
