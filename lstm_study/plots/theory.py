"""Figures for chapters 2 and 3: gradient flow through time, training curves, LSTM gates and units."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure


def plot_gradient_norms(
    curves: Mapping[str, Sequence[float]],
    *,
    dashed: Sequence[str] = (),
    ax: plt.Axes | None = None,
    title: str = "How much of the loss reaches each earlier step",
) -> Figure:
    """Plot ``||dL/dh_t||`` against the distance ``T - t``, log scale, one line per label.

    Each curve is in time order (as ``lstm_study.gradients.hidden_gradient_norms`` returns
    it), so its last entry is drawn at distance 0. Labels listed in ``dashed`` are drawn dashed.
    """
    if ax is None:
        _, ax = plt.subplots(figsize=(8, 4))
    for index, (label, norms) in enumerate(curves.items()):
        values = np.asarray(norms, dtype=float)
        distance = np.arange(len(values))[::-1]
        style = "--" if label in dashed else "-"
        ax.semilogy(
            distance, values, style, color=f"C{index}", label=label, linewidth=1.8
        )
    ax.set_xlabel("distance T − t (steps back from the loss)")
    ax.set_ylabel("‖∂L/∂h_t‖ (log scale)")
    ax.set_title(title)
    ax.grid(alpha=0.3, which="major")
    ax.legend(loc="best", fontsize="small", ncol=2)
    return ax.figure


def plot_losses(
    losses: Mapping[str, Sequence[float]],
    *,
    baseline: float | None = None,
    baseline_label: str = "baseline",
    ax: plt.Axes | None = None,
    title: str = "Training loss",
    smooth: int = 1,
) -> Figure:
    """Plot training losses per step on a log axis; a run that stopped early ends with an x.

    ``smooth`` > 1 draws a running mean over that many steps.
    """
    if ax is None:
        _, ax = plt.subplots(figsize=(8, 4))
    for index, (label, loss) in enumerate(losses.items()):
        values = np.asarray(loss, dtype=float)
        if smooth > 1 and len(values) >= smooth:
            values = np.convolve(values, np.ones(smooth) / smooth, mode="valid")
        steps = np.arange(len(values)) + (
            smooth - 1 if smooth > 1 and len(loss) >= smooth else 0
        )
        ax.semilogy(steps, values, color=f"C{index}", label=label)
        ax.plot(steps[-1:], values[-1:], marker="x", color=f"C{index}", markersize=9)
    if baseline is not None:
        ax.axhline(baseline, color="grey", linestyle="--", label=baseline_label)
    ax.set_xlabel("training step")
    ax.set_ylabel("training loss (MSE, log scale)")
    ax.set_title(title)
    ax.grid(alpha=0.3, which="major")
    ax.legend(loc="best", fontsize="small")
    return ax.figure


def _draw_adding_input(
    ax: plt.Axes, values: np.ndarray, marked: np.ndarray, title: str
) -> None:
    """The top panel of the gate figures: the value channel as bars, the marked values in red."""
    steps = np.arange(len(values))
    ax.bar(steps, values, width=1.0, color="lightgrey", label="value x_t")
    ax.bar(marked, values[marked], width=1.0, color="C3", label="marked values")
    ax.set_ylabel("input")
    ax.set_ylim(0, 1)
    ax.legend(loc="upper right", fontsize="small", ncol=2)
    ax.set_title(title)


def plot_lstm_gates(
    values: Sequence[float],
    markers: Sequence[float],
    gates: Mapping[str, np.ndarray],
    *,
    title: str = "Inside a trained LSTM on one sequence",
) -> Figure:
    """Draw one input sequence above heat maps of LSTM gates or states over time.

    ``values`` and ``markers`` are the two input channels (seq_len,); each entry of ``gates``
    is a (seq_len, hidden_size) array, drawn as units × time with the marked steps outlined.
    """
    values, markers = np.asarray(values, dtype=float), np.asarray(markers, dtype=float)
    marked = np.flatnonzero(markers > 0.5)
    fig, axes = plt.subplots(
        len(gates) + 1,
        1,
        figsize=(8, 1.6 + 1.5 * len(gates)),
        sharex=True,
        constrained_layout=True,
    )
    _draw_adding_input(axes[0], values, marked, title)
    for ax, (name, array) in zip(axes[1:], gates.items()):
        array = np.asarray(array, dtype=float)
        symmetric = array.min() < 0
        limit = max(abs(array.min()), abs(array.max())) if symmetric else 1.0
        image = ax.imshow(
            array.T,
            aspect="auto",
            interpolation="nearest",
            cmap="RdBu_r" if symmetric else "viridis",
            vmin=-limit if symmetric else 0.0,
            vmax=limit,
            extent=(-0.5, len(values) - 0.5, array.shape[1] - 0.5, -0.5),
        )
        ax.set_ylabel(f"{name}\nunit")
        fig.colorbar(image, ax=ax, pad=0.01)
    for ax in axes:
        for step in marked:
            ax.axvline(step, color="C3", linewidth=0.8, linestyle=":")
    axes[-1].set_xlabel("time step t")
    return fig


def plot_lstm_unit(
    values: Sequence[float],
    markers: Sequence[float],
    traces: Mapping[str, Sequence[float]],
    *,
    title: str = "One LSTM unit over one sequence",
) -> Figure:
    """Draw one input sequence above line plots of single-unit traces (gates, cell state) over time.

    ``values`` and ``markers`` are the two input channels (seq_len,); each entry of ``traces`` is a
    (seq_len,) array, drawn in its own panel with the marked steps dotted. Panels whose values lie
    in [0, 1] (the sigmoid gates) get that range as their axis.
    """
    values, markers = np.asarray(values, dtype=float), np.asarray(markers, dtype=float)
    if not traces:
        raise ValueError("traces is empty: give at least one (seq_len,) array to draw")
    for name, trace in traces.items():
        if np.shape(trace) != values.shape:
            raise ValueError(
                f"trace {name!r} has shape {np.shape(trace)}, expected {values.shape} like values"
            )
    marked = np.flatnonzero(markers > 0.5)
    steps = np.arange(len(values))
    fig, axes = plt.subplots(
        len(traces) + 1,
        1,
        figsize=(8, 1.6 + 1.2 * len(traces)),
        sharex=True,
        constrained_layout=True,
    )
    _draw_adding_input(axes[0], values, marked, title)
    for index, (ax, (name, trace)) in enumerate(zip(axes[1:], traces.items())):
        trace = np.asarray(trace, dtype=float)
        ax.plot(steps, trace, color=f"C{index}", linewidth=1.6)
        if trace.min() >= 0 and trace.max() <= 1:
            ax.set_ylim(-0.05, 1.05)
        ax.set_ylabel(name)
        ax.grid(alpha=0.3)
    for ax in axes:
        for step in marked:
            ax.axvline(step, color="C3", linewidth=0.8, linestyle=":")
    axes[-1].set_xlabel("time step t")
    return fig
