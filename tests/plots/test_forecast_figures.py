"""The chapter-7 figures draw from results alone, without error."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from lstm_study.forecast.metrics import lagged_cross_correlation  # noqa: E402
from lstm_study.plots import forecast as plots  # noqa: E402


def test_every_figure_draws():
    rng = np.random.default_rng(0)
    dates = pd.bdate_range("2012-01-02", periods=60)
    actual = rng.normal(0, 0.01, 60)
    forecasts = {"lstm": rng.normal(0, 0.001, 60), "random_walk": np.zeros(60)}
    prices = 20 * np.exp(np.cumsum(actual))
    persistence = np.r_[prices[0], prices[:-1]]
    figures = [
        plots.plot_forecast_window(
            dates, prices, {"random_walk": persistence}, days=30, start=10
        ),
        plots.plot_lag_correlation(
            {"random_walk": lagged_cross_correlation(persistence, prices, 3)}
        ),
        plots.plot_cumulative_loss_difference(
            dates, actual, {"lstm": forecasts["lstm"]}, forecasts["random_walk"]
        ),
        plots.plot_predicted_vs_actual(actual, forecasts["lstm"]),
        plots.plot_seed_spread(pd.Series([1.01, 0.99, 1.0]), 0.998),
    ]
    assert all(len(fig.axes) == 1 for fig in figures)
    # the cumulative difference of the benchmark against itself would be flat: the line ends where the sums say
    line = figures[2].axes[0].lines[0]
    expected = np.cumsum((actual - forecasts["lstm"]) ** 2 - actual**2)
    np.testing.assert_allclose(line.get_ydata(), expected)
    plt.close("all")


def test_a_window_must_fit_the_test_days():
    dates = pd.bdate_range("2012-01-02", periods=10)
    with pytest.raises(ValueError, match="does not fit"):
        plots.plot_forecast_window(dates, np.ones(10), {}, days=8, start=5)


def test_the_validation_against_test_figure_draws_each_model_and_its_seeds():
    table = pd.DataFrame(
        {
            "validation": [0.99, 0.98],
            "seed_low": [0.985, 0.97],
            "seed_high": [0.995, 0.99],
            "test": [1.02, 1.0],
            "untuned_validation": [1.0, 0.995],
            "untuned_test": [1.001, 1.005],
        },
        index=["MSFT", "AAPL"],
    )
    fig = plots.plot_validation_vs_test(table)
    (ax,) = fig.axes
    assert [t.get_text() for t in ax.get_xticklabels()] == ["MSFT", "AAPL"]
    # the seed bar of the second model spans its two seeds' scores
    segments = ax.collections[0].get_segments()
    assert np.allclose(segments[1][:, 1], [0.97, 0.99])
    assert len(ax.get_legend().get_texts()) == 6
    plt.close(fig)
    assert (
        len(
            plots.plot_validation_vs_test(
                table[["validation", "seed_low", "seed_high", "test"]]
            ).axes
        )
        == 1
    )
    plt.close("all")
