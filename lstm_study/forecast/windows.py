"""From a price table to past-only features, next-day targets and lookback windows.

Convention used everywhere in ``lstm_study.forecast``: the forecast *dated* day ``t`` is made at
the close of day ``t - 1``. Its input window is the feature rows ``t - lookback .. t - 1``, and
feature row ``j`` is computed from prices and volumes up to day ``j`` only. So nothing dated
``t`` or later can reach a forecast dated ``t``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from lstm_study.dates import EARLIEST, latest
from lstm_study.errors import ConfigError, InputDataError, shorten

TARGETS = ("log-return", "price")
VOLATILITY_DAYS = 20
VOLUME_DAYS = 20
# A one-day move this large in an unadjusted close is almost always a split, not news.
SPLIT_SUSPECT_LOG_MOVE = 0.35


@dataclass(frozen=True)
class PriceSeries:
    """One ticker's validated daily prices: dates, the price used, volume if usable, and notes."""

    dates: pd.DatetimeIndex
    price: np.ndarray
    volume: np.ndarray | None
    price_column: str
    ticker: str | None = None
    notes: tuple[str, ...] = ()

    def __len__(self) -> int:
        return len(self.dates)


def _listed(values: pd.Series | pd.Index, limit: int = 3) -> str:
    """Format the first few values of a series of dates for an error message."""
    items = [str(pd.Timestamp(v).date()) if not pd.isna(v) else "NaT" for v in list(values)[:limit]]
    more = f" and {len(values) - limit} more" if len(values) > limit else ""
    return ", ".join(items) + more


COLUMNS = ("Date", "Ticker", "Open", "High", "Low", "Close", "Adj Close", "Volume")


def _canonical_columns(frame: pd.DataFrame) -> pd.DataFrame:
    """Accept ``date``, ``close``, ``adj_close`` and other spellings of the tidy column names."""
    wanted = {name.lower().replace(" ", ""): name for name in COLUMNS}
    present = set(frame.columns)
    renames = {}
    for column in frame.columns:
        key = str(column).strip().lower().replace(" ", "").replace("_", "")
        name = wanted.get(key)
        if name is not None and name not in present and column != name:
            renames[column] = name
    return frame.rename(columns=renames) if renames else frame


def _select_ticker(frame: pd.DataFrame, ticker: str | None) -> tuple[pd.DataFrame, str | None]:
    """Keep one ticker's rows of a tidy frame; refuse an ambiguous multi-ticker frame."""
    if "Ticker" not in frame.columns:
        return frame, ticker
    present = sorted(frame["Ticker"].dropna().astype(str).unique())
    if ticker is not None:
        if ticker not in present:
            raise InputDataError(f"ticker {ticker!r} is not in the table; it holds {present}")
        return frame[frame["Ticker"].astype(str) == ticker], ticker
    if len(present) > 1:
        raise InputDataError(
            f"the table holds several tickers {present}; choose one (ticker=..., or --ticker on the command line)"
        )
    return frame, present[0] if present else None


def _local_day(value: object) -> pd.Timestamp:
    """Parse one ISO 8601 date, keeping its local calendar day when it carries a UTC offset."""
    stamp = pd.to_datetime(value, format="ISO8601")
    return stamp.tz_localize(None) if stamp.tz is not None else stamp


def _parse_dates(raw: pd.Series) -> pd.DatetimeIndex:
    """Parse a Date column into timezone-naive days, with a clear error on failure."""
    if pd.api.types.is_numeric_dtype(raw) or pd.api.types.is_bool_dtype(raw):
        # pandas would read 20030102 as nanoseconds after 1970: every row the same day
        raise InputDataError(
            f"the Date column holds numbers (first {shorten(raw.iloc[0])}), not dates; write every date as YYYY-MM-DD"
        )
    try:
        dates = pd.DatetimeIndex(pd.to_datetime(raw, errors="raise"))
    except (ValueError, TypeError):
        # ISO dates whose UTC offset changes with daylight saving (a Yahoo history export) are
        # read day by day; anything else is refused, naming its first value that is not ISO.
        parsed = []
        for row, value in enumerate(raw):
            try:
                parsed.append(_local_day(value))
            except (ValueError, TypeError):
                raise InputDataError(
                    f"the Date column cannot be read as dates: row {row} holds {shorten(value)}, and the rows do "
                    "not share one format; write every date as YYYY-MM-DD"
                ) from None
        dates = pd.DatetimeIndex(parsed)
    if dates.tz is not None:
        dates = dates.tz_localize(None)
    if dates.hasnans:
        raise InputDataError("the Date column has empty values; every row needs a date")
    implausible = dates[(dates < EARLIEST) | (dates > latest())]
    if len(implausible):
        raise InputDataError(
            f"the Date column holds {len(implausible)} implausible date(s): {_listed(implausible)}; dates must lie "
            f"between {EARLIEST:%Y-%m-%d} and a year from today"
        )
    return dates.normalize()


