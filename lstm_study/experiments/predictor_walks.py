"""The heavy walk-forwards of chapter 10, run once by a kept command and committed as JSON.

The chapter (``book/10_predictor.ipynb``) re-runs seed 0 of the MSFT, price and direct walks
live and asserts that it agrees with the committed seed 0; the other entries are read as
committed. What is run here, with the chapter's settings and seeds:

- ``MSFT``: the return LSTM of the chapter's main table (five seeds), with what its seeds
  decided (:func:`seed_record`): the chapter walks seed 0 live, which decides everything else
  (days, actual values, baselines), and :func:`restore` rebuilds the five-seed walk from the two;
- ``price``: the price-level LSTM on MSFT (three seeds);
- ``AAPL``, ``GOOG``, ``IBM``: the return LSTM on the other three stocks (three seeds each);
- ``direct`` and ``recursive``: the five-step MSFT forecasters (three seeds each), the direct one
  with the forecast of the days after the data;
- ``tuned GOOG``: the committed tuning search's GOOG winner over the test period (three seeds).

``python scripts/predictor_walks.py`` writes ``predictor_walks.json`` beside this module, and the
seed records of :data:`KEEP_SEEDS` in ``predictor_walks_seeds.json.gz``. It is resumable: an
entry already in the file with the same settings (and its seed record, where one is kept) is
kept, and the files are rewritten (atomically) after each entry, so an interrupted run loses at
most one walk.
"""

from __future__ import annotations

import datetime as dt
import gzip
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

from lstm_study.errors import ConfigError
from lstm_study.files import write_atomically
from lstm_study.forecast import BacktestConfig, walk_forward
from lstm_study.forecast.backtest import BacktestResult, config_dict
from lstm_study.forecast.metrics import rmse_ratio
from lstm_study.forecast.report import forecast_summary
from lstm_study.forecast.tuning import Budget, load_results, tuned_config
from lstm_study.machine import cpu_description

RESULTS = Path(__file__).with_name("predictor_walks.json")
#: the seed records of :data:`KEEP_SEEDS` (about 16,000 numbers each): compact, gzipped JSON
SEEDS_RESULTS = RESULTS.with_name("predictor_walks_seeds.json.gz")
COMMAND = "python scripts/predictor_walks.py"
TEST_START = "2010-03-01"
HORIZON = 5
#: seeds of the chapter's main walk (MSFT returns); the other walks have three
MSFT_SEEDS = 5
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


def _listed(values: np.ndarray) -> list:
    """An array as nested lists for strict JSON: NaN as None, infinities as "inf", "-inf"."""
    out = np.asarray(values, dtype=np.float64).astype(object)
    out[np.isnan(values)] = None
    out[np.isposinf(values)] = "inf"
    out[np.isneginf(values)] = "-inf"
    return out.tolist()


def seed_record(result: BacktestResult) -> dict[str, Any]:
    """Everything of a walk that its LSTM seeds decided, as plain JSON values.

    The LSTM's forecasts (per seed, and of every step), its intervals and the validation
    errors that calibrate them, and each fold's early-stopping epochs. The rest of a walk
    (the days, the actual values, the baselines and their intervals) depends on no seed, so a
    live one-seed walk of the same settings supplies it: see :func:`restore`.
    """
    if result.future is not None:
        raise ConfigError(
            "a walk with a forecast after the data cannot be stored this way"
        )
    return {
        "seeds": result.config.seeds,
        "test_days": [str(result.dates[0].date()), str(result.dates[-1].date())],
        "seed_forecasts": _listed(result.seed_forecasts),
        "seed_step_forecasts": _listed(result.seed_step_forecasts),
        "step_forecasts": _listed(result.step_forecasts["lstm"]),
        "bounds": {
            str(level): _listed(values)
            for level, values in result.bounds["lstm"].items()
        },
        "calibration": [
            {"start": where.start, "stop": where.stop, "errors": _listed(errors)}
            for where, errors in result.calibration["lstm"]
        ],
        "best_epochs": [list(fold.best_epochs) for fold in result.folds],
    }


def _array(values: list) -> np.ndarray:
    """:func:`_listed` undone."""
    out = np.array(values, dtype=object)
    out[np.equal(out, None)] = np.nan
    return out.astype(np.float64)


