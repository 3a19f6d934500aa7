"""Checking a user's price table: columns, dates, order, numbers; the result is a ``PriceSeries``.

Any table with ``Date`` and ``Close`` (a CSV, the snapshot, the cache) comes through here; every
date is read by :func:`lstm_study.dates.parse_day_column`, the package's one date reader.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from lstm_study.dates import listed, parse_day_column
from lstm_study.errors import InputDataError, shorten

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
    # the day's high and low when the table has both; read as given, checked where they are used
    # (the daily range of the variance target: lstm_study.forecast.features.daily_range)
    high: np.ndarray | None = None
    low: np.ndarray | None = None
    # the day's unadjusted close when the table has 'Close': on the same basis as 'Volume', so
    # their product, the dollar volume, does not jump at a split (the variance features)
    close: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.dates)


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


def _select_ticker(
    frame: pd.DataFrame, ticker: str | None
) -> tuple[pd.DataFrame, str | None]:
    """Keep one ticker's rows of a tidy frame; refuse an ambiguous multi-ticker frame."""
    if "Ticker" not in frame.columns:
        return frame, ticker
    present = sorted(frame["Ticker"].dropna().astype(str).unique())
    if ticker is not None:
        if ticker not in present:
            raise InputDataError(
                f"ticker {ticker!r} is not in the table; it holds {present}"
            )
        return frame[frame["Ticker"].astype(str) == ticker], ticker
    if len(present) > 1:
        raise InputDataError(
            f"the table holds several tickers {present}; choose one (ticker=..., or --ticker on the command line)"
        )
    return frame, present[0] if present else None


def _check_order(dates: pd.DatetimeIndex) -> None:
    """Refuse duplicate or unsorted dates: a walk-forward needs one row per day, in order."""
    duplicated = dates[dates.duplicated()]
    if len(duplicated):
        raise InputDataError(
            f"the Date column has {len(duplicated)} duplicate date(s): {listed(duplicated.unique())}; "
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
        raise InputDataError(
            f"column {column!r} has values that are not numbers, e.g. {shorten(frame[column][bad].iloc[0])}"
        )
    values = values.astype(float)
    infinite = np.isinf(values)
    if infinite.any():
        raise InputDataError(
            f"column {column!r} holds {int(infinite.sum())} infinite value(s); prices must be finite"
        )
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
    if (
        "Date" not in frame.columns
        and frame.index.name is not None
        and str(frame.index.name).strip().lower() == "date"
    ):
        frame = frame.reset_index()
    frame = _canonical_columns(frame)
    if "Date" not in frame.columns:
        raise InputDataError(
            f"the table has no 'Date' column (columns: {list(frame.columns)})"
        )
    if "Close" not in frame.columns and "Adj Close" not in frame.columns:
        raise InputDataError(
            f"the table has no 'Close' column (columns: {list(frame.columns)}); it needs Date and Close"
        )
    frame, ticker = _select_ticker(frame, ticker)
    if frame.empty:
        raise InputDataError("the table has no rows")
    dates = parse_day_column(frame["Date"], "Date", InputDataError)
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
            f"{price_column!r} is missing (NaN) on {len(missing)} day(s): {listed(missing)}; "
            "drop or fill those rows before forecasting"
        )
    if (price <= 0).any():
        bad = dates[(price <= 0).to_numpy()]
        raise InputDataError(
            f"{price_column!r} must be positive; it is not on {listed(bad)}"
        )
    price_array = price.to_numpy(dtype=float)
    if price_column == "Close":
        jumps = dates[1:][np.abs(np.diff(np.log(price_array))) > SPLIT_SUSPECT_LOG_MOVE]
        if len(jumps):
            notes.append(
                f"'Close' moves by more than {SPLIT_SUSPECT_LOG_MOVE:.0%} in a day on {listed(jumps)}: a split?"
            )
    volume = None
    if "Volume" in frame.columns:
        # Whether volume is a feature depends on the column alone, never on its values: deciding
        # from the whole series would let a bad value after day t change forecasts before t.
        volume = pd.to_numeric(frame["Volume"], errors="coerce").to_numpy(dtype=float)
        unusable = ~(np.isfinite(volume) & (volume > 0))
        if unusable.any():
            notes.append(
                f"'Volume' is missing or not positive on {int(unusable.sum())} day(s): {listed(dates[unusable])}; "
                f"the volume feature is neutral (0) on those days and the {VOLUME_DAYS - 1} after"
            )
    high, low = (
        pd.to_numeric(frame[name], errors="coerce").to_numpy(dtype=float)
        if "High" in frame.columns and "Low" in frame.columns
        else None
        for name in ("High", "Low")
    )
    return PriceSeries(
        dates=pd.DatetimeIndex(dates, name="Date"),
        price=price_array,
        volume=volume,
        price_column=price_column,
        ticker=ticker,
        notes=tuple(notes),
        high=high,
        low=low,
        close=(
            pd.to_numeric(frame["Close"], errors="coerce").to_numpy(dtype=float)
            if "Close" in frame.columns
            else None
        ),
    )