def _check_order(dates: pd.DatetimeIndex) -> None:
    """Refuse duplicate or unsorted dates: a walk-forward needs one row per day, in order."""
    duplicated = dates[dates.duplicated()]
    if len(duplicated):
        raise InputDataError(
            f"the Date column has {len(duplicated)} duplicate date(s): {_listed(duplicated.unique())}; "
            "keep one row per trading day"
        )
    steps = np.diff(dates.asi8)
    if (steps < 0).any():
        row = int(np.argmax(steps < 0)) + 1
        raise InputDataError(
            f"dates are not in increasing order: row {row} ({dates[row].date()}) comes after "
            f"{dates[row - 1].date()}; sort the table by Date"
        )


def _numeric(frame: pd.DataFrame, column: str) -> pd.Series:
    """Return a column as floats, or say which column is not numeric."""
    values = pd.to_numeric(frame[column], errors="coerce")
    bad = values.isna() & frame[column].notna()
    if bad.any():
        raise InputDataError(f"column {column!r} has values that are not numbers, e.g. {shorten(frame[column][bad].iloc[0])}")
    values = values.astype(float)
    infinite = np.isinf(values)
    if infinite.any():
        raise InputDataError(f"column {column!r} holds {int(infinite.sum())} infinite value(s); prices must be finite")
    return values


def prepare_prices(frame: pd.DataFrame, *, ticker: str | None = None) -> PriceSeries:
    """Validate a price table (tidy frame or user CSV) and return the series the forecaster uses.

    Needs ``Date`` and ``Close``; uses ``Adj Close`` (split- and dividend-adjusted) when present,
    because an unadjusted close jumps at every split (MSFT halved on 2003-02-18) and a model
    would learn that jump as a crash. ``Volume`` is a feature whenever the column is present;
    missing or non-positive volumes make it neutral nearby, with a note.
    """
    if not isinstance(frame, pd.DataFrame):
        raise InputDataError(f"expected a pandas DataFrame, got {type(frame).__name__}")
    if "Date" not in frame.columns and frame.index.name is not None and str(frame.index.name).strip().lower() == "date":
        frame = frame.reset_index()
    frame = _canonical_columns(frame)
    if "Date" not in frame.columns:
        raise InputDataError(f"the table has no 'Date' column (columns: {list(frame.columns)})")
    if "Close" not in frame.columns and "Adj Close" not in frame.columns:
        raise InputDataError(f"the table has no 'Close' column (columns: {list(frame.columns)}); it needs Date and Close")
    frame, ticker = _select_ticker(frame, ticker)
    if frame.empty:
        raise InputDataError("the table has no rows")
    dates = _parse_dates(frame["Date"])
    _check_order(dates)
    notes: list[str] = []
    if "Adj Close" in frame.columns:
        price_column = "Adj Close"
    else:
        price_column = "Close"
        notes.append(
            "no 'Adj Close' column: using 'Close', which is not adjusted for splits or dividends"
        )
    price = _numeric(frame, price_column)
    missing = dates[price.isna().to_numpy()]
    if len(missing):
        raise InputDataError(
            f"{price_column!r} is missing (NaN) on {len(missing)} day(s): {_listed(missing)}; "
            "drop or fill those rows before forecasting"
        )
    if (price <= 0).any():
        bad = dates[(price <= 0).to_numpy()]
        raise InputDataError(f"{price_column!r} must be positive; it is not on {_listed(bad)}")
    price_array = price.to_numpy(dtype=float)
    if price_column == "Close":
        jumps = dates[1:][np.abs(np.diff(np.log(price_array))) > SPLIT_SUSPECT_LOG_MOVE]
        if len(jumps):
            notes.append(f"'Close' moves by more than {SPLIT_SUSPECT_LOG_MOVE:.0%} in a day on {_listed(jumps)}: a split?")
    volume = None
    if "Volume" in frame.columns:
        # Whether volume is a feature depends on the column alone, never on its values: deciding
        # from the whole series would let a bad value after day t change forecasts before t.
        volume = pd.to_numeric(frame["Volume"], errors="coerce").to_numpy(dtype=float)
        unusable = ~(np.isfinite(volume) & (volume > 0))
        if unusable.any():
            notes.append(
                f"'Volume' is missing or not positive on {int(unusable.sum())} day(s): {_listed(dates[unusable])}; "
                f"the volume feature is neutral (0) on those days and the {VOLUME_DAYS - 1} after"
            )
    return PriceSeries(
        dates=pd.DatetimeIndex(dates, name="Date"),
        price=price_array,
        volume=volume,
        price_column=price_column,
        ticker=ticker,
        notes=tuple(notes),
    )


