"""The JSON summary and the predictions CSV hold what the command line promises."""

from __future__ import annotations

import json

import pandas as pd

from lstm_study.forecast.backtest import walk_forward
from lstm_study.forecast.report import write_json, write_predictions
from tests.forecast.conftest import tiny_config


def test_json_and_csv_have_the_documented_fields(prices, tmp_path):
    result = walk_forward(prices.iloc[:120], tiny_config(seeds=2), progress=False)
    info = json.loads(write_json(result, tmp_path / "out.json").read_text())
    for key in (
        "ticker",
        "target",
        "test_start",
        "test_end",
        "n_test",
        "models",
        "diebold_mariano",
    ):
        assert key in info
    assert info["n_test"] == 12 and info["test_start"] == str(result.dates[0].date())
    assert set(info["models"]) == {"lstm", "random_walk", "drift", "recent_drift"}
    for row in info["models"].values():
        assert set(row) == {
            "mae",
            "rmse",
            "mase",
            "rmse_ratio_vs_random_walk",
            "directional_accuracy",
        }
    assert (
        info["models"]["random_walk"]["directional_accuracy"] is None
    )  # no call, not 0
    assert set(info["diebold_mariano"]) >= {"statistic", "p_value"}
    assert len(info["seeds"]["per_seed"]) == 2
    table = pd.read_csv(write_predictions(result, tmp_path / "out.csv"))
    assert list(table.columns) == [
        "Date",
        "actual",
        "lstm",
        "random_walk",
        "drift",
        "recent_drift",
    ]
    assert len(table) == 12 and table["Date"][0] == str(result.dates[0].date())
    pd.testing.assert_series_equal(
        table["lstm"],
        pd.Series(result.seed_forecasts.mean(axis=0), name="lstm"),
        rtol=1e-8,
    )
