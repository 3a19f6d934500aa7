"""``load_prices``: one call for prices from the bundled snapshot, the local cache or Yahoo Finance."""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterable

import pandas as pd

from lstm_study.data import cache, query, schema, snapshot, yahoo
from lstm_study.errors import (
    ConfigError,
    DataWarning,
    NetworkError,
    NoDataError,
    OfflineFallbackWarning,
)

SOURCES: tuple[str, ...] = ("auto", "snapshot", "cache", "yahoo")
# Rows re-fetched before the last cached day: settled days that reveal a re-adjusted history.
OVERLAP_ROWS = 5
_RELATIVE_TOLERANCE = 1e-6

PathLike = str | os.PathLike[str]


def _missing_spans(
    cached: pd.DataFrame, start: pd.Timestamp | None, end: pd.Timestamp | None
):
    """Return the (start, end) spans to ask Yahoo for so that the cache covers [start, end]."""
    first, last = cached["Date"].iloc[0], cached["Date"].iloc[-1]
    spans = []
    if start is not None and start < first:
        spans.append((start, first - pd.Timedelta(days=1)))
    if end is None or end > last:
        # Re-fetch a few settled days as well as the (possibly provisional) last one.
        spans.append((cached["Date"].iloc[max(len(cached) - OVERLAP_ROWS, 0)], end))
    return spans


def _readjusted(cached: pd.DataFrame, fresh: pd.DataFrame) -> bool:
    """Return whether Yahoo's prices for settled days already in the cache have changed."""
    last = cached["Date"].iloc[-1]
    both = cached.merge(fresh, on=["Date", "Ticker"], suffixes=("_old", "_new"))
    both = both[both["Date"] < last]
    for column in ("Close", "Adj Close"):
        old, new = both[f"{column}_old"], both[f"{column}_new"]
        if ((old - new).abs() > _RELATIVE_TOLERANCE * old.abs()).any():
            return True
    return False


def update_cache(
    ticker: str,
    start: object = None,
    end: object = None,
    data_dir: PathLike | None = None,
) -> pd.DataFrame:
    """Bring one ticker's cache up to date from Yahoo, fetching only the dates it lacks; return it all.

    The last few cached days are fetched again: today's bar is provisional, and if Yahoo has
    re-adjusted the past (a split or dividend since the last update) the whole history is fetched
    afresh, since old and new adjustments must never be mixed in one file.
    """
    symbol = query.normalise_ticker(ticker)
    first, last = query.date_range(start, end)
    with cache.locked(
        data_dir
    ):  # a concurrent fetch waits, then merges into what this one wrote
        return _update_locked(symbol, first, last, data_dir)


def _update_locked(symbol: str, first, last, data_dir: PathLike | None) -> pd.DataFrame:
    """The body of :func:`update_cache`, run while the cache folder is locked."""
    cached = cache.read_cache(symbol, data_dir)
    if cached is None or cached.empty:
        fresh = yahoo.fetch(symbol, first, last).prices
        cache.write_cache(fresh, symbol, data_dir)
        return fresh
    parts = [cached]
    for span_start, span_end in _missing_spans(cached, first, last):
        try:
            fresh = yahoo.fetch(symbol, span_start, span_end).prices
        except NoDataError:
            continue  # nothing new (a weekend, a holiday): not an error for an update
        if _readjusted(cached, fresh):
            full_start = min(
                d for d in (first, cached["Date"].iloc[0]) if d is not None
            )
            fresh = yahoo.fetch(symbol, full_start, last).prices
            parts = []
        parts.append(fresh)
    merged = pd.concat(parts, ignore_index=True).drop_duplicates(
        ["Ticker", "Date"], keep="last"
    )
    merged = schema.validate(schema.tidy(merged), f"the updated prices of {symbol}")
    if not merged.equals(cached):
        cache.write_cache(merged, symbol, data_dir)
    return merged


def _from_cache(
    symbols: list[str], data_dir: PathLike | None
) -> dict[str, pd.DataFrame]:
    """Return the cached frames of the symbols that have a cache file."""
    found = {}
    for symbol in symbols:
        frame = cache.read_cache(symbol, data_dir)
        if frame is not None:
            found[symbol] = frame
    return found


def _combine(parts: dict[str, pd.DataFrame], start, end, origin: str) -> pd.DataFrame:
    """Concatenate per-ticker frames, keep [start, end], and refuse tickers left with no rows."""
    frame = query.select(
        schema.tidy(pd.concat(parts.values(), ignore_index=True)), start, end
    )
    empty = [s for s in parts if not (frame["Ticker"] == s).any()]
    if empty:
        raise NoDataError(
            f"the {origin} has no rows for {', '.join(empty)} between {start:%Y-%m-%d} and {end:%Y-%m-%d}"
            if start is not None and end is not None
            else f"the {origin} has no rows for {', '.join(empty)} in the requested range",
            tuple(empty),
        )
    return frame


