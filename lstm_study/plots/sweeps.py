"""Figures for a sweep over seeds: every run's score, one column of dots per group."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure


def plot_runs(
    scores: Mapping[str, Sequence[float]],
    *,
    lines: Mapping[str, float] | None = None,
    ax: plt.Axes | None = None,
    title: str = "Every run's score",
    ylabel: str = "test MSE (log scale)",
) -> Figure:
    """One column per group, one dot per run (log scale), the median as a bar.

    ``lines`` draws labelled horizontal references (a baseline). A run whose score is not
    finite (it diverged) is drawn as an x at the top of the axis.
    """
    if ax is None:
        _, ax = plt.subplots(figsize=(8, 4))
    rng = np.random.default_rng(0)  # the horizontal jitter only
    top = max(
        (v for values in scores.values() for v in values if math.isfinite(v)),
        default=1.0,
    )
    for index, (label, values) in enumerate(scores.items()):
        values = np.asarray(values, dtype=float)
        finite = np.isfinite(values)
        jitter = rng.uniform(-0.15, 0.15, len(values))
        ax.scatter(index + jitter[finite], values[finite], s=18, color="C0", zorder=3)
        ax.scatter(
            index + jitter[~finite],
            np.full((~finite).sum(), 2 * top),
            marker="x",
            color="C3",
            zorder=3,
        )
        median = np.median(np.where(finite, values, np.inf))
        if math.isfinite(median):
            ax.hlines(median, index - 0.3, index + 0.3, color="black", linewidth=2)
    for index, (label, value) in enumerate((lines or {}).items()):
        ax.axhline(value, color=f"C{index + 1}", linestyle="--", label=label)
    ax.set_yscale("log")
    ax.set_xticks(range(len(scores)), list(scores), fontsize="small")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(alpha=0.3, which="major", axis="y")
    if lines:
        ax.legend(loc="best", fontsize="small")
    return ax.figure
