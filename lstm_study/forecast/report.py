"""Outputs for people and programs: the backtest's JSON and daily CSV, the forecast's JSON."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from lstm_study.files import write_atomically
from lstm_study.forecast.backtest import BacktestResult, config_dict
from lstm_study.forecast.intervals import level_name
from lstm_study.forecast.volatility import PROXY_FLOOR, VarianceResult

#: how the intervals are made, said in every report that holds them
INTERVAL_METHOD = (
    "split-conformal intervals from out-of-sample errors: each model, fitted on the days before a "
    "validation block, forecasts that block, and with n known errors at a step the k-th smallest "
    "and the k-th largest of them, k = ceil((n + 1)(1 + level/100)/2), are added to its forecasts "
    "at that step (the finite-sample rule). The interval is built from the errors' order "
    "statistics, not centred on the forecast: where the errors lean one way (a narrow level, a "
    "series the model always misses on the same side) it can exclude the point forecast, and "
    "'intervals_excluding_point' lists where it does"
)
DATES_NOTE = "business days (Monday to Friday) after the last date; exchange holidays are not skipped"


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
        return (
            None if not math.isfinite(value) else float(value)
        )  # JSON has no NaN or Infinity
    return value


def summary(result: BacktestResult | VarianceResult) -> dict[str, Any]:
    """Return the JSON summary: period, per-model metrics, Diebold-Mariano, seed spread, folds."""
    if result.target == "variance":
        return variance_summary(result)
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
                "per_seed": [
                    {"seed": int(seed), **row.to_dict()}
                    for seed, row in seeds.iterrows()
                ],
                "rmse_ratio_vs_random_walk": {
                    "min": seeds["rmse_ratio_vs_random_walk"].min(),
                    "max": seeds["rmse_ratio_vs_random_walk"].max(),
                    "std": seeds["rmse_ratio_vs_random_walk"].std(ddof=1)
                    if len(seeds) > 1
                    else 0.0,
                },
            },
            "mase_scale": result.scale,
            "config": config_dict(result.config),
            "folds": [fold.__dict__ for fold in result.folds],
            "horizon": result.horizon,
            "levels": [_level(level) for level in result.config.levels],
            "interval_method": INTERVAL_METHOD,
            "by_step": by_step_records(result),
            "notes": list(result.notes),
        }
    )


def variance_summary(result: VarianceResult) -> dict[str, Any]:
    """The variance backtest's JSON: MSE and QLIKE per model, Diebold-Mariano on QLIKE against GARCH."""
    dm = result.diebold_mariano()
    return _plain(
        {
            "ticker": result.ticker,
            "target": result.target,
            "proxy": f"squared daily log return of {result.price_column}",
            "price_column": result.price_column,
            "features": result.features,
            "test_start": result.dates[0],
            "test_end": result.dates[-1],
            "n_test": len(result.dates),
            "models": {
                name: row.to_dict() for name, row in result.metrics().iterrows()
            },
            "qlike": {
                "definition": "mean of s2/h - log(s2/h) - 1 (Patton 2011); 0 is perfect",
                "floor": PROXY_FLOOR,
                "floored_days": result.floored_days(),
                "note": "proxies and forecasts below the floor are raised to it",
            },
            "diebold_mariano": {
                "statistic": dm.statistic,
                "p_value": dm.p_value,
                "lags": dm.lags,
                "model": "lstm",
                "benchmark": "garch",
                "loss": "QLIKE",
                "correction": "Harvey-Leybourne-Newbold (Student t, T-1 df)",
                "note": "negative statistic: the LSTM's QLIKE is lower",
            },
            "seeds": [
                {"seed": int(seed), **row.to_dict()}
                for seed, row in result.seed_metrics().iterrows()
            ],
            "garch": [
                {"fold": k, **fit.__dict__, "persistence": fit.persistence}
                for k, fit in enumerate(result.garch_fits)
            ],
            "config": config_dict(result.config),
            "folds": [fold.__dict__ for fold in result.folds],
            "notes": list(result.notes),
        }
    )


def json_text(result: BacktestResult | VarianceResult) -> str:
    """The summary as indented JSON text."""
    return json.dumps(summary(result), indent=2) + "\n"


def predictions_text(result: BacktestResult | VarianceResult) -> str:
    """One row per test day (Date, actual, one column per model) as CSV text."""
    frame = result.predictions()
    frame["Date"] = frame["Date"].dt.strftime("%Y-%m-%d")
    return frame.to_csv(index=False, float_format="%.10g", lineterminator="\n")


def write_json(result: BacktestResult | VarianceResult, path: str | Path) -> Path:
    """Write the summary to ``path`` as indented JSON, atomically, and return the path."""
    return write_atomically(Path(path), json_text(result), "the JSON summary")


