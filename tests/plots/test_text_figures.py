"""Figures of the Shakespeare chapter: the learning curves, on a linear or a log axis."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402

from lstm_study.plots.text import plot_learning_curves  # noqa: E402


@pytest.mark.parametrize("log_x, scale", [(False, "linear"), (True, "log")])
def test_learning_curves_draw_each_curve_and_baseline(log_x, scale):
    fig = plot_learning_curves(
        {"LSTM": ([1e5, 1e6, 1e7], [3.0, 2.4, 2.0])},
        {"Kneser-Ney": 2.2},
        log_x=log_x,
    )
    ax = fig.axes[0]
    assert ax.get_xscale() == scale
    (curve,) = [line for line in ax.lines if line.get_label() == "LSTM"]
    assert list(curve.get_xdata()) == [0.1, 1.0, 10.0]  # millions of characters
    assert [line.get_label() for line in ax.lines][-1] == "Kneser-Ney"
    plt.close(fig)
