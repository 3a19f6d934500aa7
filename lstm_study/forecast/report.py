"""The backtest's outputs for people and programs: a JSON summary and a CSV of daily forecasts."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from lstm_study.files import write_atomically
from lstm_study.forecast.backtest import BacktestResult, config_dict


def _plain(value: Any) -> Any:
    """Turn NumPy, pandas and NaN values into what JSON can hold (NaN and infinities become null)."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, pd.Timestamp):
        return str(value.date())
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return None if not math.isfinite(value) else float(value)  # JSON has no NaN or Infinity
    return value


def summary(result: BacktestResult) -> dict[str, Any]:
    """Return the JSON summary: period, per-model metrics, Diebold-Mariano, seed spread, folds."""
    metrics = result.metrics()
    seeds = result.seed_metrics()
    dm = result.diebold_mariano()
    direction = result.directional_test()
    return _plain(
        {
            "ticker": result.ticker,
            "target": result.target,
            "price_column": result.price_column,
            "features": result.features,
            "test_start": result.dates[0],
            "test_end": result.dates[-1],
            "n_test": len(result.dates),
            "up_day_share": result.up_day_share(),
            "directional": {
                "lstm_accuracy": direction.accuracy,
                "better_constant_call": direction.constant_call,
                "better_constant_share": direction.constant_share,
                "p_value": direction.p_value,
                "test": "one-sided binomial against the better constant call's share",
            },
            "models": {name: row.to_dict() for name, row in metrics.iterrows()},
            "diebold_mariano": {
                "statistic": dm.statistic,
                "p_value": dm.p_value,
                "lags": dm.lags,
                "model": "lstm",
                "benchmark": "random_walk",
                "loss": "squared error",
                "correction": "Harvey-Leybourne-Newbold (Student t, T-1 df)",
                "note": "negative statistic: the LSTM's squared error is lower",
            },
            "seeds": {
                "per_seed": [{"seed": int(seed), **row.to_dict()} for seed, row in seeds.iterrows()],
                "rmse_ratio_vs_random_walk": {
                    "min": seeds["rmse_ratio_vs_random_walk"].min(),
                    "max": seeds["rmse_ratio_vs_random_walk"].max(),
                    "std": seeds["rmse_ratio_vs_random_walk"].std(ddof=1) if len(seeds) > 1 else 0.0,
                },
            },
            "mase_scale": result.scale,
            "config": config_dict(result.config),
            "folds": [fold.__dict__ for fold in result.folds],
            "notes": list(result.notes),
        }
    )


def write_json(result: BacktestResult, path: str | Path) -> Path:
    """Write the summary to ``path`` as indented JSON, atomically, and return the path."""
    text = json.dumps(summary(result), indent=2) + "\n"
    return write_atomically(Path(path), text, "the JSON summary")


def write_predictions(result: BacktestResult, path: str | Path) -> Path:
    """Write one row per test day (Date, actual, one column per model) to ``path`` as CSV, atomically."""
    frame = result.predictions()
    frame["Date"] = frame["Date"].dt.strftime("%Y-%m-%d")
    text = frame.to_csv(index=False, float_format="%.10g", lineterminator="\n")
    return write_atomically(Path(path), text, "the predictions")
