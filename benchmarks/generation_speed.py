"""Generation speed: the NumPy runtime against Keras, stepped and the seeds' way.

One run, one model, one table. A phrase (the opening of a held-out-style
tune) primes each contender, then notes are generated one at a time:

- **NumPy runtime** (ours): ``Continuer`` — one ``LSTMModel.step`` per event
  with the state carried, the piece memory blended in, plus sampling
  (grammar, loop guard, top-p). A model with a piece memory is also timed
  without it, as "network alone".
- **Keras, stepped eagerly**: the same network built stateful with batch 1,
  called on one event at a time (``model(x, training=False)``). Its interval
  term looks back only within a call, so its pitch logits differ from the
  runtime's; the work per event, which is what is timed, is the same.
- **Keras, the seeds' way**: ``model.predict`` on the last 100 events for
  every event, as the seed projects generated (they re-read a 100-note
  window for each note).

All three generate the same event sequence: the NumPy runtime samples it,
the Keras contenders are fed it, so each does the same work per note. A note
is a pitch and its duration plus any time shift or loudness change before it
(about three events). Time per note is from the first event after the
previous note to the note's duration event. Then the time to load the model
folder in a fresh process: the runtime (NumPy only) against Keras loading
the same network from a ``.keras`` file, each including its imports.

    python benchmarks/generation_speed.py [--model models/default] [--notes 2000]
        [--keras-notes 300] [--seeds-notes 60]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Iterable, Iterator

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
# As the CLI does: single-threaded BLAS for one-event-at-a-time products.
for variable in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(variable, "1")

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from neuraltunes_live.core.continuation import Continuer  # noqa: E402
from neuraltunes_live.core.encoding import DURATION_BASE, VELOCITY_BASE  # noqa: E402
from neuraltunes_live.core.model import LSTMModel  # noqa: E402
from neuraltunes_live.core.model_files import load_model  # noqa: E402
from neuraltunes_live.core.sampling import SamplingSettings  # noqa: E402

WINDOW = 100


def phrase() -> np.ndarray:
    """Eight bars of a D major tune with a bass note on each bar."""
    rows, onset = [], 0
    line = [62, 66, 69, 74, 73, 71, 69, 66, 67, 71, 74, 79, 78, 76, 74, 73]
    for bar in range(8):
        rows.append((onset, 50 if bar % 2 == 0 else 45, 48, 64))
        for i in range(4):
            rows.append((onset + 12 * i, line[(4 * bar + i) % len(line)], 12, 80))
        onset += 48
    return np.array(rows, dtype=np.int32)


def is_duration(token: int) -> bool:
    return DURATION_BASE <= token < VELOCITY_BASE


def sampled_tokens(model, seed: int) -> Iterator[int]:
    """Events as the runtime samples them after the phrase, without end.

    The phrase is primed here, before the first event is asked for, so
    priming is not timed as part of the first note.
    """
    continuer = Continuer(model, np.random.default_rng(seed))
    continuer.prime(phrase())
    settings = SamplingSettings(top_p=0.95)

    def events() -> Iterator[int]:
        while True:
            token = continuer.peek(settings)
            continuer.take(token)
            yield token

    return events()


def numpy_run(model, notes: int, seed: int) -> tuple[list[float], list[int]]:
    """Time the runtime sampling ``notes`` notes; and the events it chose."""
    tokens: list[int] = []
    return per_note(tokens.append, sampled_tokens(model, seed), notes), tokens


def per_note(step, tokens: Iterable[int], notes: int) -> list[float]:
    """Feed ``tokens`` through ``step``; time from one note's end to the next.

    With ``tokens`` a generator, making each token is timed too.
    """
    times = []
    start = time.perf_counter()
    for token in tokens:
        step(token)
        if is_duration(token):
            now = time.perf_counter()
            times.append(now - start)
            start = now
            if len(times) == notes:
                break
    return times


def percentiles(times: list[float]) -> tuple[float, float, float]:
    ms = np.array(times) * 1000
    return float(np.percentile(ms, 50)), float(np.percentile(ms, 99)), float(ms.max())


LOAD_RUNTIME = """
import time; t = time.perf_counter()
from neuraltunes_live.core.model_files import load_model
m = load_model({model!r}); m.step(1, m.initial_state())
import sys; assert 'tensorflow' not in sys.modules
print(time.perf_counter() - t)
"""

LOAD_KERAS = """
import os, time; os.environ['TF_CPP_MIN_LOG_LEVEL'] = '3'; t = time.perf_counter()
import keras
import neuraltunes_live.training.model  # registers the custom layers the file names
m = keras.saving.load_model({path!r}, compile=False); m.predict(__import__('numpy').zeros((1, 1), 'int32'), verbose=0)
print(time.perf_counter() - t)
"""


def load_seconds(code: str, runs: int) -> float:
    times = []
    for _ in range(runs):
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
        times.append(float(out.stdout.strip().splitlines()[-1]))
    return float(np.median(times))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default=str(ROOT / "models" / "default"))
    parser.add_argument("--notes", type=int, default=2000, help="notes for the NumPy runtime")
    parser.add_argument("--keras-notes", type=int, default=300, help="notes for Keras stepped eagerly")
    parser.add_argument("--seeds-notes", type=int, default=60, help="notes for the (slow) seeds' way")
    parser.add_argument("--load-runs", type=int, default=3)
    args = parser.parse_args()

    model = load_model(args.model)
    arch = model.arch
    print(
        f"Model {args.model}: {arch.parameter_count():,} parameters, LSTM {list(arch.lstm_units)}; "
        f"{os.cpu_count()} CPU cores.",
        flush=True,
    )

    numpy_run(model, 20, seed=0)  # warm-up
    numpy_times, tokens = numpy_run(model, args.notes, seed=1)
    events_per_note = len(tokens) / len(numpy_times)
    alone_times = None
    if model.memory is not None:
        alone = LSTMModel(model.arch, model.weights, model.info)  # the same network, no piece memory
        alone_times, _ = numpy_run(alone, args.notes, seed=1)

    from neuraltunes_live.core.continuation import phrase_tokens
    from neuraltunes_live.training import model as keras_model

    weights = model.weights
    stepper = keras_model.build(arch, stateful_batch=1)
    keras_model.load_weights(stepper, weights, arch)
    windowed = keras_model.build(arch)
    keras_model.load_weights(windowed, weights, arch)

    primer, _ = phrase_tokens(phrase())
    stepper(primer[None, :].astype(np.int32), training=False)  # prime the stateful layers
    eager_times = per_note(lambda t: stepper(np.array([[t]], np.int32), training=False), tokens, args.keras_notes)

    history = [int(t) for t in primer]

    def predict(token: int) -> None:
        history.append(token)
        window = np.array([history[-WINDOW:]], np.int32)
        windowed.predict(window, verbose=0)

    windowed.predict(np.array([history[-WINDOW:]], np.int32), verbose=0)  # warm-up
    seeds_times = per_note(predict, tokens, args.seeds_notes)

    with tempfile.TemporaryDirectory() as tmp:
        keras_file = str(Path(tmp) / "model.keras")
        windowed.save(keras_file)
        runtime_load = load_seconds(LOAD_RUNTIME.format(model=str(Path(args.model).resolve())), args.load_runs)
        keras_load = load_seconds(LOAD_KERAS.format(path=keras_file), args.load_runs)

    rows = [
        ("NumPy runtime (ours)", numpy_times),
        *([("NumPy runtime, network alone", alone_times)] if alone_times else []),
        ("Keras, stepped eagerly", eager_times),
        ("Keras predict, 100-event window (seeds)", seeds_times),
    ]
    ours_p50 = percentiles(numpy_times)[0]
    print(f"\nPer note ({events_per_note:.2f} events a note on average), milliseconds:")
    print(f"{'':<42}{'notes':>6}{'p50':>9}{'p99':>9}{'max':>9}{'p50 vs ours':>13}")
    for name, times in rows:
        p50, p99, top = percentiles(times)
        print(f"{name:<42}{len(times):>6}{p50:>9.3f}{p99:>9.3f}{top:>9.3f}{p50 / ours_p50:>12.0f}x")
    print(f"\nLoading the model in a fresh process (median of {args.load_runs}), seconds:")
    print(f"{'NumPy runtime (ours), imports included':<42}{runtime_load:>9.3f}")
    print(f"{'Keras load_model, TensorFlow import incl.':<42}{keras_load:>9.3f}{keras_load / runtime_load:>12.0f}x")


if __name__ == "__main__":
    main()
