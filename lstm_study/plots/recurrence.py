"""Figures for chapter 1 (recurrent networks and backpropagation through time)."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure


def plot_recall_by_lag(results: pd.DataFrame, *, ax: plt.Axes | None = None) -> Figure:
    """Plot the variance explained (R^2) on held-out data against the recall lag."""
    title = "A tanh RNN recalls short lags and fails on long ones"
    return plot_recall_compared(
        {"trained RNN": results}, title=title, legend="upper right", ax=ax
    )


def plot_recall_compared(
    results: dict[str, pd.DataFrame],
    *,
    title: str = "Delayed recall: the same budget, a plain RNN and an LSTM",
    legend: str = "lower left",
    ax: plt.Axes | None = None,
) -> Figure:
    """Plot R² on held-out data against the recall lag, one line per model.

    A table with ``low`` and ``high`` columns (the range over seeds) gets that band shaded.
    """
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 3.8))
    for n, (name, table) in enumerate(results.items()):
        ax.plot(table["lag"], table["r2"], marker="o", color=f"C{n}", label=name)
        if {"low", "high"} <= set(table.columns):
            ax.fill_between(
                table["lag"], table["low"], table["high"], color=f"C{n}", alpha=0.15
            )
    ax.axhline(0.0, color="grey", linestyle="--", label="predicting the mean (R² = 0)")
    ax.set_xlabel("lag: steps between the value and the moment it is asked for")
    ax.set_ylabel("R² on held-out sequences")
    ax.set_ylim(-0.15, 1.05)
    ax.set_title(title)
    ax.legend(loc=legend)
    ax.grid(alpha=0.3)
    return ax.figure


def plot_sensitivity(
    sensitivity: np.ndarray, lag: int | None = None, *, ax: plt.Axes | None = None
) -> Figure:
    """Plot mean |d prediction / d x_t| against the distance from the last step, log scale."""
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 3.8))
    distance = np.arange(len(sensitivity))[::-1]
    ax.semilogy(distance, sensitivity, marker=".", color="C1")
    if lag is not None:
        ax.axvline(
            lag, color="C0", linestyle="--", label=f"the value to recall (lag {lag})"
        )
        ax.legend()
    ax.set_xlabel("distance from the last step (steps back in time)")
    ax.set_ylabel("mean |∂ prediction / ∂ x_t|")
    ax.set_title("How much the prediction depends on each input")
    ax.grid(alpha=0.3, which="both")
    return ax.figure
