"""Figures for chapter 10 (the predictor): forecasts against actuals, the lag-1 illusion, losses, seeds, fan charts."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

# One colour per model across every figure of the chapter.
COLORS = {
    "actual": "0.15",
    "lstm": "C3",
    "LSTM recursive": "C4",
    "random_walk": "C0",
    "drift": "C1",
    "recent_drift": "C2",
}
LABELS = {
    "actual": "actual",
    "lstm": "LSTM",
    "random_walk": "random walk (persistence)",
    "drift": "drift (all history)",
    "recent_drift": "recent drift (252 days)",
}


def _label(name: str) -> str:
    return LABELS.get(name, name)


def plot_forecast_window(
    dates: pd.DatetimeIndex,
    actual: np.ndarray,
    forecasts: Mapping[str, np.ndarray],
    *,
    days: int = 40,
    start: int = 0,
    ylabel: str = "price",
    ax: plt.Axes | None = None,
) -> Figure:
    """Draw ``days`` test days from ``start``: the actual series and each forecast dated on the same day."""
    if days < 2 or start < 0 or start + days > len(dates):
        raise ValueError(
            f"a window of {days} days from {start} does not fit in {len(dates)} test days"
        )
    if ax is None:
        _, ax = plt.subplots(figsize=(9, 4))
    window = slice(start, start + days)
    ax.plot(
        dates[window],
        np.asarray(actual)[window],
        color=COLORS["actual"],
        lw=2,
        marker="o",
        ms=3,
        label="actual",
    )
    for name, forecast in forecasts.items():
        ax.plot(
            dates[window],
            np.asarray(forecast)[window],
            color=COLORS.get(name),
            lw=1.5,
            marker=".",
            label=f"{_label(name)} forecast",
        )
    ax.set_ylabel(ylabel)
    ax.legend(frameon=False)
    ax.set_title(f"{days} test days: each forecast is drawn on the day it forecasts")
    ax.figure.autofmt_xdate()
    return ax.figure


def plot_lag_correlation(
    correlations: Mapping[str, pd.Series], *, ax: plt.Axes | None = None
) -> Figure:
    """Bar chart of corr(forecast change on day t, actual change on day t - k) against the lag k, per model."""
    if ax is None:
        _, ax = plt.subplots(figsize=(8, 3.6))
    width = 0.8 / max(len(correlations), 1)
    for i, (name, series) in enumerate(correlations.items()):
        lags = series.index.to_numpy()
        ax.bar(
            lags + (i - (len(correlations) - 1) / 2) * width,
            series.to_numpy(),
            width,
            color=COLORS.get(name),
            label=_label(name),
        )
    ax.axhline(0, color="0.5", lw=0.8)
    ax.set_xlabel(
        "lag $k$ (days): forecast change on day $t$ against actual change on day $t-k$"
    )
    ax.set_ylabel("correlation")
    ax.set_xticks(lags)
    ax.legend(frameon=False)
    ax.set_title(
        "A forecast that only repeats yesterday peaks at lag 1; a real forecast would peak at lag 0"
    )
    return ax.figure


def plot_cumulative_loss_difference(
    dates: pd.DatetimeIndex,
    actual: np.ndarray,
    forecasts: Mapping[str, np.ndarray],
    benchmark: np.ndarray,
    *,
    ax: plt.Axes | None = None,
) -> Figure:
    """Cumulative sum of (squared error of each forecast - squared error of ``benchmark``) over the test days.

    A line that falls means the forecast is gaining on the benchmark; one that rises, losing.
    """
    if ax is None:
        _, ax = plt.subplots(figsize=(10, 4), layout="constrained")
    actual = np.asarray(actual, dtype=float)
    benchmark_loss = (actual - np.asarray(benchmark, dtype=float)) ** 2
    for name, forecast in forecasts.items():
        difference = (actual - np.asarray(forecast, dtype=float)) ** 2 - benchmark_loss
        ax.plot(
            dates,
            np.cumsum(difference),
            color=COLORS.get(name),
            lw=1.5,
            label=_label(name),
        )
    ax.axhline(
        0, color=COLORS["random_walk"], lw=1, ls="--", label="random walk (reference)"
    )
    ax.set_ylabel("cumulative squared error\nminus the random walk's")
    ax.legend(frameon=False, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    ax.set_title("Below zero: ahead of the random walk so far; above: behind")
    ax.figure.autofmt_xdate()
    return ax.figure


def plot_predicted_vs_actual(
    actual: np.ndarray, forecast: np.ndarray, *, ax: plt.Axes | None = None
) -> Figure:
    """Scatter the forecast return against the actual return, with the diagonal a perfect forecast would lie on."""
    if ax is None:
        _, ax = plt.subplots(figsize=(5.5, 5))
    actual = np.asarray(actual, dtype=float)
    forecast = np.asarray(forecast, dtype=float)
    ax.scatter(
        actual,
        forecast,
        s=8,
        alpha=0.5,
        color=COLORS["lstm"],
        label="LSTM, one test day each",
    )
    limit = float(np.max(np.abs(actual)))
    ax.plot(
        [-limit, limit],
        [-limit, limit],
        color="0.5",
        lw=1,
        ls="--",
        label="perfect forecast",
    )
    ax.axhline(0, color=COLORS["random_walk"], lw=1, label="random walk (0)")
    ax.set_xlabel("actual log return")
    ax.set_ylabel("forecast log return")
    ax.legend(frameon=False, loc="upper left")
    ax.set_title("Forecast against actual returns")
    return ax.figure


def plot_seed_spread(
    seed_ratios: pd.Series, ensemble_ratio: float, *, ax: plt.Axes | None = None
) -> Figure:
    """Each seed's RMSE ratio to the random walk, the seed-averaged forecast's, and the break-even line at 1."""
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 3.2))
    seeds = np.arange(len(seed_ratios))
    ax.scatter(
        seeds, seed_ratios.to_numpy(), color=COLORS["lstm"], zorder=3, label="one seed"
    )
    ax.axhline(
        ensemble_ratio,
        color=COLORS["lstm"],
        ls=":",
        label="average of the seeds' forecasts",
    )
    ax.axhline(
        1.0, color=COLORS["random_walk"], ls="--", label="random walk (break-even)"
    )
    ax.set_xticks(seeds)
    ax.set_xlabel("seed")
    ax.set_ylabel("RMSE / random walk's RMSE")
    ax.legend(frameon=False, fontsize=9)
    ax.set_title("The spread across initialisations, against the break-even line")
    return ax.figure


def _level_key(level: float) -> str:
    return f"{level:g}"


def plot_fan_chart(
    history: pd.Series,
    forecasts: pd.DataFrame,
    levels: Sequence[float],
    *,
    days: int = 63,
    ylabel: str = "closing price",
    title: str | None = None,
    ax: plt.Axes | None = None,
) -> Figure:
    """Draw the last ``days`` prices of ``history`` and both forecasts of the next days with intervals.

    ``forecasts`` has one row per step with ``date``, ``lstm``, ``random_walk`` and, per level,
    ``{model}_lower_{level}`` and ``{model}_upper_{level}`` (the ``forecast`` command's rows).
    """
    if ax is None:
        _, ax = plt.subplots(figsize=(9, 4.2), layout="constrained")
    recent = history.iloc[-days:]
    ax.plot(
        recent.index, recent.to_numpy(), color=COLORS["actual"], lw=1.5, label="history"
    )
    dates = pd.DatetimeIndex(pd.to_datetime(forecasts["date"]))
    start = recent.index[-1]
    last = float(recent.iloc[-1])
    x = pd.DatetimeIndex([start]).append(dates)
    ordered = sorted(levels, reverse=True)
    for model, style in (("lstm", "-"), ("random_walk", "--")):
        color = COLORS[model]
        for k, level in enumerate(ordered):
            key = _level_key(level)
            lower = np.r_[last, forecasts[f"{model}_lower_{key}"].to_numpy(dtype=float)]
            upper = np.r_[last, forecasts[f"{model}_upper_{key}"].to_numpy(dtype=float)]
            if model == "lstm":
                ax.fill_between(
                    x,
                    lower,
                    upper,
                    color=color,
                    alpha=0.15 + 0.15 * k,
                    lw=0,
                    label=f"LSTM {key}% interval",
                )
            else:
                dash = ":" if k == 0 else "-."
                ax.plot(
                    x,
                    lower,
                    color=color,
                    lw=0.9,
                    ls=dash,
                    label=f"random walk {key}% interval",
                )
                ax.plot(x, upper, color=color, lw=0.9, ls=dash)
        centre = np.r_[last, forecasts[model].to_numpy(dtype=float)]
        ax.plot(
            x,
            centre,
            color=color,
            lw=1.8,
            ls=style,
            marker=".",
            label=f"{_label(model)} forecast",
        )
    ax.set_ylabel(ylabel)
    ax.legend(frameon=False, fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    ax.set_title(
        title or f"The next {len(dates)} business days, after {days} days of history"
    )
    ax.figure.autofmt_xdate()
    return ax.figure


def plot_test_period(
    dates: pd.DatetimeIndex,
    actual: np.ndarray,
    forecasts: Mapping[str, np.ndarray],
    *,
    lower: np.ndarray | None = None,
    upper: np.ndarray | None = None,
    level: float | None = None,
    ylabel: str = "closing price",
    ax: plt.Axes | None = None,
) -> Figure:
    """Draw the actual price over the whole test period, each forecast of it, and an optional band."""
    if ax is None:
        _, ax = plt.subplots(figsize=(10, 4), layout="constrained")
    if lower is not None and upper is not None:
        ax.fill_between(
            dates,
            lower,
            upper,
            color=COLORS["lstm"],
            alpha=0.2,
            lw=0,
            label=f"LSTM {_level_key(level or 0)}% interval",
        )
    ax.plot(
        dates,
        np.asarray(actual, dtype=float),
        color=COLORS["actual"],
        lw=1.2,
        label="actual",
    )
    for name, forecast in forecasts.items():
        ax.plot(
            dates,
            np.asarray(forecast, dtype=float),
            color=COLORS.get(name),
            lw=0.9,
            label=f"{_label(name)} forecast",
        )
    ax.set_ylabel(ylabel)
    ax.legend(frameon=False, fontsize=9, loc="upper left")
    ax.set_title("The whole test period: each forecast drawn on the day it forecasts")
    ax.figure.autofmt_xdate()
    return ax.figure


def plot_error_by_step(table: pd.DataFrame, *, ax: plt.Axes | None = None) -> Figure:
    """RMSE against the step, one line per column of ``table`` (index: step; one column per model)."""
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 3.6), layout="constrained")
    for name in table.columns:
        ax.plot(
            table.index,
            table[name].to_numpy(),
            marker="o",
            color=COLORS.get(name),
            label=_label(name),
        )
    ax.set_xticks(table.index)
    ax.set_xlabel("step $h$ (trading days ahead)")
    ax.set_ylabel("RMSE of the $h$-day log return")
    ax.legend(frameon=False, fontsize=9)
    ax.set_title("Error grows with the horizon, for every forecaster alike")
    return ax.figure


def plot_validation_vs_test(
    table: pd.DataFrame, *, ax: plt.Axes | None = None
) -> Figure:
    """Each tuned model's RMSE ratio on the validation days that chose it and on the test.

    ``table`` has one row per tuned model (its index labels the x axis) and the columns
    ``validation`` (the score of the seed-averaged forecast), ``seed_low`` and
    ``seed_high`` (the lowest and highest single-seed score, drawn as a bar), ``test``, and optionally
    ``untuned_validation`` and ``untuned_test`` for the untuned LSTM on the same days.
    """
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 3.6), layout="constrained")
    x = np.arange(len(table))
    # the seed-averaged forecast can score below both seeds: a line, not an error bar
    ax.vlines(
        x - 0.12,
        table["seed_low"].to_numpy(),
        table["seed_high"].to_numpy(),
        color=COLORS["lstm"],
        lw=3,
        alpha=0.4,
        label="tuned, validation: its seeds' scores",
    )
    ax.scatter(
        x - 0.12,
        table["validation"].to_numpy(),
        color=COLORS["lstm"],
        zorder=3,
        label="tuned, validation (seeds averaged)",
    )
    ax.scatter(
        x + 0.12, table["test"].to_numpy(), marker="s", color="C3", label="tuned, test"
    )
    for column, marker, where, text in (
        ("untuned_validation", "o", -0.12, "untuned, validation days"),
        ("untuned_test", "s", 0.12, "untuned, test"),
    ):
        if column in table:
            ax.scatter(
                x + where,
                table[column].to_numpy(),
                marker=marker,
                facecolors="none",
                edgecolors="0.35",
                label=text,
            )
    ax.axhline(1.0, color=COLORS["random_walk"], ls="--", label="random walk")
    ax.set_xticks(x, [str(label) for label in table.index])
    ax.set_ylabel("RMSE / random walk's RMSE")
    ax.legend(frameon=False, fontsize=8, ncols=2)
    ax.set_title("The winners of the validation days, on the test days")
    return ax.figure
