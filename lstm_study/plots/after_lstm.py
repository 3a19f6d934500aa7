"""Figures for the chapter "After the LSTM": learning curves over seeds, how far back each looks."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure


def plot_seed_curves(
    curves: Mapping[str, tuple[Sequence[float], Sequence[Sequence[float]]]],
    baseline: tuple[str, float] | None = None,
    marks: Mapping[str, float] | None = None,
) -> Figure:
    """Held-out bits per character against characters trained on, log axis, one band per model.

    ``curves`` maps a label to (characters at each checkpoint, one list of scores per seed): the
    line is the mean over seeds, the band the lowest to the highest seed. ``baseline`` (label,
    score) is a dashed horizontal line; ``marks`` (label -> characters) dotted vertical lines.
    """
    fig, ax = plt.subplots(figsize=(7.5, 4))
    for n, (label, (seen, runs)) in enumerate(curves.items()):
        values = np.asarray(runs, dtype=float)
        x = np.asarray(seen, dtype=float)
        ax.plot(x, values.mean(axis=0), color=f"C{n}", marker="o", markersize=3,
                label=f"{label} ({len(values)} seeds)")  # fmt: skip
        ax.fill_between(
            x, values.min(axis=0), values.max(axis=0), color=f"C{n}", alpha=0.2
        )
    if baseline is not None:
        ax.axhline(baseline[1], color="0.3", linestyle="--", label=baseline[0])
    for text, at in (marks or {}).items():
        ax.axvline(at, color="0.5", linestyle=":")
        ax.annotate(text, (at, 0.97), xycoords=("data", "axes fraction"), ha="right",
                    va="top", fontsize=8, rotation=90)  # fmt: skip
    ax.set_xscale("log")
    ax.set_xlabel("training characters")
    ax.set_ylabel("validation bits per character")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def plot_horizon(
    curves: Mapping[str, Sequence[Sequence[float]]], hard_horizon: tuple[str, int]
) -> Figure:
    """Mean gradient norm k characters back, relative to k = 0, on a log axis, per model.

    ``curves`` maps a label to one list per seed; ``hard_horizon`` (label, k) draws the
    n-gram's last visible character as a vertical line: beyond it the n-gram's is zero.
    """
    fig, ax = plt.subplots(figsize=(7.5, 4))
    for n, (label, runs) in enumerate(curves.items()):
        values = np.asarray(runs, dtype=float)
        relative = values / values[:, :1]
        ks = np.arange(values.shape[1])
        ax.plot(ks, relative.mean(axis=0), color=f"C{n}", label=label)
        ax.fill_between(ks, relative.min(axis=0), relative.max(axis=0), color=f"C{n}",
                        alpha=0.2)  # fmt: skip
    ax.axvline(hard_horizon[1], color="0.3", linestyle="--", label=hard_horizon[0])
    ax.set_yscale("log")
    ax.set_xlabel("k: characters back from the predicted one")
    ax.set_ylabel("gradient norm, relative to k = 0")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig
