"""Figures for chapter 4 (bidirectional LSTMs): the two passes, what each half sees, and what it buys."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

_FORWARD, _BACKWARD, _OUTPUT, _INPUT = "C0", "C3", "C2", "0.35"


def _box(ax: plt.Axes, x: float, y: float, text: str, color: str) -> None:
    ax.text(
        x,
        y,
        text,
        ha="center",
        va="center",
        fontsize=11,
        bbox={
            "boxstyle": "round,pad=0.35",
            "facecolor": "white",
            "edgecolor": color,
            "linewidth": 1.6,
        },
    )


def _arrow(
    ax: plt.Axes, start: tuple[float, float], end: tuple[float, float], color: str
) -> None:
    ax.annotate(
        "",
        xy=end,
        xytext=start,
        arrowprops={
            "arrowstyle": "-|>",
            "color": color,
            "linewidth": 1.4,
            "shrinkA": 13,
            "shrinkB": 13,
        },
    )


def plot_two_passes(steps: int = 4, *, ax: plt.Axes | None = None) -> Figure:
    """Draw a bidirectional layer unrolled over ``steps`` steps: a forward and a backward pass, joined per step."""
    if steps < 2:
        raise ValueError(f"steps must be at least 2 to show a recurrence, got {steps}")
    if ax is None:
        _, ax = plt.subplots(figsize=(8, 4))
    rows = {"x": 0.0, "forward": 1.0, "backward": 2.0, "y": 3.0}
    # The two passes sit side by side in each column, so that every arrow can be drawn straight.
    shift = {"forward": -0.2, "backward": 0.2}
    for t in range(steps):
        label = str(t + 1) if t < steps - 1 else "T"
        forward, backward = (
            (t + shift["forward"], rows["forward"]),
            (t + shift["backward"], rows["backward"]),
        )
        _box(ax, t, rows["x"], f"$x_{{{label}}}$", _INPUT)
        _box(ax, *forward, rf"$\overrightarrow{{h}}_{{{label}}}$", _FORWARD)
        _box(ax, *backward, rf"$\overleftarrow{{h}}_{{{label}}}$", _BACKWARD)
        _box(ax, t, rows["y"], f"$y_{{{label}}}$", _OUTPUT)
        _arrow(ax, (t, rows["x"]), forward, _INPUT)
        _arrow(ax, (t, rows["x"]), backward, _INPUT)
        _arrow(ax, forward, (t, rows["y"]), _FORWARD)
        _arrow(ax, backward, (t, rows["y"]), _BACKWARD)
        if t < steps - 1:
            _arrow(ax, forward, (t + 1 + shift["forward"], rows["forward"]), _FORWARD)
            _arrow(
                ax, (t + 1 + shift["backward"], rows["backward"]), backward, _BACKWARD
            )
    ax.text(
        steps - 0.45,
        rows["forward"],
        "forward pass:\nreads $x_1 \\ldots x_t$",
        color=_FORWARD,
        va="center",
    )
    ax.text(
        steps - 0.45,
        rows["backward"],
        "backward pass:\nreads $x_T \\ldots x_t$",
        color=_BACKWARD,
        va="center",
    )
    ax.text(
        steps - 0.45,
        rows["y"],
        "output: both\nstates, joined",
        color=_OUTPUT,
        va="center",
    )
    ax.set_xlim(-0.6, steps + 0.9)
    ax.set_ylim(-0.5, 3.5)
    ax.axis("off")
    ax.set_title(
        "A bidirectional layer: two recurrences over the same inputs, in opposite directions"
    )
    return ax.figure


def plot_dependence(forward: np.ndarray, backward: np.ndarray) -> Figure:
    """Heat maps of |d output_t / d x_s| for the forward and the backward half of a bidirectional layer."""
    fig, axes = plt.subplots(1, 2, figsize=(8, 3.8), sharey=True)
    for ax, values, title in (
        (axes[0], forward, "forward half: only $s \\leq t$"),
        (axes[1], backward, "backward half: only $s \\geq t$"),
    ):
        image = ax.imshow(
            np.log10(np.asarray(values) + 1e-12),
            cmap="viridis",
            vmin=-6,
            vmax=0,
            origin="upper",
        )
        ax.set_title(title)
        ax.set_xlabel("input position $s$")
        ax.set_xticks(range(0, len(values), 2))
        ax.set_yticks(range(0, len(values), 2))
    axes[0].set_ylabel("output position $t$")
    fig.colorbar(image, ax=axes, label="log10 |∂ output$_t$ / ∂ $x_s$|", shrink=0.85)
    return fig


def _lines_by_position(
    results: pd.DataFrame, column: str, ax: plt.Axes | None
) -> plt.Axes:
    """One line of ``column`` against ``position`` per model, in the order the models first appear."""
    if ax is None:
        _, ax = plt.subplots(figsize=(8, 4))
    for index, (model, rows) in enumerate(results.groupby("model", sort=False)):
        ax.plot(
            rows["position"], rows[column], marker="o", color=f"C{index}", label=model
        )
    return ax


def plot_accuracy_by_position(
    results: pd.DataFrame,
    chance: float,
    *,
    lookahead: int | None = None,
    ax: plt.Axes | None = None,
) -> Figure:
    """Accuracy at each position per model (columns ``position, model, accuracy``), with the chance level."""
    ax = _lines_by_position(results, "accuracy", ax)
    ax.axhline(
        chance,
        color="grey",
        linestyle="--",
        label=f"chance for any past-only model ({chance:.2f})",
    )
    if lookahead:
        last = results["position"].max()
        ax.axvspan(
            last - lookahead + 0.5,
            last + 0.5,
            color="0.9",
            label="no label (no symbol that far ahead)",
        )
    ax.set_xlabel("position $t$ in the sequence")
    ax.set_ylabel("accuracy on held-out sequences")
    ax.set_ylim(0, 1.05)
    ax.set_title("Naming the symbol that comes later: only the bidirectional model can")
    ax.legend(loc="center left")
    ax.grid(alpha=0.3)
    return ax.figure


def plot_leak_by_position(
    results: pd.DataFrame, *, ax: plt.Axes | None = None
) -> Figure:
    """Error relative to the mean forecast at each position (columns ``position, model, relative_mse``)."""
    ax = _lines_by_position(results, "relative_mse", ax)
    last = results["position"].max()
    ax.axhline(1.0, color="grey", linestyle="--", label="forecasting the training mean")
    ax.axvspan(
        last - 0.5,
        last + 0.5,
        color="0.9",
        label="target beyond the window: a real forecast",
    )
    ax.set_xlabel("position $t$ in the window (target: the value at $t + 1$)")
    ax.set_ylabel("MSE / MSE of the mean forecast")
    ax.set_ylim(0, 1.2)
    ax.set_title("Next-value error inside the window and beyond it")
    ax.legend(loc="center left")
    ax.grid(alpha=0.3)
    return ax.figure
