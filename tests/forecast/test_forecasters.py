"""The forecaster protocol: the LSTM and the baselines answer the same two verbs with the same shapes."""

from __future__ import annotations

import numpy as np
import pytest

from lstm_study.errors import ConfigError
from lstm_study.forecast.backtest import make_problem, walk_forward
from lstm_study.forecast.baselines import baseline_returns
from lstm_study.forecast.folds import walk_forward_folds
from lstm_study.forecast.forecasters import (
    Drift,
    Forecaster,
    LSTMForecaster,
    RandomWalk,
    standard_forecasters,
)
from lstm_study.forecast.model import TrainConfig
from lstm_study.forecast.validate import prepare_prices
from tests.forecast.conftest import price_table, tiny_config

TINY = TrainConfig(hidden_size=2, epochs=1, batch_size=64)


def problem_and_fold(target: str = "log-return", horizon: int = 3):
    series = prepare_prices(price_table(120))
    problem = make_problem(series, tiny_config(target=target, horizon=horizon))
    fold = next(
        walk_forward_folds(
            problem.first_day,
            108,
            120,
            retrain_every=5,
            validation_days=8,
            horizon=horizon,
        )
    )
    return problem, fold


@pytest.mark.parametrize("target", ["log-return", "price"])
@pytest.mark.parametrize("strategy", ["direct", "recursive"])
def test_every_forecaster_fits_and_predicts_members_by_days_by_steps(target, strategy):
    problem, fold = problem_and_fold(target)
    models = standard_forecasters(
        TINY, seeds=2, device="cpu", strategy=strategy, recent_drift_days=10
    )
    assert list(models) == ["lstm", "random_walk", "drift", "recent_drift"]
    days = np.array(fold.test)
    for name, model in models.items():
        assert isinstance(model.name, str) and model.name == name
        out = model.fit(problem, fold).predict(problem, days)
        assert out.shape == ((2 if name == "lstm" else 1), len(days), 3)
        assert np.isfinite(out).all()
    # the day after the data can be forecast too: its window is the last rows
    assert models["lstm"].predict(problem, np.array([120])).shape == (2, 1, 3)


def test_the_baselines_carry_their_one_step_return_over_every_step():
    problem, fold = problem_and_fold("log-return", horizon=4)
    days = np.array(fold.test)
    expected = baseline_returns(problem.log_returns, days, 10)
    np.testing.assert_array_equal(RandomWalk().predict(problem, days), 0.0)
    for model in (Drift(), Drift(10)):
        out = model.fit(problem, fold).predict(problem, days)[0]
        np.testing.assert_allclose(
            out, np.repeat(expected[model.name][:, None], 4, axis=1)
        )
    price_problem, _ = problem_and_fold("price", horizon=4)
    walk = RandomWalk().predict(price_problem, days)[0]
    np.testing.assert_array_equal(
        walk, np.repeat(price_problem.series.price[days - 1][:, None], 4, axis=1)
    )


def test_the_protocol_is_what_the_loop_needs():
    for model in (RandomWalk(), Drift(), LSTMForecaster(TINY, seeds=1)):
        assert callable(model.fit) and callable(model.predict) and model.name
        _: Forecaster = model  # a static type checker checks this line
    with pytest.raises(ConfigError, match="strategy"):
        LSTMForecaster(TINY, strategy="sideways")
    with pytest.raises(ConfigError, match="fit"):
        problem, _ = problem_and_fold()
        LSTMForecaster(TINY).predict(problem, np.array([110]))


def test_horizon_one_is_the_one_step_backtest_and_longer_horizons_keep_it(prices):
    one = walk_forward(prices.iloc[:120], tiny_config(), progress=False)
    five = walk_forward(prices.iloc[:120], tiny_config(horizon=5), progress=False)
    np.testing.assert_array_equal(one.step_actual[:, 0], one.actual)
    np.testing.assert_array_equal(five.step_actual[:, 0], one.actual)
    np.testing.assert_array_equal(five.baselines["drift"], one.baselines["drift"])
    assert five.step_actual.shape == (12, 5)
    # the data end before the last days' later steps: unknown, not invented
    assert (
        np.isnan(five.step_actual[-1, 1:]).all()
        and np.isfinite(five.step_actual[:-4]).all()
    )
    table = five.by_step()
    assert list(table.index) == [1, 2, 3, 4, 5]
    assert list(table["n"]) == [12, 11, 10, 9, 8]
    assert {
        "rmse_ratio_vs_random_walk",
        "dm_p_value",
        "coverage_80",
        "coverage_95",
    } <= set(table.columns)
