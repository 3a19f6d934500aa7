"""The real daily prices bundled with the package (AAPL, GOOG, IBM, MSFT, 2000-2013): works offline.

See ``snapshot/PROVENANCE.md`` for the source, checksums, licence and what is adjusted.
"""

from __future__ import annotations

import functools
from pathlib import Path

import pandas as pd

from lstm_study.data import query
from lstm_study.data.cache import read_prices_file
from lstm_study.errors import NoDataError

SNAPSHOT_PATH: Path = Path(__file__).resolve().parent / "snapshot" / "prices.csv.gz"
PROVENANCE_PATH: Path = SNAPSHOT_PATH.with_name("PROVENANCE.md")
SNAPSHOT_SHA256 = "21f672d9fe920b539535b0f4ef7f5745c761bbd4de51ae383b0c64fee6cd0191"
SNAPSHOT_TICKERS: tuple[str, ...] = ("AAPL", "GOOG", "IBM", "MSFT")


@functools.cache
def _snapshot() -> pd.DataFrame:
    """Read and validate the whole snapshot once per process."""
    return read_prices_file(SNAPSHOT_PATH)


def load_snapshot(
    tickers: str | list[str], start: object = None, end: object = None
) -> pd.DataFrame:
    """Return the snapshot's tidy rows for ``tickers`` within [start, end] (both inclusive)."""
    symbols = query.normalise_tickers(tickers)
    first, last = query.date_range(start, end)
    unknown = [s for s in symbols if s not in SNAPSHOT_TICKERS]
    if unknown:
        raise NoDataError(
            f"the bundled snapshot has no prices for {', '.join(unknown)}; it holds only "
            f"{', '.join(SNAPSHOT_TICKERS)} (2000-2013). Fetch other tickers with source='yahoo' "
            "(needs a network)",
            tuple(unknown),
        )
    frame = _snapshot()
    frame = query.select(frame[frame["Ticker"].isin(symbols)], first, last)
    empty = [s for s in symbols if not (frame["Ticker"] == s).any()]
    if empty:
        raise NoDataError(
            f"the bundled snapshot has no rows for {', '.join(empty)} between {first} and {last}; "
            "it covers 2000-03-01 to 2013-03-01 (GOOG from 2004-08-19)",
            tuple(empty),
        )
    return frame.copy()
