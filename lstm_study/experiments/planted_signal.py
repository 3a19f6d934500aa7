"""Could chapter 10's LSTM find a realistic signal? Its own configuration on planted ones.

Synthetic daily log returns follow an AR(1), ``r_t = phi r_{t-1} + e_t``, whose best forecast
``phi r_{t-1}`` removes a share ``R^2 = phi^2`` of the random walk's mean squared error (the
out-of-sample R^2 of a forecaster that knew ``phi``). The innovations ``e_t`` are MSFT's own
daily log returns before the test period, resampled with replacement (heavy tails, no
clustering), scaled to unit variance times ``sigma``; a volume column of independent log-normal
noise gives the model the chapter's three features. Each series has MSFT's length and its test
period's length, and is walked forward with the chapter's configuration (five seeds, the
untuned LSTM). The power at an R^2 is the share of series on which the Diebold-Mariano test
finds the LSTM better than the random walk (negative statistic, two-sided p < 0.05).

``python scripts/planted_signal.py`` writes ``planted_signal.json`` beside this module,
resumably: one entry per (R^2, series), rewritten atomically after each.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from tqdm import tqdm

from lstm_study.experiments import predictor_walks
from lstm_study.experiments.predictor_walks import TEST_START, _number, machine
from lstm_study.files import write_atomically
from lstm_study.forecast import BacktestConfig, walk_forward
from lstm_study.forecast.backtest import config_dict
from lstm_study.forecast.metrics import diebold_mariano, rmse_ratio

RESULTS = Path(__file__).with_name("planted_signal.json")
COMMAND = "python scripts/planted_signal.py"
#: the planted signal sizes (population R^2 of the best forecast) and series per size
R2_LEVELS = (0.005, 0.01, 0.02)
SERIES = 5
SIGMA = 0.015  # the innovations' daily standard deviation


def chapter_config(test_days: int) -> BacktestConfig:
    """The chapter's return configuration (five seeds), with the test period's length."""
    return BacktestConfig(test_start=None, test_days=test_days, seeds=5)


def planted_series(
    r2: float, series: int, innovations: np.ndarray, n: int
) -> pd.DataFrame:
    """A price table whose log returns are AR(1) with ``phi = sqrt(r2)``; seeded by both."""
    rng = np.random.default_rng([int(round(r2 * 1e6)), series])
    shocks = rng.choice(innovations, size=n + 200, replace=True)
    shocks = SIGMA * (shocks - innovations.mean()) / innovations.std()
    phi = np.sqrt(r2)
    returns = np.zeros(n + 200)
    for t in range(1, n + 200):
        returns[t] = phi * returns[t - 1] + shocks[t]
    returns = returns[200:]  # burn-in
    price = 25 * np.exp(np.cumsum(returns))
    volume = np.exp(rng.normal(17, 0.3, n))
    return pd.DataFrame(
        {
            "Date": pd.bdate_range("2000-03-01", periods=n),
            "Adj Close": price,
            "Close": price,
            "Volume": volume,
        }
    )


def setting(prices: pd.DataFrame) -> tuple[np.ndarray, int, BacktestConfig]:
    """From MSFT's prices: the innovations to resample, the series length, the config."""
    msft = prices[prices["Ticker"] == "MSFT"] if "Ticker" in prices else prices
    before = msft.loc[msft["Date"] < TEST_START, "Adj Close"].to_numpy()
    test_days = int((msft["Date"] >= TEST_START).sum())
    return np.diff(np.log(before)), len(msft), chapter_config(test_days)


def load(path: Path = RESULTS) -> dict[str, Any]:
    """The committed results (an empty record if the file does not exist yet)."""
    return predictor_walks.load(path)


def run(path: Path = RESULTS, *, progress: bool = True) -> dict[str, Any]:
    """Walk every planted series not yet in ``path``; rewrite the file after each."""
    from lstm_study.data import load_prices
    from lstm_study.runtime import seed_everything

    seed_everything(0, threads=1)
    prices = load_prices(["MSFT"], source="snapshot")
    innovations, n, config = setting(prices)
    test_days = config.test_days
    record = load(path)
    # series by series, every size in each: a run cut short still covers every size
    todo = [(r2, s) for s in range(SERIES) for r2 in R2_LEVELS]
    bar = tqdm(todo, desc="planted signals", disable=not progress)
    for r2, series in bar:
        name = f"r2={r2:g} series={series}"
        wanted = {"r2": r2, "series": series, "n": n, "config": config_dict(config)}
        stored = record["entries"].get(name)
        if stored is not None and stored["settings"] == wanted:
            continue
        bar.set_postfix_str(name)
        frame = planted_series(r2, series, innovations, n)
        load1 = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
        started = time.perf_counter()
        result = walk_forward(frame, config, progress=False)
        seconds = time.perf_counter() - started
        walk = result.baselines["random_walk"]
        dm = result.diebold_mariano()
        returns = np.diff(np.log(frame["Adj Close"].to_numpy()))
        days = np.arange(n - test_days, n)
        oracle = np.sqrt(r2) * returns[days - 2]  # phi r_{t-1}: the best forecast
        assert np.allclose(returns[days - 1], result.actual)
        oracle_dm = diebold_mariano(result.actual, oracle, walk)
        record["entries"][name] = {
            "settings": wanted,
            "seconds": round(seconds, 1),
            "load_average_1min_at_start": load1,
            "date": dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat(),
            "machine": machine(),
            "lstm_ratio": rmse_ratio(result.actual, result.forecasts["lstm"], walk),
            "dm_statistic": _number(dm.statistic),
            "dm_p_value": _number(dm.p_value),
            "seed_ratios": [
                rmse_ratio(result.actual, forecast, walk)
                for forecast in result.seed_forecasts
            ],
            "oracle_ratio": rmse_ratio(result.actual, oracle, walk),
            "oracle_dm_statistic": _number(oracle_dm.statistic),
            "oracle_dm_p_value": _number(oracle_dm.p_value),
        }
        record["command"] = COMMAND
        record["complete"] = len(record["entries"]) >= len(todo)
        text = json.dumps(record, indent=1, allow_nan=False) + "\n"
        write_atomically(Path(path), text, what="the planted-signal walks")
    return record