def _load_cache(symbols, start, end, data_dir) -> pd.DataFrame:
    """Return prices from the cache only; every ticker must be cached."""
    found = _from_cache(symbols, data_dir)
    missing = [s for s in symbols if s not in found]
    if missing:
        raise NoDataError(
            f"no cached prices for {', '.join(missing)} in {cache.resolve_data_dir(data_dir)}; run "
            f"`lstm-study fetch {' '.join(missing)}` with a network, or use source='snapshot'",
            tuple(missing),
        )
    frame = _combine(found, start, end, f"cache in {cache.resolve_data_dir(data_dir)}")
    frame.attrs["source"] = {s: "cache" for s in symbols}
    return frame


def _load_yahoo(symbols, start, end, data_dir) -> pd.DataFrame:
    """Return prices from Yahoo through the cache; warn about (and skip) tickers that failed."""
    if not yahoo.reachable():
        raise NetworkError(
            f"cannot reach Yahoo Finance ({yahoo.YAHOO_HOST}) for {', '.join(symbols)}; check your "
            "connection, or work offline with source='snapshot' (CLI: --source snapshot)"
        )
    parts, failed = {}, {}
    for symbol in symbols:
        try:
            parts[symbol] = update_cache(symbol, start, end, data_dir)
        except NoDataError as error:
            failed[symbol] = str(error)
    if not parts:
        raise NoDataError("; ".join(failed.values()), tuple(failed))
    if failed:
        warnings.warn(
            f"no prices for {', '.join(failed)} (returning the other tickers): "
            + "; ".join(failed.values()),
            DataWarning,
            stacklevel=3,
        )
    frame = _combine(parts, start, end, "Yahoo data")
    frame.attrs["failed"] = failed
    frame.attrs["source"] = {s: "yahoo" for s in parts}
    return frame


def _load_auto(symbols, start, end, data_dir) -> pd.DataFrame:
    """Return prices from Yahoo (through the cache) when reachable, else from the cache or the snapshot."""
    try:
        return _load_yahoo(symbols, start, end, data_dir)
    except NetworkError:
        pass
    cached = _from_cache(symbols, data_dir)
    bundled = [s for s in symbols if s not in cached]
    origins = []
    if cached:
        origins.append(f"the local cache for {', '.join(cached)}")
    if bundled:
        origins.append(f"the bundled 2000-2013 snapshot for {', '.join(bundled)}")
    # One message per call, whatever the number of tickers.
    warnings.warn(
        f"Yahoo Finance is unreachable; using {' and '.join(origins)}. Pass source='snapshot' to silence this.",
        OfflineFallbackWarning,
        stacklevel=3,
    )
    parts = dict(cached)
    if bundled:
        snap = snapshot.load_snapshot(bundled, start, end)
        parts.update({s: g for s, g in snap.groupby("Ticker")})
    frame = _combine({s: parts[s] for s in symbols}, start, end, "offline data")
    frame.attrs["source"] = {s: "cache" if s in cached else "snapshot" for s in symbols}
    return frame


def load_prices(
    tickers: str | Iterable[str],
    start: object = None,
    end: object = None,
    source: str = "auto",
    data_dir: PathLike | None = None,
) -> pd.DataFrame:
    """Return daily prices of ``tickers`` between ``start`` and ``end`` (both inclusive) as a tidy frame.

    The frame has the columns ``Date, Ticker, Open, High, Low, Close, Adj Close, Volume``
    (``Date`` and ``Ticker`` are columns, not the index): one row per (Date, Ticker), sorted by
    Ticker then Date, with a RangeIndex; ``Date`` is a timezone-naive ``datetime64[ns]`` day.

    ``source``:
      - ``"snapshot"``: the bundled real prices of AAPL, GOOG, IBM, MSFT (2000-03-01 to 2013-03-01); offline.
      - ``"cache"``: only the local cache in ``data_dir`` (default: the user's cache dir, or
        ``$LSTM_STUDY_DATA_DIR``); never goes online.
      - ``"yahoo"``: Yahoo Finance through the cache (fetching only missing dates); raises
        NetworkError if Yahoo cannot be reached. Tickers Yahoo has nothing for are left out
        with a DataWarning (``frame.attrs["failed"]`` maps them to the reason) unless all fail.
      - ``"auto"``: like ``"yahoo"`` when Yahoo is reachable; otherwise the cache for cached
        tickers and the snapshot for the rest, saying so in one DataWarning.

    ``frame.attrs["source"]`` maps each ticker to where its rows came from.

    Raises InvalidTickerError, DateRangeError, NoDataError, NetworkError, CacheCorruptError
    (all subclasses of ``lstm_study.errors.DataError``).
    """
    symbols = query.normalise_tickers(tickers)
    first, last = query.date_range(start, end)
    if source == "snapshot":
        frame = snapshot.load_snapshot(symbols, first, last)
        frame.attrs["source"] = {s: "snapshot" for s in symbols}
        return frame
    if source == "cache":
        return _load_cache(symbols, first, last, data_dir)
    if source == "yahoo":
        return _load_yahoo(symbols, first, last, data_dir)
    if source == "auto":
        return _load_auto(symbols, first, last, data_dir)
    raise ConfigError(f"unknown source {source!r}: use one of {', '.join(SOURCES)}")
