"""The variance LSTM of chapter 11 over many seeds and input sets: a kept, resumable sweep.

The chapter "Forecasting the size of tomorrow's move" reads the committed results
(:data:`RESULTS_PATH`, metadata and per-run summaries, and :data:`FORECASTS_PATH`, every test
day's forecast) and re-runs a slice live with the same function and settings (one seed of one
ticker), comparing it with the committed entry of the same seed. The sweep is
``python scripts/volatility_sweep.py``; it keeps each finished run in a work folder and skips it
when started again, so an interrupted sweep resumes where it stopped.

A run is one ticker and one set of LSTM inputs (:data:`INPUTS`), walked forward with
:func:`lstm_study.forecast.volatility.variance_walk_forward` under :data:`SETTINGS` with
:data:`SEEDS` seeds (member ``k`` is seeded ``10000 k + fold``, whatever the number of seeds, so
a run with one seed reproduces member 0). The baselines, which do not depend on the LSTM's
inputs, run once per ticker.
"""

from __future__ import annotations

import io
import json
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from tqdm import tqdm

from lstm_study.errors import ConfigError
from lstm_study.files import write_atomically
from lstm_study.forecast.backtest import BacktestConfig, config_dict
from lstm_study.forecast.volatility import (
    BASELINES,
    VarianceResult,
    variance_walk_forward,
)
from lstm_study.machine import cpu_description

#: where the committed sweep lives: metadata and summaries, and the forecasts themselves
RESULTS_PATH = Path(__file__).with_name("volatility_results.json")
FORECASTS_PATH = Path(__file__).with_name("volatility_forecasts.npz")
TICKERS = ("MSFT", "AAPL", "GOOG", "IBM")
SEEDS = 10
#: the chapter's walk-forward: test from 2008, a month of lookback, a refit every quarter
SETTINGS = BacktestConfig(
    target="variance",
    test_start="2008-01-02",
    lookback=21,
    retrain_every=63,
    seeds=SEEDS,
    device="cpu",
)
RETURNS = ["log_return", "abs_return"]
#: the LSTM's input sets: the full one first (the default features of the variance target)
INPUTS = {
    "range + dollar volume": [*RETURNS, "log_range", "log_dollar_volume_ratio"],
    "range + share volume": [*RETURNS, "log_range", "log_volume_ratio"],
    "range": [*RETURNS, "log_range"],
    "dollar volume": [*RETURNS, "log_dollar_volume_ratio"],
    "returns only": RETURNS,
}
FULL = "range + dollar volume"


def _slug(name: str) -> str:
    return name.replace(" + ", "_").replace(" ", "_")


def run_key(ticker: str, inputs: str) -> str:
    """The name of one run's forecasts in the work folder and the committed file."""
    return f"{ticker}__{_slug(inputs)}"


def run_lstm(
    prices: pd.DataFrame,
    ticker: str,
    inputs: str,
    config: BacktestConfig = SETTINGS,
) -> tuple[np.ndarray, dict[str, Any]]:
    """One run: the LSTM's per-seed test forecasts (seeds, days) and what to record of it."""
    if inputs not in INPUTS:
        raise ConfigError(f"inputs must be one of {list(INPUTS)}, got {inputs!r}")
    started = time.monotonic()
    result = variance_walk_forward(
        prices,
        config,
        ticker=ticker,
        progress=False,
        features=INPUTS[inputs],
        models=("lstm",),
    )
    record = {
        "ticker": ticker,
        "inputs": inputs,
        "features": result.features,
        "seeds": int(config.seeds),
        "best_epochs": [list(f.best_epochs) for f in result.folds],
        "seconds": round(time.monotonic() - started, 1),
        "first_test_day": str(result.dates[0].date()),
        "test_days": len(result.dates),
    }
    return result.seed_forecasts, record


def run_baselines(
    prices: pd.DataFrame, ticker: str, config: BacktestConfig = SETTINGS
) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Every baseline's test forecasts for one ticker, the proxy, the dates, and the GARCH fits."""
    started = time.monotonic()
    result = variance_walk_forward(
        prices,
        replace(config, seeds=1),
        ticker=ticker,
        progress=False,
        models=("lstm", *BASELINES),
    )
    arrays = {name: result.baselines[name] for name in BASELINES}
    arrays["actual"] = result.actual
    arrays["dates"] = result.dates.strftime("%Y-%m-%d").to_numpy().astype("U10")
    record = {
        "ticker": ticker,
        "garch_persistence": [g.persistence for g in result.garch_fits],
        "garch_converged": [g.converged for g in result.garch_fits],
        "notes": list(result.notes),
        "seconds": round(time.monotonic() - started, 1),
    }
    return arrays, record


def _save(path: Path, arrays: dict[str, np.ndarray], record: dict[str, Any]) -> None:
    buffer = io.BytesIO()
    np.savez(buffer, record=np.array(json.dumps(record)), **arrays)
    write_atomically(path, buffer.getvalue(), "a sweep run")


def _load(path: Path) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    with np.load(path) as data:
        arrays = {k: data[k] for k in data.files if k != "record"}
        return arrays, json.loads(str(data["record"]))


