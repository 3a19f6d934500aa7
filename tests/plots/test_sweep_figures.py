"""The sweep figure draws every run, diverged ones included, from scores alone."""

from __future__ import annotations

import math

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.collections import LineCollection, PathCollection  # noqa: E402

from lstm_study.plots.sweeps import plot_runs  # noqa: E402


def test_every_run_is_drawn_and_a_diverged_one_marked():
    figure = plot_runs(
        {"RNN": [0.16, 0.17], "LSTM": [1e-4, math.nan, 2e-3]},
        lines={"predicting 1": 1 / 6},
        title="t",
    )
    ax = figure.axes[0]
    dots = [
        len(c.get_offsets()) for c in ax.collections if isinstance(c, PathCollection)
    ]
    assert sum(dots) == 5  # 4 finite dots and one x
    assert len([c for c in ax.collections if isinstance(c, LineCollection)]) == 2
    assert [t.get_text() for t in ax.get_xticklabels()] == ["RNN", "LSTM"]
    assert ax.get_yscale() == "log"
    plt.close(figure)