def restore(seed_zero: BacktestResult, record: dict[str, Any]) -> BacktestResult:
    """The whole walk of :func:`seed_record`'s ``record``, from a live walk of its seed 0 alone.

    ``seed_zero`` is the same walk with ``seeds=1``: seed ``s`` of a walk trains with seeds of
    its own (``10_000 * s + fold``), so it supplies the seed-independent parts (see
    :func:`seed_record`); the record supplies every seed's. Compare seed 0 of the two before
    trusting the record (the chapter does).
    """
    forecasts = _array(record["seed_forecasts"])
    if seed_zero.config.seeds != 1 or seed_zero.future is not None:
        raise ConfigError("restore needs a live walk of seed 0 alone (seeds=1)")
    days = [str(seed_zero.dates[0].date()), str(seed_zero.dates[-1].date())]
    if (
        record["test_days"] != days
        or forecasts.shape != (record["seeds"], len(seed_zero.dates))
        or len(record["best_epochs"]) != len(seed_zero.folds)
    ):
        raise ConfigError(
            f"the stored walk tests {' to '.join(record['test_days'])} "
            f"({forecasts.shape[-1]} days, {len(record['best_epochs'])} folds), the live one "
            f"{' to '.join(days)} ({len(seed_zero.dates)} days, {len(seed_zero.folds)} "
            "folds): they are not the same walk"
        )
    return replace(
        seed_zero,
        config=replace(seed_zero.config, seeds=record["seeds"]),
        seed_forecasts=forecasts,
        seed_step_forecasts=_array(record["seed_step_forecasts"]),
        step_forecasts={
            **seed_zero.step_forecasts,
            "lstm": _array(record["step_forecasts"]),
        },
        bounds={
            **seed_zero.bounds,
            "lstm": {float(k): _array(v) for k, v in record["bounds"].items()},
        },
        calibration={
            **seed_zero.calibration,
            "lstm": [
                (slice(c["start"], c["stop"]), _array(c["errors"]))
                for c in record["calibration"]
            ],
        },
        folds=[
            replace(fold, best_epochs=tuple(epochs))
            for fold, epochs in zip(seed_zero.folds, record["best_epochs"], strict=True)
        ],
    )


#: walks whose :func:`seed_record` is kept too, in :data:`SEEDS_RESULTS`
KEEP_SEEDS = ("MSFT",)


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
    out = {
        "MSFT": ("MSFT", replace(base, seeds=MSFT_SEEDS), False, ticker_summary),
        "price": ("MSFT", replace(base, target="price"), False, price_summary),
    }
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


def seeds_path(path: Path) -> Path:
    """Where the seed records of the results file ``path`` are kept."""
    return Path(path).with_name(Path(path).stem + "_seeds.json.gz")


def load_seeds(path: Path = RESULTS) -> dict[str, Any]:
    """The seed records kept beside the results file ``path``: name -> record with settings."""
    where = seeds_path(path)
    if not where.exists():
        return {}
    with gzip.open(where, "rt", encoding="utf-8") as handle:
        return json.load(handle)


def run(path: Path = RESULTS, *, progress: bool = True) -> dict[str, Any]:
    """Run every walk not yet in ``path`` with its current settings; rewrite the file after each.

    The seed records of :data:`KEEP_SEEDS` go to :func:`seeds_path` (written first): a walk
    whose record is missing there is run again.
    """
    from lstm_study.data import load_prices
    from lstm_study.runtime import seed_everything

    seed_everything(0, threads=1)
    prices = load_prices(["AAPL", "GOOG", "IBM", "MSFT"], source="snapshot")
    record, kept = load(path), load_seeds(path)
    todo = walks(prices)
    bar = tqdm(todo.items(), desc="chapter 10 walks", disable=not progress)
    for name, (ticker, config, future, summarise) in bar:
        wanted = settings(ticker, config, future)
        stored = record["entries"].get(name)
        seeds_kept = (
            name not in KEEP_SEEDS or kept.get(name, {}).get("settings") == wanted
        )
        if stored is not None and stored["settings"] == wanted and seeds_kept:
            continue
        bar.set_postfix_str(name)
        load1 = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
        started = time.perf_counter()
        result = walk_forward(
            prices, config, ticker=ticker, progress=False, future=future
        )
        if name in KEEP_SEEDS:
            kept[name] = {"settings": wanted, **seed_record(result)}
            text = json.dumps(kept, separators=(",", ":"), allow_nan=False)
            # mtime=0: the same records give the same bytes
            data = gzip.compress(text.encode("utf-8"), mtime=0)
            write_atomically(seeds_path(path), data, what="the chapter 10 seed records")
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