def sweep(
    prices: pd.DataFrame,
    work: Path,
    tickers: tuple[str, ...] = TICKERS,
    inputs: tuple[str, ...] = tuple(INPUTS),
    config: BacktestConfig = SETTINGS,
    progress: bool = True,
    on_run: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Run every missing (ticker, inputs) run and each ticker's baselines into ``work``; collect all.

    Finished runs (files in ``work`` made with the same settings) are skipped, so a sweep that
    stops resumes. Returns the metadata; :func:`write_results` writes it with the forecasts.
    """
    work = Path(work)
    work.mkdir(parents=True, exist_ok=True)
    stamp = json.dumps(config_dict(config), sort_keys=True)
    jobs = [(t, name) for name in inputs for t in tickers]
    jobs += [(t, "baselines") for t in tickers]
    bar = tqdm(jobs, desc="volatility sweep", disable=not progress)
    for ticker, name in bar:
        key = f"{ticker}__baselines" if name == "baselines" else run_key(ticker, name)
        path = work / f"{key}.npz"
        if path.exists() and _load(path)[1].get("settings") == stamp:
            continue
        bar.set_postfix_str(key)
        if name == "baselines":
            arrays, record = run_baselines(prices, ticker, config)
        else:
            forecasts, record = run_lstm(prices, ticker, name, config)
            arrays = {"lstm": forecasts}
        record["settings"] = stamp
        _save(path, arrays, record)
        if on_run is not None:
            on_run(key)
    return collect(work, tickers, inputs, config)


def collect(
    work: Path,
    tickers: tuple[str, ...] = TICKERS,
    inputs: tuple[str, ...] = tuple(INPUTS),
    config: BacktestConfig = SETTINGS,
) -> dict[str, Any]:
    """Gather the finished runs of ``work`` into the metadata and the arrays to commit."""
    arrays: dict[str, np.ndarray] = {}
    runs, baselines = [], []
    for ticker in tickers:
        values, record = _load(Path(work) / f"{ticker}__baselines.npz")
        baselines.append(record)
        for name, array in values.items():
            # float32 halves the file; the proxy stays exact, QLIKE is scored against it
            keep = name in ("actual", "dates")
            arrays[f"{ticker}__{name}"] = array if keep else array.astype(np.float32)
        for name in inputs:
            values, record = _load(Path(work) / f"{run_key(ticker, name)}.npz")
            runs.append(record)
            arrays[run_key(ticker, name)] = values["lstm"].astype(np.float32)
    seconds = sum(r["seconds"] for r in runs + baselines)
    meta = {
        "command": "python scripts/volatility_sweep.py",
        "machine": {
            "cpu": cpu_description(),
            "cpu_capability": torch.backends.cpu.get_cpu_capability(),
            "threads": torch.get_num_threads(),
            "torch": torch.__version__,
        },
        "collected": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "run_seconds": round(seconds, 1),
        "settings": config_dict(config),
        "tickers": list(tickers),
        "inputs": {name: INPUTS[name] for name in inputs},
        "baselines": baselines,
        "runs": runs,
    }
    return {"meta": meta, "arrays": arrays}


def write_results(
    results: dict[str, Any],
    json_path: Path = RESULTS_PATH,
    forecasts_path: Path = FORECASTS_PATH,
) -> None:
    """Write the metadata (JSON) and the forecasts (compressed NumPy arrays), each atomically."""
    meta = dict(results["meta"])
    meta["forecasts_file"] = Path(forecasts_path).name
    write_atomically(
        json_path, json.dumps(meta, indent=1) + "\n", "the volatility sweep's results"
    )
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **results["arrays"])
    write_atomically(forecasts_path, buffer.getvalue(), "the volatility forecasts")


def load_results(
    json_path: Path | str = RESULTS_PATH, forecasts_path: Path | str = FORECASTS_PATH
) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """The committed sweep: its metadata, and its arrays keyed as :func:`run_key` names them."""
    meta = json.loads(Path(json_path).read_text(encoding="utf-8"))
    with np.load(forecasts_path) as data:
        arrays = {
            k: data[k] if data[k].dtype.kind == "U" else data[k].astype(np.float64)
            for k in data.files
        }
    return meta, arrays


def committed_result(
    meta: dict[str, Any],
    arrays: dict[str, np.ndarray],
    ticker: str,
    inputs: str = FULL,
) -> VarianceResult:
    """One committed run as a :class:`VarianceResult` (its scores and tests work as on a live one).

    Its ``folds`` and ``garch_fits`` are empty: the fold records are in ``meta["runs"]`` and
    the GARCH persistences in ``meta["baselines"]``.
    """
    config = settings_of(meta)
    return VarianceResult(
        ticker=ticker,
        price_column="Adj Close",
        features=list(meta["inputs"][inputs]),
        config=config,
        notes=(),
        dates=pd.DatetimeIndex(pd.to_datetime(arrays[f"{ticker}__dates"])),
        actual=arrays[f"{ticker}__actual"],
        seed_forecasts=arrays[run_key(ticker, inputs)],
        baselines={name: arrays[f"{ticker}__{name}"] for name in BASELINES},
        folds=[],
        garch_fits=[],
    )


def settings_of(meta: dict[str, Any]) -> BacktestConfig:
    """The walk-forward configuration the sweep ran with, as a :class:`BacktestConfig`."""
    values = dict(meta["settings"])
    train = values.pop("train")
    from lstm_study.forecast.model import TrainConfig

    values["levels"] = tuple(values["levels"])
    return BacktestConfig(**values, train=TrainConfig(**train))


__all__ = [
    "FORECASTS_PATH",
    "FULL",
    "INPUTS",
    "RESULTS_PATH",
    "SEEDS",
    "SETTINGS",
    "TICKERS",
    "collect",
    "committed_result",
    "load_results",
    "run_baselines",
    "run_key",
    "run_lstm",
    "settings_of",
    "sweep",
    "write_results",
]
