"""Intervals from out-of-sample errors cover what they claim where the truth is known: a random walk."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from lstm_study.errors import ConfigError
from lstm_study.forecast.backtest import BacktestConfig, walk_forward
from lstm_study.forecast.intervals import (
    check_levels,
    error_quantiles,
    expected_coverage,
    intervals,
)
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
    errors = np.column_stack([np.linspace(-0.2, 0.2, 10), np.full(10, np.nan)])
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
    # the intervals remade from the stored validation errors are the walk's own
    for model in ("lstm", "random_walk"):
        remade = result.interval_bounds(model, "conformal")
        for level, bounds in result.bounds[model].items():
            assert np.array_equal(remade[level], bounds, equal_nan=True)
    empirical = result.by_step("empirical")
    assert (empirical["coverage_95"] <= table["coverage_95"] + 1e-12).all()


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


def test_the_conformal_rule_takes_the_finite_sample_order_statistics():
    errors = np.arange(1.0, 20.0)[:, None]  # 19 errors: 1, 2, ..., 19
    # 90%: k = ceil(20 * 0.95) = 19: the largest and the smallest error
    assert error_quantiles(errors, [90])[90][:, 0].tolist() == [1.0, 19.0]
    # 80%: k = ceil(20 * 0.9) = 18: the 18th smallest and the 18th largest
    assert error_quantiles(errors, [80])[80][:, 0].tolist() == [2.0, 18.0]
    # 99%: k = ceil(20 * 0.995) = 20 > 19 errors: no finite bound
    assert np.isinf(error_quantiles(errors, [99])[99]).all()
    empirical = error_quantiles(errors, [80], rule="empirical")[80][:, 0]
    assert np.allclose(empirical, np.quantile(errors[:, 0], [0.1, 0.9]))


@pytest.mark.parametrize("n", [19, 60, 126])
@pytest.mark.parametrize("level", [80.0, 95.0])
def test_expected_coverage_matches_simulated_exchangeable_errors(n, level):
    rng = np.random.default_rng(n)
    trials = 4_000
    past, new = rng.standard_t(3, (trials, n)), rng.standard_t(3, trials)
    # the conformal rule's expectation is exact; the interpolated quantiles' one is a
    # first-order approximation that needs a few dozen errors
    for rule in ("conformal", "empirical") if n >= 60 else ("conformal",):
        hits = 0
        for row in range(trials):
            lower, upper = error_quantiles(past[row][:, None], [level], rule)[level]
            hits += lower[0] <= new[row] <= upper[0]
        expected = expected_coverage(n, level, rule)
        assert abs(hits / trials - expected) < 0.015, (rule, hits / trials, expected)
    assert expected_coverage(n, level, "conformal") >= level / 100
    assert expected_coverage(n, level, "empirical") < level / 100


def test_an_unknown_rule_is_refused():
    with pytest.raises(ConfigError, match="interval rule"):
        error_quantiles(np.zeros((5, 1)), [80], rule="quantile")
