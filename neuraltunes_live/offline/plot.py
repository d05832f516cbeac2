"""Pictures: the training history and piano rolls. The one matplotlib importer.

matplotlib comes with the ``train`` extra; without it ``plot`` functions raise
a clear error naming what to install.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from neuraltunes_live.core.notes import DURATION, ONSET, PITCH, TICKS_PER_BEAT
from neuraltunes_live.errors import NeuralTunesError


def _pyplot() -> Any:
    try:
        import matplotlib
    except ImportError as err:
        raise NeuralTunesError("plotting needs matplotlib: pip install matplotlib") from err
    matplotlib.use("Agg")  # files only; never a window
    import matplotlib.pyplot as plt

    return plt


def plot_history(rows: list[dict[str, float]], path: Path, title: str) -> None:
    """Loss and accuracy per epoch, training against validation, as a PNG."""
    plt = _pyplot()
    epochs = [int(r["epoch"]) + 1 for r in rows]
    fig, (loss_ax, acc_ax) = plt.subplots(1, 2, figsize=(10, 4))
    for ax, key, label in ((loss_ax, "loss", "loss (nats per event)"), (acc_ax, "accuracy", "accuracy")):
        ax.plot(epochs, [r[key] for r in rows], marker="o", label="training")
        ax.plot(epochs, [r[f"val_{key}"] for r in rows], marker="o", label="validation")
        ax.set_xlabel("epoch")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
        ax.legend()
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def piano_roll(parts: list[tuple[str, np.ndarray]], path: Path, title: str = "", beats_per_bar: int = 4) -> None:
    """Notes as bars on a pitch/time grid, one colour per part, as a PNG."""
    plt = _pyplot()
    colours = ["#4C72B0", "#DD8452", "#55A868", "#C44E52"]
    everything = np.concatenate([notes for _, notes in parts if len(notes)] or [np.zeros((0, 4), np.int32)])
    end_beats = float((everything[:, ONSET] + everything[:, DURATION]).max()) / TICKS_PER_BEAT if len(everything) else 4
    fig, ax = plt.subplots(figsize=(min(24, 3 + end_beats / 4), 5))
    for index, (name, notes) in enumerate(parts):
        if len(notes) == 0:
            continue
        ax.barh(
            notes[:, PITCH],
            notes[:, DURATION] / TICKS_PER_BEAT,
            left=notes[:, ONSET] / TICKS_PER_BEAT,
            height=0.8,
            color=colours[index % len(colours)],
            label=name,
        )
    if len(everything):
        ax.set_ylim(everything[:, PITCH].min() - 2, everything[:, PITCH].max() + 2)
    ax.set_xlim(0, end_beats)
    for bar in np.arange(0, end_beats + beats_per_bar, beats_per_bar):
        ax.axvline(bar, color="#999999", linewidth=0.5)
    ax.set_xlabel("beat")
    ax.set_ylabel("MIDI note")
    ax.set_title(title)
    ax.legend(loc="upper right")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
