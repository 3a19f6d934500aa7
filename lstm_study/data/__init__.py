"""Daily stock prices: fetched from Yahoo Finance, cached on disk, or read from the bundled snapshot.

Every function returns the same tidy frame (see :mod:`lstm_study.data.schema`): columns
``Date, Ticker, Open, High, Low, Close, Adj Close, Volume``, one row per (Date, Ticker).
"""

from lstm_study.data.cache import default_data_dir, read_cache
from lstm_study.data.schema import COLUMNS, FIELDS, validate
from lstm_study.data.snapshot import SNAPSHOT_TICKERS, load_snapshot
from lstm_study.data.sources import SOURCES, load_prices, update_cache
from lstm_study.data.yahoo import FetchResult, fetch

__all__ = [
    "COLUMNS",
    "FIELDS",
    "SNAPSHOT_TICKERS",
    "SOURCES",
    "FetchResult",
    "default_data_dir",
    "fetch",
    "load_prices",
    "load_snapshot",
    "read_cache",
    "update_cache",
    "validate",
]
