"""From a validated price series to past-only features, targets and lookback windows.

Convention used everywhere in ``lstm_study.forecast``: the forecast *dated* day ``t`` is made at
the close of day ``t - 1``. Its input window is the feature rows ``t - lookback .. t - 1``, and
feature row ``j`` is computed from prices and volumes up to day ``j`` only. So nothing dated
``t`` or later can reach a forecast dated ``t``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from lstm_study.dates import listed
from lstm_study.errors import ConfigError, InputDataError
from lstm_study.forecast.validate import VOLUME_DAYS, PriceSeries

#: "variance" is tomorrow's squared log return (lstm_study.forecast.volatility)
TARGETS = ("log-return", "price", "variance")
VOLATILITY_DAYS = 20


def feature_columns(target: str, has_volume: bool) -> list[str]:
    """Return the feature names used for a target: prices for the level model, returns and more otherwise."""
    check_target(target)
    if target == "price":
        return ["price"]
    if target == "variance":
        dollars = ["log_dollar_volume_ratio"] if has_volume else []
        return ["log_return", "abs_return", "log_range", *dollars]
    volume = ["log_volume_ratio"] if has_volume else []
    return ["log_return", "volatility", *volume]


#: features the variance table also holds, for an ablation to choose instead of the default
#: ones: the share volume's ratio, which jumps at a split (the dollar volume's does not)
VARIANCE_EXTRAS = ("log_volume_ratio",)


def check_target(target: str) -> None:
    """Refuse a target name the forecaster does not know."""
    if target not in TARGETS:
        raise ConfigError(f"target must be one of {TARGETS}, got {target!r}")


def daily_range(series: PriceSeries) -> np.ndarray:
    """Return each day's range ``log(High / Low)``, refusing missing, non-positive or crossed values."""
    if series.high is None or series.low is None:
        raise InputDataError(
            "the variance target needs 'High' and 'Low' columns: the LSTM reads the daily "
            "range log(High / Low); add both columns (any daily OHLC download has them)"
        )
    high, low = series.high, series.low
    bad = ~(np.isfinite(high) & np.isfinite(low) & (low > 0))
    if bad.any():
        raise InputDataError(
            f"'High' or 'Low' is missing or not a positive number on {int(bad.sum())} "
            f"day(s): {listed(series.dates[bad])}; fix or drop those rows"
        )
    crossed = high < low
    if crossed.any():
        raise InputDataError(
            f"'High' is below 'Low' on {int(crossed.sum())} day(s): "
            f"{listed(series.dates[crossed])}; the columns may be swapped"
        )
    return np.log(high / low)


def dollar_volume(series: PriceSeries) -> np.ndarray:
    """Each day's traded value, ``Close * Volume``: unlike the share count, it does not jump at a split.

    A 2-for-1 split doubles the shares traded and halves the unadjusted close, so the product
    stays put. ``Close`` must be the unadjusted close, on the same basis as ``Volume`` (both are,
    in any OHLCV download); without a ``Close`` column the price column stands in.
    """
    close = series.close if series.close is not None else series.price
    return np.asarray(close, dtype=float) * np.asarray(series.volume, dtype=float)


def volume_ratio(volume: np.ndarray, dates: pd.DatetimeIndex) -> pd.Series:
    """``log`` of each day's volume over the mean of its last :data:`VOLUME_DAYS` logs (itself included)."""
    usable = np.isfinite(volume) & (volume > 0)
    log_volume = pd.Series(np.log(np.where(usable, volume, np.nan)), index=dates)
    ratio = log_volume - log_volume.rolling(VOLUME_DAYS, min_periods=VOLUME_DAYS).mean()
    # A window touching a missing or zero volume says nothing about volume: neutral 0, not NaN.
    ratio.iloc[VOLUME_DAYS - 1 :] = ratio.iloc[VOLUME_DAYS - 1 :].fillna(0.0)
    return ratio


def make_features(series: PriceSeries, target: str = "log-return") -> pd.DataFrame:
    """Return the feature rows (one per day, from data up to that day only) and the ``target`` column.

    ``target`` on row ``t`` is what a forecast dated ``t`` predicts: the log return from ``t - 1``
    to ``t``, the price of day ``t``, or the squared log return (the variance target). Rows
    before every rolling window is full hold NaN.
    """
    check_target(target)
    log_price = np.log(series.price)
    frame = pd.DataFrame(index=series.dates)
    log_return = pd.Series(np.r_[np.nan, np.diff(log_price)], index=series.dates)
    frame["price"] = series.price
    frame["log_return"] = log_return
    # rolling() looks backwards only: row t uses rows t-19..t.
    frame["volatility"] = log_return.rolling(
        VOLATILITY_DAYS, min_periods=VOLATILITY_DAYS
    ).std()
    if series.volume is not None:
        frame["log_volume_ratio"] = volume_ratio(series.volume, series.dates)
    if target == "variance":
        frame["abs_return"] = log_return.abs()
        frame["log_range"] = daily_range(series)
        if series.volume is not None:
            frame["log_dollar_volume_ratio"] = volume_ratio(
                dollar_volume(series), series.dates
            )
    columns = feature_columns(target, series.volume is not None)
    if target == "variance":
        columns += [name for name in VARIANCE_EXTRAS if name in frame]
    out = frame[columns].copy()
    targets = {
        "log-return": log_return,
        "price": frame["price"],
        "variance": log_return**2,
    }
    out["target"] = targets[target]
    return out


def first_complete_row(features: pd.DataFrame) -> int:
    """Return the index of the first row whose features are all defined."""
    complete = features.drop(columns="target").notna().all(axis=1).to_numpy()
    if not complete.any():
        raise InputDataError(
            "no row has all features defined: the series is shorter than the rolling windows"
        )
    return int(np.argmax(complete))


def make_inputs(features: np.ndarray, days: np.ndarray, lookback: int) -> np.ndarray:
    """Stack the input windows for forecast days ``days``: rows ``t - lookback .. t - 1`` each.

    Day ``len(features)`` is allowed: the day after the data, whose window is the last rows.
    Returns an array of shape (len(days), lookback, n_features).
    """
    if lookback < 1:
        raise ConfigError(f"lookback must be >= 1, got {lookback}")
    days = np.asarray(days, dtype=int)
    if len(days) and (days.min() < lookback or days.max() > len(features)):
        raise ConfigError(
            f"forecast days must lie in [{lookback}, {len(features)}] for lookback {lookback}"
        )
    # windows[k] covers rows k .. k + lookback - 1: the window ending the day before t starts at
    # t - lookback.
    windows = np.lib.stride_tricks.sliding_window_view(features, lookback, axis=0)
    return np.ascontiguousarray(windows.transpose(0, 2, 1)[days - lookback])


def make_windows(
    features: np.ndarray,
    targets: np.ndarray,
    days: np.ndarray,
    lookback: int,
    horizon: int = 1,
) -> tuple[np.ndarray, np.ndarray]:
    """Stack inputs (rows ``t - lookback .. t - 1``) and outputs ``targets[t .. t + horizon - 1]``.

    Returns ``x`` of shape (len(days), lookback, n_features) and ``y`` of shape (len(days),)
    for ``horizon=1``, (len(days), horizon) otherwise.
    """
    days = np.asarray(days, dtype=int)
    if len(days) and days.max() + horizon > len(features):
        raise ConfigError(
            f"forecast days must lie in [{lookback}, {len(features) - horizon}] for lookback "
            f"{lookback} and horizon {horizon}"
        )
    x = make_inputs(features, days, lookback)
    if horizon == 1:
        return x, targets[days]
    return x, targets[days[:, None] + np.arange(horizon)]