def feature_columns(target: str, has_volume: bool) -> list[str]:
    """Return the feature names used for a target: prices for the level model, returns and more otherwise."""
    check_target(target)
    if target == "price":
        return ["price"]
    return ["log_return", "volatility"] + (["log_volume_ratio"] if has_volume else [])


def check_target(target: str) -> None:
    """Refuse a target name the forecaster does not know."""
    if target not in TARGETS:
        raise ConfigError(f"target must be one of {TARGETS}, got {target!r}")


def make_features(series: PriceSeries, target: str = "log-return") -> pd.DataFrame:
    """Return the feature rows (one per day, from data up to that day only) and the ``target`` column.

    ``target`` on row ``t`` is what a forecast dated ``t`` predicts: the log return from ``t - 1``
    to ``t``, or the price of day ``t``. Rows before every rolling window is full hold NaN.
    """
    check_target(target)
    log_price = np.log(series.price)
    frame = pd.DataFrame(index=series.dates)
    log_return = pd.Series(np.r_[np.nan, np.diff(log_price)], index=series.dates)
    frame["price"] = series.price
    frame["log_return"] = log_return
    # rolling() looks backwards only: row t uses rows t-19..t.
    frame["volatility"] = log_return.rolling(VOLATILITY_DAYS, min_periods=VOLATILITY_DAYS).std()
    if series.volume is not None:
        usable = np.isfinite(series.volume) & (series.volume > 0)
        log_volume = pd.Series(np.log(np.where(usable, series.volume, np.nan)), index=series.dates)
        ratio = log_volume - log_volume.rolling(VOLUME_DAYS, min_periods=VOLUME_DAYS).mean()
        # A window touching a missing or zero volume says nothing about volume: neutral 0, not NaN.
        ratio.iloc[VOLUME_DAYS - 1 :] = ratio.iloc[VOLUME_DAYS - 1 :].fillna(0.0)
        frame["log_volume_ratio"] = ratio
    columns = feature_columns(target, series.volume is not None)
    out = frame[columns].copy()
    out["target"] = frame["log_return"] if target == "log-return" else frame["price"]
    return out


def first_complete_row(features: pd.DataFrame) -> int:
    """Return the index of the first row whose features are all defined."""
    complete = features.drop(columns="target").notna().all(axis=1).to_numpy()
    if not complete.any():
        raise InputDataError("no row has all features defined: the series is shorter than the rolling windows")
    return int(np.argmax(complete))


def make_windows(features: np.ndarray, targets: np.ndarray, days: np.ndarray, lookback: int) -> tuple[np.ndarray, np.ndarray]:
    """Stack the windows for forecast days ``days``: inputs rows ``t - lookback .. t - 1``, output ``targets[t]``.

    Returns ``x`` of shape (len(days), lookback, n_features) and ``y`` of shape (len(days),).
    """
    if lookback < 1:
        raise ConfigError(f"lookback must be >= 1, got {lookback}")
    days = np.asarray(days, dtype=int)
    if len(days) and (days.min() < lookback or days.max() >= len(features)):
        raise ConfigError(f"forecast days must lie in [{lookback}, {len(features) - 1}] for lookback {lookback}")
    # windows[k] covers rows k .. k + lookback - 1, so the window ending the day before t starts at t - lookback.
    windows = np.lib.stride_tricks.sliding_window_view(features, lookback, axis=0).transpose(0, 2, 1)
    return np.ascontiguousarray(windows[days - lookback]), targets[days]
