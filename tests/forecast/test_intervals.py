"""Intervals from out-of-sample errors cover what they claim where the truth is known: a random walk."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from lstm_study.errors import ConfigError
from lstm_study.forecast.backtest import BacktestConfig, walk_forward
from lstm_study.forecast.intervals import check_levels, error_quantiles, intervals
from lstm_study.forecast.metrics import coverage
from lstm_study.forecast.model import TrainConfig


def test_quantiles_of_past_errors_cover_new_errors_at_their_level():
    rng = np.random.default_rng(0)
    past, new = rng.normal(0, 1, (500, 2)), rng.normal(0, 1, (20_000, 2))
    bounds = intervals(np.zeros_like(new), error_quantiles(past, [80, 95]))
    for level, expected in ((80, 0.80), (95, 0.95)):
        for step in range(2):
            achieved = coverage(
                new[:, step], bounds[level][0][:, step], bounds[level][1][:, step]
            )
            assert abs(achieved - expected) < 0.03


def test_a_step_without_known_errors_has_no_interval():
    errors = np.array([[0.1, np.nan], [-0.1, np.nan], [0.2, np.nan]])
    q = error_quantiles(errors, [80])[80]
    assert np.isfinite(q[:, 0]).all() and np.isnan(q[:, 1]).all()


def simulated_random_walk(n: int, seed: int = 5) -> pd.DataFrame:
    """Prices whose log follows a Gaussian random walk: the random walk's forecast is the best one."""
    rng = np.random.default_rng(seed)
    price = 40 * np.exp(np.cumsum(rng.normal(0, 0.01, n)))
    return pd.DataFrame(
        {"Date": pd.bdate_range("2001-01-01", periods=n), "Adj Close": price}
    )


def test_the_backtest_intervals_cover_about_their_level_on_a_simulated_random_walk():
    config = BacktestConfig(
        lookback=3,
        test_days=600,
        retrain_every=150,
        validation_days=150,
        min_train_days=60,
        seeds=1,
        device="cpu",
        horizon=3,
        train=TrainConfig(hidden_size=2, epochs=1),
    )
    result = walk_forward(simulated_random_walk(900), config, progress=False)
    table = result.by_step()
    for step in (1, 2, 3):
        for prefix in ("", "random_walk_"):  # the truth's own forecast, and the LSTM's
            assert abs(table.loc[step, f"{prefix}coverage_80"] - 0.80) < 0.07, table
            assert abs(table.loc[step, f"{prefix}coverage_95"] - 0.95) < 0.05, table
    widths = table["random_walk_width_80"].to_numpy()
    assert widths[0] < widths[1] < widths[2]  # error grows with the horizon


@pytest.mark.parametrize("levels", [[0], [100], [80, 80], [], [-5], [150]])
def test_bad_levels_are_refused(levels):
    with pytest.raises(ConfigError):
        check_levels(levels)
    with pytest.raises(ConfigError):
        BacktestConfig(levels=tuple(levels))


@pytest.mark.parametrize("horizon", [0, 21, 2.5, True])
def test_bad_horizons_are_refused(horizon):
    with pytest.raises(
        ConfigError, match="horizon must be a whole number of trading days from 1 to 20"
    ):
        BacktestConfig(horizon=horizon)
