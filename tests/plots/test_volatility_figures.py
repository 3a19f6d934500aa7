"""The volatility chapter's figure draws from results alone, and refuses a window with no data."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from lstm_study.plots.volatility import plot_volatility_forecasts  # noqa: E402


def test_the_volatility_figure_draws_one_panel_per_window():
    dates = pd.bdate_range("2012-01-02", periods=80)
    r2 = np.random.default_rng(0).normal(0, 0.01, 80) ** 2
    forecasts = {"lstm": np.full(80, 1e-4), "garch": np.full(80, 2e-4)}
    windows = [("2012-01-02", "2012-02-15"), ("2012-03-01", "2012-04-20")]
    fig = plot_volatility_forecasts(dates, r2, forecasts, windows, title="X")
    assert len(fig.axes) == 2
    line = fig.axes[0].get_lines()[0]  # the LSTM's forecast, as a daily volatility in %
    assert np.allclose(line.get_ydata(), 1.0)
    plt.close("all")


def test_a_window_without_forecasts_is_refused():
    dates = pd.bdate_range("2012-01-02", periods=10)
    with pytest.raises(ValueError, match="no forecast dated"):
        plot_volatility_forecasts(
            dates, np.ones(10), {"lstm": np.ones(10)}, [("2013-01-01", "2013-02-01")]
        )
    plt.close("all")
