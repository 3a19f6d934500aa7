"""The heavy walk-forwards of chapter 10, run once by a kept command and committed as JSON.

The chapter (``book/10_predictor.ipynb``) walks the MSFT return model live and re-runs one seed
of each walk below live too, asserting that it agrees with the committed entry of the same seed.
What is run here, with the chapter's settings and seeds:

- ``price``: the price-level LSTM on MSFT (three seeds);
- ``AAPL``, ``GOOG``, ``IBM``: the return LSTM on the other three stocks (three seeds each);
- ``direct`` and ``recursive``: the five-step MSFT forecasters (three seeds each), the direct one
  with the forecast of the days after the data;
- ``tuned GOOG``: the committed tuning search's GOOG winner over the test period (three seeds).

``python scripts/predictor_walks.py`` writes ``predictor_walks.json`` beside this module. It is
resumable: an entry already in the file with the same settings is kept, and the file is
rewritten (atomically) after each entry, so an interrupted run loses at most one walk.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from tqdm import tqdm

from lstm_study.files import write_atomically
from lstm_study.forecast import BacktestConfig, walk_forward
from lstm_study.forecast.backtest import BacktestResult, config_dict
from lstm_study.forecast.metrics import rmse_ratio
from lstm_study.forecast.report import forecast_summary
from lstm_study.forecast.tuning import Budget, load_results, tuned_config
from lstm_study.machine import cpu_description

RESULTS = Path(__file__).with_name("predictor_walks.json")
COMMAND = "python scripts/predictor_walks.py"
TEST_START = "2010-03-01"
HORIZON = 5
#: the interval rules whose coverage the chapter compares (lstm_study.forecast.intervals)
RULES = ("conformal", "empirical")


def _number(value: float) -> float | None:
    """A float for JSON: None where it is not a number (strict JSON has no NaN)."""
    return float(value) if np.isfinite(value) else None


def metrics_record(result: BacktestResult) -> dict[str, dict[str, float | None]]:
    """Every model's metrics, {model: {metric: value}}."""
    return {
        model: {metric: _number(value) for metric, value in row.items()}
        for model, row in result.metrics().iterrows()
    }


def metrics_table(record: dict[str, dict[str, float | None]]) -> pd.DataFrame:
    """The table :meth:`BacktestResult.metrics` gave, from :func:`metrics_record`'s record."""
    table = pd.DataFrame(record).T.astype(float).rename_axis("model")
    return table[list(next(iter(record.values())))]


def ticker_summary(result: BacktestResult) -> dict[str, Any]:
    """The scores the chapter reports for one one-step return walk, as plain JSON values."""
    dm, direction = result.diebold_mariano(), result.directional_test()
    pt = result.pesaran_timmermann()
    return {
        "test_days": len(result.dates),
        "metrics": metrics_record(result),
        "dm_statistic": dm.statistic,
        "dm_p_value": dm.p_value,
        "constant_call": direction.constant_call,
        "constant_share": direction.constant_share,
        "binomial_p_value": direction.p_value,
        "pt_statistic": _number(pt.statistic),
        "pt_p_value": _number(pt.p_value),
        "lstm_up_share": float(np.mean(result.forecasts["lstm"] > 0)),
        "seed_ratios": seed_ratios(result),
    }


def seed_ratios(result: BacktestResult) -> list[float]:
    """Each seed's one-step RMSE ratio to the random walk, on its own."""
    return [
        rmse_ratio(result.actual, forecast, result.baselines["random_walk"])
        for forecast in result.seed_forecasts
    ]


def seed_step_ratios(result: BacktestResult) -> list[list[float]]:
    """Each seed's RMSE ratio to the random walk at every step, (seeds, steps)."""
    known = np.isfinite(result.step_actual)
    walk = result.step_forecasts["random_walk"]
    out = []
    for member in result.seed_step_forecasts:
        out.append(
            [
                rmse_ratio(
                    result.step_actual[known[:, h], h],
                    member[known[:, h], h],
                    walk[known[:, h], h],
                )
                for h in range(result.horizon)
            ]
        )
    return out


def _frame(table: pd.DataFrame) -> dict[str, dict[str, float]]:
    """A table with one row per step, as {column: {step: value}} of plain floats."""
    return {
        column: {str(step): _number(value) for step, value in table[column].items()}
        for column in table.columns
    }


