"""The forecasts an LSTM must beat: the random walk (naive), the drift method and a recent drift.

Names as in Hyndman and Athanasopoulos, *Forecasting: Principles and Practice*: the naive
forecast (the random walk) and the drift method (the average change over all the history,
carried forward); ``recent_drift`` is the drift over the last ``recent_drift_days`` days only.

Each is made, like the LSTM's, with data up to the day before the forecast date. On the
log-return target they forecast a return; on the price target, the price ``p[t-1] * exp(return)``.
"""

from __future__ import annotations

import numpy as np

from lstm_study.errors import ConfigError

BASELINES = ("random_walk", "drift", "recent_drift")
RECENT_DRIFT_DAYS = 252


def baseline_returns(
    log_returns: np.ndarray,
    days: np.ndarray,
    recent_drift_days: int = RECENT_DRIFT_DAYS,
) -> dict[str, np.ndarray]:
    """Return each baseline's log-return forecast for the forecast days ``days``.

    ``log_returns[j]`` is the return from day ``j - 1`` to ``j`` (``log_returns[0]`` is NaN).
    - random_walk: 0, tomorrow's price is today's (the naive forecast; Fama's efficient-market benchmark);
    - drift: the mean return of all days so far, the drift method (the average change of the log
      price over the whole history, carried forward);
    - recent_drift: the mean return of the last ``recent_drift_days`` days, the recent trend.
    """
    if recent_drift_days < 2:
        raise ConfigError(f"recent_drift_days must be >= 2, got {recent_drift_days}")
    days = np.asarray(days, dtype=int)
    if len(days) and days.min() < 2:
        raise ConfigError(
            "baselines need at least one past return before the first forecast day"
        )
    returns = np.nan_to_num(np.asarray(log_returns, dtype=float), nan=0.0)
    cumulative = np.r_[
        0.0, np.cumsum(returns)
    ]  # cumulative[k] = sum of returns[0 .. k-1]
    # returns known at the close of day t-1 are returns[1 .. t-1]
    drift = (cumulative[days] - cumulative[1]) / (days - 1)
    start = np.maximum(days - recent_drift_days, 1)
    recent = (cumulative[days] - cumulative[start]) / (days - start)
    return {"random_walk": np.zeros(len(days)), "drift": drift, "recent_drift": recent}


def to_price(log_return_forecast: np.ndarray, previous_price: np.ndarray) -> np.ndarray:
    """Turn a log-return forecast into a price forecast from the previous close."""
    return np.asarray(previous_price, dtype=float) * np.exp(log_return_forecast)
