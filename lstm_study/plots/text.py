"""Figures for the language-model chapter: learning curves, loss by position, text coloured by a unit."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure


def plot_learning_curves(
    curves: Mapping[str, tuple[Sequence[float], Sequence[float]]],
    baselines: Mapping[str, float],
    *,
    title: str = "Held-out bits per character during training",
    log_x: bool = False,
) -> Figure:
    """Each curve's held-out bits per character against millions of characters trained on.

    ``curves`` maps a label to (characters seen, bits per character); each baseline
    (an n-gram's score on the same text) is a dashed horizontal line. ``log_x`` draws the
    characters on a log axis, where a power law is a straight line.
    """
    fig, ax = plt.subplots(figsize=(7.5, 4))
    for n, (label, (seen, bpc)) in enumerate(curves.items()):
        ax.plot(
            np.asarray(seen) / 1e6,
            bpc,
            marker="o",
            markersize=3,
            color=f"C{n}",
            label=label,
        )
    for n, (label, value) in enumerate(baselines.items()):
        ax.axhline(
            value, linestyle="--", linewidth=1, color=f"C{n + len(curves)}", label=label
        )
    if log_x:
        ax.set_xscale("log")
    ax.set_xlabel("characters trained on (millions)")
    ax.set_ylabel("bits per character")
    ax.set_title(title)
    ax.grid(alpha=0.3, which="both" if log_x else "major")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def plot_loss_by_position(
    losses: Mapping[str, Sequence[float]],
    *,
    title: str = "Bits per character by position in the window",
) -> Figure:
    """Mean bits per character at each position of a TBPTT window, one line per way of scoring."""
    fig, ax = plt.subplots(figsize=(7.5, 3.6))
    for label, values in losses.items():
        ax.plot(np.arange(1, len(values) + 1), values, label=label)
    ax.set_xscale("log")
    ax.set_xlabel("position in the window (characters since the window began)")
    ax.set_ylabel("bits per character")
    ax.set_title(title)
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def plot_text_activation(
    text: str,
    values: Sequence[float],
    *,
    title: str = "",
    width: int = 72,
    cmap: str = "RdBu_r",
) -> Figure:
    """``text`` in a monospaced grid, each character's background coloured by its value.

    Lines break at the text's own newlines (shown as a coloured cell) and wrap at ``width``;
    the colour scale is symmetric about 0, blue negative and red positive.
    """
    values = np.asarray(values, dtype=float)
    rows: list[list[tuple[str, float]]] = [[]]
    for char, value in zip(text, values):
        if len(rows[-1]) == width:
            rows.append([])
        rows[-1].append(("↵" if char == "\n" else char, value))
        if char == "\n":
            rows.append([])
    scale = float(np.abs(values).max()) or 1.0
    colours = plt.get_cmap(cmap)
    fig, ax = plt.subplots(figsize=(0.115 * width + 0.6, 0.24 * len(rows) + 0.7))
    for y, row in enumerate(rows):
        for x, (char, value) in enumerate(row):
            ax.add_patch(
                plt.Rectangle(
                    (x, -y - 1),
                    1,
                    1,
                    color=colours(0.5 + 0.5 * value / scale),
                    linewidth=0,
                )
            )
            ax.text(
                x + 0.5,
                -y - 0.5,
                char,
                ha="center",
                va="center",
                family="monospace",
                fontsize=8,
            )
    ax.set_xlim(0, width)
    ax.set_ylim(-len(rows), 0)
    ax.axis("off")
    if title:
        ax.set_title(title, fontsize=10)
    fig.tight_layout()
    return fig
