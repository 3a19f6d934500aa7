"""The figures of the chapter "After the LSTM" draw from results alone, without error."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from lstm_study.plots import after_lstm as plots  # noqa: E402


def test_every_figure_draws_what_it_is_given():
    curves = {"LSTM": ([1e5, 2e5, 3e5], [[3.0, 2.8, 2.6], [3.1, 2.7, 2.5]])}
    fig = plots.plot_seed_curves(curves, ("n-gram", 2.2), {"equal": 2e5})
    line = fig.axes[0].lines[0]
    np.testing.assert_allclose(line.get_ydata(), [3.05, 2.75, 2.55])
    assert fig.axes[0].get_xscale() == "log"
    fig2 = plots.plot_horizon(
        {"LSTM": [[2.0, 1.0, 0.5], [4.0, 1.0, 1.0]]}, ("n-gram", 1)
    )
    np.testing.assert_allclose(fig2.axes[0].lines[0].get_ydata(), [1.0, 0.375, 0.25])
    plt.close("all")