def write_predictions(
    result: BacktestResult | VarianceResult, path: str | Path
) -> Path:
    """Write one row per test day (Date, actual, one column per model) to ``path`` as CSV, atomically."""
    return write_atomically(Path(path), predictions_text(result), "the predictions")


def _level(level: float) -> int | float:
    """80.0 -> 80 (as the user typed it), 97.5 stays."""
    return int(level) if float(level).is_integer() else float(level)


def by_step_records(result: BacktestResult) -> list[dict[str, Any]]:
    """One JSON record per step: skill against the random walk, Diebold-Mariano, interval scores."""
    table = result.by_step()
    return [
        _plain({"step": int(step), "n_test": int(row.pop("n")), **row.to_dict()})
        for step, row in table.iterrows()
    ]


def to_price(
    result: BacktestResult, values: np.ndarray, last_close: float
) -> np.ndarray:
    """Turn values reached from the last close (cumulative log returns, or prices) into prices."""
    values = np.asarray(values, dtype=float)
    return last_close * np.exp(values) if result.target == "log-return" else values


def forecast_summary(
    result: BacktestResult, source: str | None = None
) -> dict[str, Any]:
    """The ``forecast`` command's JSON: the next days' prices with intervals, and the backtest's skill."""
    if result.future is None:
        raise ValueError(
            "the result holds no forecast of the next days: run walk_forward(future=True)"
        )
    last_date, last_close = result.dates[-1], result.future.last_close
    dates = pd.bdate_range(last_date + pd.offsets.BDay(1), periods=result.horizon)
    rows = []
    for step in range(result.horizon):
        row: dict[str, Any] = {"step": step + 1, "date": dates[step]}
        for model in ("lstm", "random_walk"):
            row[model] = to_price(
                result, result.future.forecasts[model][step], last_close
            )
        for model in ("lstm", "random_walk"):
            for level, bounds in result.future.bounds[model].items():
                lower, upper = to_price(result, bounds[:, step], last_close)
                row[f"{model}_lower_{level_name(level)}"] = lower
                row[f"{model}_upper_{level_name(level)}"] = upper
        rows.append(row)
    found = excluding_point(rows, result.config.levels)
    note = excluding_point_note(found)
    return _plain(
        {
            "ticker": result.ticker,
            "last_date": last_date,
            "last_close": last_close,
            "horizon": result.horizon,
            "levels": [_level(level) for level in result.config.levels],
            "price_column": result.price_column,
            "source": source,
            "target": result.target,
            "strategy": result.config.strategy,
            "dates": DATES_NOTE,
            "interval_method": INTERVAL_METHOD,
            "forecasts": rows,
            "intervals_excluding_point": found,
            "backtest": {
                "n_test": len(result.dates),
                "test_start": result.dates[0],
                "test_end": result.dates[-1],
                "by_step": by_step_records(result),
            },
            "config": config_dict(result.config),
            "notes": list(result.notes) + ([note] if note else []),
        }
    )


def excluding_point(
    rows: list[dict[str, Any]], levels: tuple[float, ...]
) -> list[dict[str, Any]]:
    """The intervals that do not hold their own point forecast: model, level, step, bounds."""
    found = []
    for row in rows:
        for model in ("lstm", "random_walk"):
            for level in levels:
                name = level_name(level)
                lower = row[f"{model}_lower_{name}"]
                upper = row[f"{model}_upper_{name}"]
                if lower > row[model] or upper < row[model]:
                    found.append(
                        {"model": model, "level": _level(level), "step": row["step"],
                         "point": row[model], "lower": lower, "upper": upper}
                    )  # fmt: skip
    return found


def excluding_point_note(found: list[dict[str, Any]]) -> str | None:
    """One sentence on the intervals that exclude their point forecast, or None."""
    if not found:
        return None
    first = found[0]
    groups = sorted({(entry["model"], entry["level"]) for entry in found})
    which = ", ".join(f"{model} {level}%" for model, level in groups)
    return (
        f"{len(found)} interval(s) do not hold their point forecast ({which}; e.g. step "
        f"{first['step']}: {first['model']} {first['point']:.4f}, interval "
        f"{first['lower']:.4f} to {first['upper']:.4f}): an interval is a quantile interval of "
        "past errors, and when they lean one way it leaves the forecast out"
    )


def forecast_text(result: BacktestResult, source: str | None = None) -> str:
    """:func:`forecast_summary` as indented JSON text."""
    return json.dumps(forecast_summary(result, source), indent=2) + "\n"


def write_forecast_json(
    result: BacktestResult, path: str | Path, source: str | None = None
) -> Path:
    """Write :func:`forecast_summary` to ``path`` as indented JSON, atomically."""
    return write_atomically(Path(path), forecast_text(result, source), "the forecast")
