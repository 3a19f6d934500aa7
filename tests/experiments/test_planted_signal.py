"""The planted signals have the size they are said to have; the committed walks are current."""

from __future__ import annotations

import json

import numpy as np
import pytest

from lstm_study.data import load_prices
from lstm_study.experiments import planted_signal as ps
from lstm_study.forecast.backtest import config_dict


@pytest.fixture(scope="module")
def setting():
    return ps.setting(load_prices(["MSFT"], source="snapshot"))


@pytest.mark.parametrize("r2", [0.005, 0.02])
def test_the_best_forecast_removes_the_planted_share_of_the_error(setting, r2):
    innovations, _, _ = setting
    frame = ps.planted_series(r2, 0, innovations, 60_000)
    returns = np.diff(np.log(frame["Adj Close"].to_numpy()))
    best = np.sqrt(r2) * returns[:-1]
    removed = 1 - np.mean((returns[1:] - best) ** 2) / np.mean(returns[1:] ** 2)
    assert abs(removed - r2) < 0.004
    assert abs(returns.std() / np.sqrt(1 / (1 - r2)) - ps.SIGMA) < 0.0005


def test_a_series_depends_on_its_size_and_number_only(setting):
    innovations, n, _ = setting
    a = ps.planted_series(0.01, 3, innovations, n)
    assert a.equals(ps.planted_series(0.01, 3, innovations, n))
    assert not a.equals(ps.planted_series(0.01, 4, innovations, n))


def test_the_committed_walks_are_complete_and_current(setting):
    _, n, config = setting
    record = ps.load()
    assert record["command"] == ps.COMMAND and record["complete"]
    for r2 in ps.R2_LEVELS:
        for series in range(ps.SERIES):
            entry = record["entries"][f"r2={r2:g} series={series}"]
            assert entry["settings"] == {
                "r2": r2,
                "series": series,
                "n": n,
                "config": config_dict(config),
            }
            assert len(entry["seed_ratios"]) == config.seeds


def test_a_finished_entry_is_not_walked_again(tmp_path, monkeypatch):
    path = tmp_path / "planted.json"
    record = ps.load()
    path.write_text(json.dumps(record))

    def refuse(*args, **kwargs):
        raise AssertionError("a committed entry was walked again")

    monkeypatch.setattr(ps, "walk_forward", refuse)
    assert ps.run(path, progress=False)["entries"] == record["entries"]
