"""Turn any frame ``yfinance.download`` returns into the tidy frame (one row per Date and Ticker).

yfinance 1.x has three shapes for daily data: column MultiIndex levels ``['Price', 'Ticker']``
(the default, ``group_by='column'``), ``['Ticker', 'Price']`` (``group_by='ticker'``, tickers in
no set order), and flat columns for one ticker with ``multi_level_index=False``. Failed tickers
come back as all-NaN columns; tickers trading on different calendars as NaN rows.
"""

from __future__ import annotations

import pandas as pd

from lstm_study.data import schema
from lstm_study.errors import InvalidPricesError


def _ticker_level(columns: pd.MultiIndex) -> int:
    """Return which of the two column levels holds tickers."""
    names = list(columns.names)
    if "Ticker" in names:
        return names.index("Ticker")
    # Unnamed levels: the level made of field names is the other one.
    return 1 if set(columns.get_level_values(0)) <= set(schema.FIELDS) else 0


def split_by_ticker(
    raw: pd.DataFrame, tickers: list[str] | None = None
) -> dict[str, pd.DataFrame]:
    """Return one frame per ticker (columns: the fields) from a raw yfinance frame."""
    if isinstance(raw.columns, pd.MultiIndex):
        if raw.columns.nlevels != 2:
            raise InvalidPricesError(
                f"expected two column levels (Price, Ticker), got {raw.columns.nlevels}"
            )
        level = _ticker_level(raw.columns)
        symbols = list(dict.fromkeys(raw.columns.get_level_values(level)))
        return {str(s).upper(): raw.xs(s, axis=1, level=level) for s in symbols}
    if tickers is None or len(tickers) != 1:
        raise InvalidPricesError(
            "a frame with flat columns holds one ticker, but which one is unknown: pass tickers=[SYMBOL]"
        )
    return {tickers[0].upper(): raw}


def tidy_one(fields: pd.DataFrame, ticker: str) -> pd.DataFrame:
    """Return the tidy rows of one ticker's field frame, dropping dates it has no prices for."""
    missing = [f for f in schema.FIELDS if f not in fields.columns]
    if missing:
        raise InvalidPricesError(
            f"yfinance frame for {ticker} lacks {missing}; download with auto_adjust=False so that both "
            "Close and Adj Close come back"
        )
    frame = fields.loc[:, list(schema.FIELDS)]
    # NaN rows are padding: dates another ticker traded on, or all of a failed ticker's rows.
    frame = frame.loc[frame.notna().any(axis=1)]
    index = pd.DatetimeIndex(frame.index)
    if index.tz is not None:
        index = index.tz_localize(
            None
        )  # a daily bar's wall-clock date is its trading day
    frame = frame.set_axis(index.rename("Date"), axis=0).reset_index()
    frame.insert(1, "Ticker", ticker)
    return schema.tidy(frame)


def normalise(raw: pd.DataFrame, tickers: list[str] | None = None) -> pd.DataFrame:
    """Return the tidy frame of a raw yfinance frame (any of its shapes); failed tickers have no rows."""
    parts = [
        tidy_one(fields, ticker)
        for ticker, fields in split_by_ticker(raw, tickers).items()
    ]
    if not parts:
        return schema.tidy(pd.DataFrame(columns=list(schema.COLUMNS)))
    frame = schema.tidy(pd.concat(parts, ignore_index=True))
    return schema.validate(frame, "the frame Yahoo returned")
