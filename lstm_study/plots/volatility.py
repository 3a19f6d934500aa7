"""Figures for the volatility chapter: forecast volatility against the size of the day's move."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

COLORS = {
    "lstm": "C3",
    "garch": "C0",
    "ewma": "C2",
    "rolling": "C1",
    "mean": "C7",
    "range_ewma": "C4",
    "har": "C5",
    "har_log": "C6",
    "har_volume": "C8",
}
LABELS = {
    "lstm": "LSTM",
    "garch": "GARCH(1,1)",
    "ewma": "EWMA (RiskMetrics)",
    "rolling": "rolling 21 days",
    "mean": "mean of all past",
    "range_ewma": "EWMA of the range variance",
    "har": "HAR on the range",
    "har_log": "HAR on the range, in logs",
    "har_volume": "HAR in logs with volume",
}


def plot_volatility_forecasts(
    dates: pd.DatetimeIndex,
    squared_returns: np.ndarray,
    forecasts: Mapping[str, np.ndarray],
    windows: Sequence[tuple[str, str]],
    *,
    title: str = "",
) -> Figure:
    """One panel per (start, end) window: the realised |r| and each forecast volatility sqrt(h), in %."""
    if not windows:
        raise ValueError("give at least one (start, end) window")
    fig, axes = plt.subplots(
        len(windows), 1, figsize=(9, 3.2 * len(windows)), squeeze=False
    )
    size = 100 * np.sqrt(np.asarray(squared_returns, dtype=float))
    for ax, (start, end) in zip(axes[:, 0], windows, strict=True):
        inside = (dates >= pd.Timestamp(start)) & (dates <= pd.Timestamp(end))
        if not inside.any():
            raise ValueError(f"no forecast dated between {start} and {end}")
        ax.bar(
            dates[inside], size[inside], width=1.0, color="0.75", label="realised |r|"
        )
        for name, variance in forecasts.items():
            ax.plot(
                dates[inside],
                100 * np.sqrt(np.asarray(variance, dtype=float)[inside]),
                color=COLORS.get(name),
                lw=1.3,
                label=f"{LABELS.get(name, name)} forecast",
            )
        ax.set_ylabel("daily move (%)")
        ax.set_xlim(dates[inside][0], dates[inside][-1])
        ax.set_title(f"{title} {start} to {end}".strip(), fontsize=10)
    axes[0, 0].legend(loc="upper right", fontsize=8)
    fig.tight_layout()
    return fig