def horizon_summary(result: BacktestResult) -> dict[str, Any]:
    """The scores, the intervals under both rules and the plotted series of a multi-step walk."""
    out: dict[str, Any] = {
        "by_step": {rule: _frame(result.by_step(rule)) for rule in RULES},
        "seed_step_ratios": seed_step_ratios(result),
    }
    errors = result.calibration["lstm"][0][1]  # the first fold's validation errors
    out["calibration_errors_per_step"] = [
        int(np.isfinite(errors[:, h]).sum()) for h in range(result.horizon)
    ]
    if result.future is not None:
        lower, upper = result.bounds["lstm"][95.0][:, :, 0]
        out["plot"] = {
            "lstm_step_1": result.step_forecasts["lstm"][:, 0].tolist(),
            "lower_95_step_1": lower.tolist(),
            "upper_95_step_1": upper.tolist(),
        }
        out["next_days"] = forecast_summary(result)["forecasts"]
        out["last_close"] = result.future.last_close
    return out


def price_summary(result: BacktestResult) -> dict[str, Any]:
    """The price-level walk's table and forecasts (the chapter plots and correlates them)."""
    return {
        "metrics": metrics_record(result),
        "seed_ratios": [
            rmse_ratio(result.actual, forecast, result.baselines["random_walk"])
            for forecast in result.seed_forecasts
        ],
        "lstm": result.forecasts["lstm"].tolist(),
    }


def walks(prices: pd.DataFrame) -> dict[str, tuple]:
    """Every walk: name -> (ticker, config, future, summary function)."""
    base = BacktestConfig(test_start=TEST_START, seeds=3)
    tuning = load_results()
    goog = {entry["ticker"]: entry for entry in tuning["searches"]}["GOOG"]
    tuned = tuned_config(
        replace(base, seeds=tuning["base"]["seeds"]),
        goog["chosen"],
        Budget(**tuning["budget"]),
    )
    out = {"price": ("MSFT", replace(base, target="price"), False, price_summary)}
    for ticker in ("AAPL", "GOOG", "IBM"):
        out[ticker] = (ticker, base, False, ticker_summary)
    out["direct"] = ("MSFT", replace(base, horizon=HORIZON), True, horizon_summary)
    out["recursive"] = (
        "MSFT",
        replace(base, horizon=HORIZON, strategy="recursive"),
        False,
        horizon_summary,
    )
    out["tuned GOOG"] = ("GOOG", tuned, False, ticker_summary)
    return out


def machine() -> dict[str, Any]:
    """Where an entry was computed: the processor, torch's vector kernels, threads and cores."""
    return {
        "cpu": cpu_description(),
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "threads": torch.get_num_threads(),
        "cores": os.cpu_count(),
        "torch": torch.__version__,
    }


def settings(ticker: str, config: BacktestConfig, future: bool) -> dict[str, Any]:
    """What defines an entry: a stored entry with other settings is run again."""
    return {"ticker": ticker, "future": future, "config": config_dict(config)}


def load(path: Path = RESULTS) -> dict[str, Any]:
    """The committed results (an empty record if the file does not exist yet)."""
    if not Path(path).exists():
        return {"entries": {}}
    return json.loads(Path(path).read_text(encoding="utf-8"))


def run(path: Path = RESULTS, *, progress: bool = True) -> dict[str, Any]:
    """Run every walk not yet in ``path`` with its current settings; rewrite the file after each."""
    from lstm_study.data import load_prices
    from lstm_study.runtime import seed_everything

    seed_everything(0, threads=1)
    prices = load_prices(["AAPL", "GOOG", "IBM", "MSFT"], source="snapshot")
    record = load(path)
    todo = walks(prices)
    bar = tqdm(todo.items(), desc="chapter 10 walks", disable=not progress)
    for name, (ticker, config, future, summarise) in bar:
        wanted = settings(ticker, config, future)
        stored = record["entries"].get(name)
        if stored is not None and stored["settings"] == wanted:
            continue
        bar.set_postfix_str(name)
        load1 = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
        started = time.perf_counter()
        result = walk_forward(
            prices, config, ticker=ticker, progress=False, future=future
        )
        record["entries"][name] = {
            "settings": wanted,
            "seconds": round(time.perf_counter() - started, 1),
            "load_average_1min_at_start": load1,
            "date": dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat(),
            "machine": machine(),
            **summarise(result),
        }
        record["command"] = COMMAND
        record["complete"] = set(record["entries"]) >= set(todo)
        text = json.dumps(record, indent=1, allow_nan=False) + "\n"
        write_atomically(Path(path), text, what="the chapter 10 walks")
    return record
