"""Walk-forward structure: blocks in time order, each test day once, clear errors for bad splits."""

from __future__ import annotations

import numpy as np
import pytest

from lstm_study.errors import ConfigError, InsufficientDataError
from lstm_study.forecast.backtest import walk_forward
from lstm_study.forecast.model import TrainConfig
from tests.forecast.conftest import price_table, tiny_config


def test_each_test_day_is_forecast_once_by_a_model_trained_before_it(prices):
    result = walk_forward(prices.iloc[:120], tiny_config(seeds=2), progress=False)
    assert len(result.dates) == 12 and result.dates.is_unique
    assert (
        result.seed_forecasts.shape == (2, 12)
        and np.isfinite(result.seed_forecasts).all()
    )
    covered = []
    for fold in result.folds:
        assert (
            fold.train_start
            <= fold.train_end
            < fold.validation_start
            <= fold.validation_end
            < fold.test_start
        )
        assert fold.scaler_fitted_until < fold.validation_start
        covered += list(
            result.dates[
                (result.dates >= fold.test_start) & (result.dates <= fold.test_end)
            ]
        )
    assert covered == list(result.dates)
    assert [fold.n_train for fold in result.folds] == [
        77,
        82,
        87,
    ]  # expanding window (first window on day 23)


def test_the_price_target_is_scored_in_prices(prices):
    result = walk_forward(
        prices.iloc[:120], tiny_config(target="price"), progress=False
    )
    np.testing.assert_allclose(result.baselines["random_walk"], result.previous_price)
    np.testing.assert_allclose(result.actual, prices["Adj Close"].to_numpy()[108:120])
    assert set(result.predictions().columns) == {
        "Date",
        "actual",
        "lstm",
        "random_walk",
        "drift",
        "recent_drift",
    }


def test_test_start_is_a_date_inside_the_data(prices):
    with pytest.raises(ConfigError, match="outside the data"):
        walk_forward(prices, tiny_config(test_start="2020-01-01"), progress=False)
    with pytest.raises(ConfigError, match="not a plausible day"):
        walk_forward(prices, tiny_config(test_start="3030-01-01"), progress=False)
    with pytest.raises(
        ConfigError, match="not a date"
    ):  # a year alone is not quietly January 1
        walk_forward(prices, tiny_config(test_start="2011"), progress=False)
    with pytest.raises(ConfigError, match="not a date"):
        walk_forward(prices, tiny_config(test_start="soon"), progress=False)
    with pytest.raises(ConfigError, match="not a date"):  # pandas would read "" as NaT
        walk_forward(prices, tiny_config(test_start=""), progress=False)
    result = walk_forward(
        prices, tiny_config(test_start=prices["Date"][390]), progress=False
    )
    assert result.dates[0] == prices["Date"][390] and len(result.dates) == 10


@pytest.mark.parametrize(
    "option", [dict(lookback=2.5), dict(seeds=True), dict(retrain_every=0)]
)
def test_counts_must_be_whole_numbers(option):
    from lstm_study.forecast.backtest import BacktestConfig

    with pytest.raises(ConfigError, match="must be an integer >= 1"):
        BacktestConfig(**option)
    with pytest.raises(ConfigError, match="hidden_size must be an integer"):
        TrainConfig(hidden_size=2.5)


def test_too_short_a_series_says_how_much_is_needed(prices):
    with pytest.raises(
        InsufficientDataError,
        match="needs .* the last 12 days to test: at least 63 days",
    ):
        walk_forward(prices.iloc[:40], tiny_config(), progress=False)
    with pytest.raises(InsufficientDataError):
        walk_forward(prices, tiny_config(test_start=prices["Date"][25]), progress=False)


@pytest.mark.slow
def test_the_lstm_beats_the_random_walk_when_returns_are_predictable():
    """A check that the pipeline can find signal: returns that follow an AR(1) with phi = 0.6."""
    rng = np.random.default_rng(3)
    n, returns = 700, np.zeros(700)
    for t in range(1, n):
        returns[t] = 0.6 * returns[t - 1] + rng.normal(0, 0.01)
    frame = price_table(n, volume=False)
    frame["Adj Close"] = 50 * np.exp(np.cumsum(returns))
    config = tiny_config(
        lookback=5,
        test_days=100,
        retrain_every=50,
        validation_days=60,
        min_train_days=200,
        train=TrainConfig(hidden_size=8, epochs=30, patience=5, batch_size=64, lr=1e-2),
    )
    result = walk_forward(frame, config, progress=False)
    table = result.metrics()
    assert table.loc["lstm", "rmse_ratio_vs_random_walk"] < 0.9
    assert result.diebold_mariano().p_value < 0.05
