"""Figures for the chapter on which parts of the LSTM matter: ablation, cell drift, bias curves."""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure


def plot_ablation(
    scores: pd.DataFrame,
    *,
    baselines: Mapping[str, float],
    reference: str = "standard",
    titles: Mapping[str, str] | None = None,
) -> Figure:
    """One panel per task: every seed's score per model (dots), its mean (bar), on a log axis.

    ``scores`` is tidy, with columns ``task``, ``model``, ``seed`` and ``score`` (lower is
    better). The reference model's range across seeds is shaded; a dashed line marks each
    task's baseline (``baselines[task]``).
    """
    tasks = list(dict.fromkeys(scores["task"]))
    models = list(dict.fromkeys(scores["model"]))
    fig, axes = plt.subplots(
        1,
        len(tasks),
        figsize=(5 * len(tasks), 0.45 * len(models) + 1.5),
        sharey=True,
        squeeze=False,
    )
    for ax, task in zip(axes[0], tasks):
        part = scores[scores["task"] == task]
        positive = part["score"][part["score"] > 0]
        floor = max(positive.min() / 3, 1e-6) if len(positive) else 1e-6
        ref = part[part["model"] == reference]["score"].clip(lower=floor)
        if len(ref):
            ax.axvspan(
                ref.min(),
                ref.max(),
                color="C0",
                alpha=0.15,
                label=f"{reference}: range over seeds",
            )
        for row, model in enumerate(models):
            values = part[part["model"] == model]["score"].clip(lower=floor).to_numpy()
            color = "C0" if model == reference else "C1"
            ax.scatter(values, np.full(len(values), row), color=color, s=22, zorder=3)
            if len(values):
                ax.plot(
                    [values.mean()] * 2,
                    [row - 0.3, row + 0.3],
                    color="black",
                    linewidth=1.5,
                )
        if task in baselines:
            ax.axvline(baselines[task], color="grey", linestyle="--", label="baseline")
        ax.set_xscale("log")
        ax.set_xlabel("test score (lower is better, log scale)")
        ax.set_title((titles or {}).get(task, task))
        ax.grid(alpha=0.3, axis="x")
    axes[0][0].set_yticks(range(len(models)), models)
    axes[0][0].invert_yaxis()
    # one legend under the panels, where it hides no dot
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=len(labels), fontsize="small")
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    return fig


def plot_cell_drift(
    cell_sizes: Mapping[str, Sequence[float]], *, ax: plt.Axes | None = None
) -> Figure:
    """The largest |c| of any unit at each step of a stream with no reset, one line per model."""
    if ax is None:
        _, ax = plt.subplots(figsize=(8, 3.8))
    for index, (label, sizes) in enumerate(cell_sizes.items()):
        values = np.asarray(sizes, dtype=float)
        ax.semilogy(np.arange(len(values)), values, color=f"C{index}", label=label)
    ax.set_xlabel("step of the stream (no reset)")
    ax.set_ylabel("largest |cell state| (log scale)")
    ax.set_title("Continual Reber grammar: the cell state over a long stream")
    ax.grid(alpha=0.3, which="major")
    ax.legend(loc="best", fontsize="small")
    return ax.figure


def plot_bias_curves(
    curves: Mapping[str, Sequence[Sequence[float]]],
    *,
    every: int,
    baseline: float | None = None,
    ax: plt.Axes | None = None,
) -> Figure:
    """Learning curves per setting: the median over seeds as a line, the range over seeds shaded.

    ``curves[label]`` holds one curve per seed, each the mean loss over blocks of ``every`` steps.
    """
    if ax is None:
        _, ax = plt.subplots(figsize=(8, 4))
    for index, (label, runs) in enumerate(curves.items()):
        values = np.asarray(runs, dtype=float)
        steps = (np.arange(values.shape[1]) + 0.5) * every
        ax.fill_between(
            steps, values.min(0), values.max(0), color=f"C{index}", alpha=0.2
        )
        ax.semilogy(steps, np.median(values, 0), color=f"C{index}", label=label)
    if baseline is not None:
        ax.axhline(
            baseline, color="grey", linestyle="--", label="predicting 1 (MSE ≈ 1/6)"
        )
    ax.set_xlabel("training step")
    ax.set_ylabel("training loss (MSE, log scale)")
    ax.set_title("Adding problem, T = 100: the forget gate's initial bias")
    ax.grid(alpha=0.3, which="major")
    ax.legend(loc="best", fontsize="small")
    return ax.figure


def plot_probes(
    probes: Mapping[str, Sequence[Sequence[Mapping[str, float]]]],
    *,
    measures: Mapping[str, str],
    title: str,
) -> Figure:
    """One panel per measure: its value at each probe during training, one colour per group.

    ``probes[label]`` holds one run's probes per seed, each a list of dicts with ``step`` and
    the measures; ``measures`` maps a measure's name to its axis label. The median over seeds
    is a thick line, each seed a thin one; the axes are logarithmic.
    """
    fig, axes = plt.subplots(
        1, len(measures), figsize=(4.6 * len(measures), 3.8), squeeze=False
    )
    for ax, (name, label) in zip(axes[0], measures.items()):
        for index, (group, runs) in enumerate(probes.items()):
            steps = [probe["step"] for probe in runs[0]]
            values = np.array([[probe[name] for probe in run] for run in runs], float)
            positive = np.where(values > 0, values, np.nan)
            for row in positive:
                ax.plot(steps, row, color=f"C{index}", alpha=0.25, linewidth=0.8)
            with warnings.catch_warnings():  # a step where no seed has a value: a gap
                warnings.simplefilter("ignore", RuntimeWarning)
                median = np.nanmedian(positive, 0)
            ax.plot(
                steps,
                median,
                color=f"C{index}",
                linewidth=2.2,
                label=group,
            )
        ax.set_yscale("log")
        ax.set_xlabel("training step")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3, which="major")
    axes[0][0].legend(loc="best", fontsize="small")
    fig.suptitle(title)
    fig.tight_layout()
    return fig
