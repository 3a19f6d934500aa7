"""The forecasts an LSTM must beat: random walk (persistence), drift and the historical mean return.

Each is made, like the LSTM's, with data up to the day before the forecast date. On the
log-return target they forecast a return; on the price target, the price ``p[t-1] * exp(return)``.
"""

from __future__ import annotations

import numpy as np

from lstm_study.errors import ConfigError

BASELINES = ("random_walk", "drift", "mean")
DRIFT_DAYS = 252


def baseline_returns(log_returns: np.ndarray, days: np.ndarray, drift_days: int = DRIFT_DAYS) -> dict[str, np.ndarray]:
    """Return each baseline's log-return forecast for the forecast days ``days``.

    ``log_returns[j]`` is the return from day ``j - 1`` to ``j`` (``log_returns[0]`` is NaN).
    - random_walk: 0, tomorrow's price is today's (Fama's efficient-market benchmark);
    - drift: the mean return of the last ``drift_days`` days, the recent trend carried forward;
    - mean: the mean return of all days so far, the long-run expected return.
    """
    if drift_days < 2:
        raise ConfigError(f"drift_days must be >= 2, got {drift_days}")
    days = np.asarray(days, dtype=int)
    if len(days) and days.min() < 2:
        raise ConfigError("baselines need at least one past return before the first forecast day")
    returns = np.nan_to_num(np.asarray(log_returns, dtype=float), nan=0.0)
    cumulative = np.r_[0.0, np.cumsum(returns)]  # cumulative[k] = sum of returns[0 .. k-1]
    # returns known at the close of day t-1 are returns[1 .. t-1]
    mean = (cumulative[days] - cumulative[1]) / (days - 1)
    start = np.maximum(days - drift_days, 1)
    drift = (cumulative[days] - cumulative[start]) / (days - start)
    return {"random_walk": np.zeros(len(days)), "drift": drift, "mean": mean}


def to_price(log_return_forecast: np.ndarray, previous_price: np.ndarray) -> np.ndarray:
    """Turn a log-return forecast into a price forecast from the previous close."""
    return np.asarray(previous_price, dtype=float) * np.exp(log_return_forecast)
