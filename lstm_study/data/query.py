"""What a caller asks for, checked before anything touches the disk or the network."""

from __future__ import annotations

import re
from collections.abc import Iterable

import pandas as pd

from lstm_study.dates import parse_day
from lstm_study.errors import DateRangeError, InvalidTickerError, shorten

# Letters, digits and the punctuation real symbols use: BRK-B, ^GSPC, EURUSD=X, 0700.HK, BTC-USD.
# No slash, no whitespace, no leading dot: a ticker becomes a file name in the cache.
TICKER_PATTERN = re.compile(r"^[A-Z0-9^][A-Z0-9.\-=^]{0,19}$")


def normalise_ticker(ticker: object) -> str:
    """Return the upper-case symbol for ``ticker``, or raise InvalidTickerError naming it."""
    if not isinstance(ticker, str):
        raise InvalidTickerError(
            f"ticker {shorten(ticker)} is a {type(ticker).__name__}, not a string such as 'MSFT'"
        )
    symbol = ticker.strip().upper()
    if not TICKER_PATTERN.fullmatch(symbol):
        raise InvalidTickerError(
            f"{shorten(ticker)} is not a plausible ticker symbol: use 1-20 letters, digits or . - = ^ "
            "starting with a letter, digit or ^ (for example MSFT, BRK-B, ^GSPC, EURUSD=X, 0700.HK)"
        )
    return symbol


def normalise_tickers(tickers: str | Iterable[str]) -> list[str]:
    """Return the symbols in ``tickers`` (one string or many), upper-case, de-duplicated, in order."""
    items = [tickers] if isinstance(tickers, str) else list(tickers)
    if not items:
        raise InvalidTickerError(
            "no ticker given: pass at least one symbol such as 'MSFT'"
        )
    return list(dict.fromkeys(normalise_ticker(t) for t in items))


def to_day(value: object, name: str) -> pd.Timestamp | None:
    """Parse a date argument (``YYYY-MM-DD``) into a timezone-naive midnight Timestamp (None stays None)."""
    return None if value is None else parse_day(value, name, DateRangeError)


def date_range(
    start: object = None, end: object = None
) -> tuple[pd.Timestamp | None, pd.Timestamp | None]:
    """Parse ``start`` and ``end`` (both inclusive); raise DateRangeError if end comes before start."""
    first, last = to_day(start, "start"), to_day(end, "end")
    if first is not None and last is not None and last < first:
        raise DateRangeError(
            f"the date range is inverted: start={first:%Y-%m-%d} is after end={last:%Y-%m-%d}; swap them"
        )
    return first, last


def select(
    frame: pd.DataFrame, start: pd.Timestamp | None, end: pd.Timestamp | None
) -> pd.DataFrame:
    """Return the rows of a tidy frame dated within [start, end], with a fresh RangeIndex."""
    keep = pd.Series(True, index=frame.index)
    if start is not None:
        keep &= frame["Date"] >= start
    if end is not None:
        keep &= frame["Date"] <= end
    return frame.loc[keep].reset_index(drop=True)
