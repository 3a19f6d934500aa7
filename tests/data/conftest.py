"""Fixtures for the data tests: frames built exactly as yfinance 1.7 builds them, and a fake Yahoo.

Nothing here touches the network or the user's cache: every test gets its own cache folder and
yfinance's timezone cache is moved to a temporary folder.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import numpy as np
import pandas as pd
import pytest

from lstm_study.data import schema, yahoo

# yfinance's own column order from Ticker.history(auto_adjust=False).
HISTORY_COLUMNS = ["Open", "High", "Low", "Close", "Adj Close", "Volume"]


def history(dates: list[str], base: float = 100.0, seed: int = 0) -> pd.DataFrame:
    """Return one ticker's frame as ``Ticker.history(auto_adjust=False)`` gives it, made tz-naive."""
    rng = np.random.default_rng(seed)
    close = base * np.exp(np.cumsum(rng.normal(0, 0.01, len(dates))))
    open_ = close * (1 + rng.normal(0, 0.003, len(dates)))
    frame = pd.DataFrame(
        {
            "Open": open_,
            "High": np.maximum(open_, close) * 1.01,
            "Low": np.minimum(open_, close) * 0.99,
            "Close": close,
            "Adj Close": close * 0.9,
            "Volume": rng.integers(1_000, 1_000_000, len(dates)).astype("int64"),
        },
        index=pd.DatetimeIndex(pd.to_datetime(dates), name="Date").astype(
            "datetime64[s]"
        ),
    )
    return frame[HISTORY_COLUMNS]


def empty_history(index: pd.DatetimeIndex | None = None) -> pd.DataFrame:
    """Return yfinance's ``utils.empty_df()``: what a failed ticker contributes."""
    frame = pd.DataFrame(
        index=[] if index is None else index,
        data={
            c: np.nan for c in ["Open", "High", "Low", "Close", "Adj Close", "Volume"]
        },
    )
    frame.index.name = "Date"
    return frame


def assemble(
    dfs: dict[str, pd.DataFrame],
    group_by: str = "column",
    multi_level_index: bool = True,
) -> pd.DataFrame:
    """Combine per-ticker frames as ``yfinance.multi._download_impl`` does (1.7)."""
    index = None
    for df in dfs.values():
        if df is not None and not df.empty:
            index = df.index if index is None else index.union(df.index)
    if index is None:
        index = pd.DatetimeIndex([], dtype="datetime64[s]")
    dfs = {k: df.reindex(index) for k, df in dfs.items()}
    data = pd.concat(
        dfs.values(), axis=1, sort=True, keys=dfs.keys(), names=["Ticker", "Price"]
    )
    if group_by == "column" and isinstance(data.columns, pd.MultiIndex):
        data.columns = data.columns.swaplevel(0, 1)
        data = data.sort_index(level=0, axis=1)
    if not multi_level_index and len(dfs) == 1:
        data = data.droplevel(0 if group_by == "ticker" else 1, axis=1).rename_axis(
            None, axis=1
        )
    return data


def as_history(tidy: pd.DataFrame) -> pd.DataFrame:
    """Return one ticker's tidy rows as a yfinance history frame."""
    frame = tidy.set_index("Date")[HISTORY_COLUMNS]
    frame.index = pd.DatetimeIndex(frame.index, name="Date").astype("datetime64[s]")
    return frame


class FakeYahoo:
    """Stands in for ``yahoo.download``: serves rows of a tidy frame, records every request."""

    def __init__(self, prices: pd.DataFrame) -> None:
        self.prices = prices
        self.calls: list[
            tuple[list[str], pd.Timestamp | None, pd.Timestamp | None]
        ] = []
        self.fail_network = False

    def __call__(self, tickers, start, end) -> pd.DataFrame:
        self.calls.append((list(tickers), start, end))
        log = logging.getLogger("yfinance")
        dfs = {}
        for ticker in tickers:
            rows = self.prices[self.prices["Ticker"] == ticker]
            if start is not None:
                rows = rows[rows["Date"] >= start]
            if end is not None:
                rows = rows[rows["Date"] <= end]
            if self.fail_network:
                log.error(
                    "Failed to get ticker '%s' reason: Failed to perform, curl: (6) Could not resolve host",
                    ticker,
                )
                dfs[ticker] = empty_history()
            elif rows.empty:
                log.error("$%s: possibly delisted; no price data found", ticker)
                dfs[ticker] = empty_history()
            else:
                dfs[ticker] = as_history(rows)
        return assemble(dfs)


def make_prices(spec: dict[str, tuple[str, str]], seed: int = 0) -> pd.DataFrame:
    """Return a tidy frame of business days for each ticker over its (first, last) span."""
    parts = []
    for i, (ticker, (first, last)) in enumerate(spec.items()):
        dates = [d.strftime("%Y-%m-%d") for d in pd.bdate_range(first, last)]
        frame = history(dates, base=50.0 + 10 * i, seed=seed + i).reset_index()
        frame.insert(1, "Ticker", ticker)
        parts.append(frame)
    return schema.validate(schema.tidy(pd.concat(parts, ignore_index=True)))


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch):
    """Keep every data test off the network, the user's cache and yfinance's own cache."""
    import yfinance

    yfinance.set_tz_cache_location(str(tmp_path / "yf-tz"))
    monkeypatch.setenv("LSTM_STUDY_DATA_DIR", str(tmp_path / "cache"))
    for name in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(yahoo, "_last_probe", None)
    monkeypatch.setattr(yahoo, "reachable", lambda timeout=3.0: False)

    def no_network(*args, **kwargs):
        raise AssertionError("a test reached yfinance.download; replace the seam")

    monkeypatch.setattr(yfinance, "download", no_network)


@pytest.fixture
def fake_yahoo(monkeypatch) -> Callable[[pd.DataFrame], FakeYahoo]:
    """Return a function that installs a FakeYahoo serving the given tidy prices (and says Yahoo is up)."""

    def install(prices: pd.DataFrame) -> FakeYahoo:
        fake = FakeYahoo(prices)
        monkeypatch.setattr(yahoo, "download", fake)
        monkeypatch.setattr(yahoo, "reachable", lambda timeout=3.0: True)
        return fake

    return install
