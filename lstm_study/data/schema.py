"""The tidy price frame every source returns, and the checks that guard it.

One row per (Date, Ticker); ``Date`` and ``Ticker`` are ordinary columns (not the index),
rows sorted by Ticker then Date, a fresh ``RangeIndex``. ``Date`` is a timezone-naive
``datetime64[ns]`` day; prices are ``float64``; ``Volume`` is ``int64``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from lstm_study.dates import EARLIEST, latest
from lstm_study.errors import InvalidPricesError

FIELDS: tuple[str, ...] = ("Open", "High", "Low", "Close", "Adj Close", "Volume")
PRICE_FIELDS: tuple[str, ...] = FIELDS[:-1]
COLUMNS: tuple[str, ...] = ("Date", "Ticker", *FIELDS)

#: more shares than any stock has traded in a day, by two orders of magnitude
MAX_VOLUME = 1e12
# Relative slack for High/Low checks: decimal prices written and read back can differ in the last bit.
_TOLERANCE = 1e-9


def tidy(frame: pd.DataFrame) -> pd.DataFrame:
    """Return ``frame`` with the tidy column order, dtypes, sort order and a RangeIndex."""
    missing = [c for c in COLUMNS if c not in frame.columns]
    if missing:
        raise InvalidPricesError(
            f"price frame lacks column(s) {missing}; expected exactly {list(COLUMNS)}"
            " (for yfinance data, download with auto_adjust=False so 'Adj Close' is kept)"
        )
    out = frame.loc[:, list(COLUMNS)].copy().rename_axis(columns=None)
    dates = pd.to_datetime(out["Date"])
    if getattr(dates.dt, "tz", None) is not None:
        dates = dates.dt.tz_localize(None)
    out["Date"] = dates.dt.normalize().astype("datetime64[ns]")
    out["Ticker"] = out["Ticker"].astype(str)
    for column in PRICE_FIELDS:
        out[column] = pd.to_numeric(out[column], errors="raise").astype("float64")
    volume = pd.to_numeric(out["Volume"], errors="raise")
    if volume.isna().any() or (volume.round() != volume).any():
        raise InvalidPricesError(
            "Volume holds missing or fractional values; it must be whole shares"
        )
    out["Volume"] = volume.astype("int64")
    return out.sort_values(["Ticker", "Date"], kind="stable").reset_index(drop=True)


def problems(frame: pd.DataFrame) -> list[str]:
    """List every way ``frame`` breaks the tidy schema or a sanity rule (empty when it is sound)."""
    if list(frame.columns) != list(COLUMNS):
        return [f"columns are {list(frame.columns)}, expected {list(COLUMNS)}"]
    found: list[str] = []
    if str(frame["Date"].dtype) != "datetime64[ns]":
        found.append(
            f"Date has dtype {frame['Date'].dtype}, expected datetime64[ns] (timezone-naive)"
        )
    bad_dtypes = [c for c in PRICE_FIELDS if frame[c].dtype != "float64"]
    if bad_dtypes:
        found.append(f"column(s) {bad_dtypes} are not float64")
    if frame["Volume"].dtype != "int64":
        found.append(f"Volume has dtype {frame['Volume'].dtype}, expected int64")
    if found:
        return found
    if frame.isna().any().any():
        columns = [c for c in COLUMNS if frame[c].isna().any()]
        found.append(f"missing values in column(s) {columns}")
    duplicated = frame.duplicated(["Ticker", "Date"])
    if duplicated.any():
        first = frame.loc[duplicated].iloc[0]
        found.append(
            f"{int(duplicated.sum())} duplicate (Ticker, Date) row(s), first {first['Ticker']} {first['Date']:%Y-%m-%d}"
        )
    top = frame[["Open", "Close"]].max(axis=1)
    bottom = frame[["Open", "Close"]].min(axis=1)
    rules = {
        "High below max(Open, Close)": frame["High"] < top * (1 - _TOLERANCE),
        "Low above min(Open, Close)": frame["Low"] > bottom * (1 + _TOLERANCE),
        "negative Volume": frame["Volume"] < 0,
        f"Volume above {MAX_VOLUME:.0e} shares": frame["Volume"] > MAX_VOLUME,
        "non-positive price": (frame[list(PRICE_FIELDS)] <= 0).any(axis=1),
        "infinite price": ~np.isfinite(frame[list(PRICE_FIELDS)]).all(axis=1),
        f"a date before {EARLIEST:%Y-%m-%d} or more than a year ahead": (
            frame["Date"] < EARLIEST
        )
        | (frame["Date"] > latest()),
    }
    for rule, broken in rules.items():
        if broken.any():
            first = frame.loc[broken].iloc[0]
            found.append(
                f"{int(broken.sum())} row(s) with {rule}, first {first['Ticker']} {first['Date']:%Y-%m-%d}"
            )
    if not frame.equals(
        frame.sort_values(["Ticker", "Date"], kind="stable").reset_index(drop=True)
    ):
        found.append("rows are not sorted by Ticker then Date with a RangeIndex")
    return found


def validate(frame: pd.DataFrame, what: str = "price frame") -> pd.DataFrame:
    """Return ``frame`` unchanged if it is a sound tidy price frame, else raise InvalidPricesError."""
    found = problems(frame)
    if found:
        raise InvalidPricesError(
            f"{what} is not a sound tidy price frame: " + "; ".join(found)
        )
    return frame
