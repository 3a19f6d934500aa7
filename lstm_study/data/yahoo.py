"""Prices from Yahoo Finance through ``yfinance.download``: the one place the package goes online.

``download`` is the single seam over yfinance (tests replace it). yfinance never raises for an
unknown ticker or a dead network: it logs on the ``yfinance`` logger and returns an empty or
all-NaN frame. ``fetch`` turns that into explicit errors.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import re
import socket
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager

import pandas as pd

from lstm_study.data import query
from lstm_study.data.normalise import normalise
from lstm_study.errors import NetworkError, NoDataError

YAHOO_HOST = "query2.finance.yahoo.com"
# Words yfinance's log uses when the network, not the ticker, failed (curl / DNS / TLS / timeouts).
_NETWORK_WORDS = re.compile(
    r"curl|resolve host|DNSError|ConnectionError|ConnectTimeout|timed? ?out|Timeout|SSL|proxy|"
    r"Failed to perform|Connection (refused|reset|aborted)|Network is unreachable",
    re.IGNORECASE,
)
_ADVICE = "check your connection, or work offline with source='snapshot' (CLI: --source snapshot)"


@dataclasses.dataclass(frozen=True)
class FetchResult:
    """The tidy prices Yahoo returned, and for each ticker that failed, yfinance's reason."""

    prices: pd.DataFrame
    failed: dict[str, str]


_PROXY_VARIABLES = ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy")
_PROBE_SECONDS = 60.0
_last_probe: tuple[float, bool] | None = None


def reachable(timeout: float = 3.0) -> bool:
    """Return whether Yahoo's quote server accepts a TCP connection within ``timeout`` seconds.

    The answer is remembered for a minute, so a loop over tickers probes once. Behind a proxy a
    direct connection proves nothing, so the probe is skipped and yfinance itself tries.
    """
    global _last_probe
    if any(os.environ.get(name) for name in _PROXY_VARIABLES):
        return True
    now = time.monotonic()
    if _last_probe is not None and now - _last_probe[0] < _PROBE_SECONDS:
        return _last_probe[1]
    try:
        with socket.create_connection((YAHOO_HOST, 443), timeout=timeout):
            answer = True
    except OSError:
        answer = False
    _last_probe = (now, answer)
    return answer


def download(
    tickers: list[str], start: pd.Timestamp | None, end: pd.Timestamp | None
) -> pd.DataFrame:
    """Call ``yfinance.download`` for daily bars in [start, end] (inclusive) and return its raw frame.

    ``auto_adjust=False`` is explicit: yfinance 1.x defaults to True, which rescales Open, High,
    Low and Close for dividends too and drops ``Adj Close``. We keep both series, ``Close`` (Yahoo
    adjusts it for splits only) and ``Adj Close`` (splits and dividends: total return), so that
    the caller chooses, and so that a cache update can notice when Yahoo re-adjusts the past.
    """
    import yfinance

    with warnings.catch_warnings():
        # yfinance trips pandas 3's own deprecation warnings; they are not the caller's concern.
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", FutureWarning)
        span = (
            {"period": "max"}
            if start is None
            else {"start": start.strftime("%Y-%m-%d")}
        )
        if end is not None:
            span["end"] = (end + pd.Timedelta(days=1)).strftime(
                "%Y-%m-%d"
            )  # yfinance's end is exclusive
        return yfinance.download(
            tickers,
            **span,
            interval="1d",
            auto_adjust=False,
            actions=False,
            group_by="column",
            multi_level_index=True,
            progress=False,
            threads=True,
            timeout=10,
        )


class _Collect(logging.Handler):
    """Keep the messages yfinance logs at WARNING and above."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage().strip())


@contextmanager
def _yfinance_log() -> Iterator[list[str]]:
    """Capture the yfinance logger's messages (and keep them off the user's screen)."""
    logger = logging.getLogger("yfinance")
    handler, propagate = _Collect(), logger.propagate
    logger.addHandler(handler)
    logger.propagate = False
    try:
        yield handler.messages
    finally:
        logger.removeHandler(handler)
        logger.propagate = propagate


def _reason(ticker: str, messages: list[str]) -> str:
    """Return yfinance's logged reason for one ticker's failure, or a generic one."""
    for message in messages:
        if (
            ticker in message
            and message.count("\n") == 0
            and "Failed download" not in message
        ):
            return message.removeprefix(f"${ticker}: ")
    return "Yahoo returned no rows"


def fetch(
    tickers: str | list[str], start: object = None, end: object = None
) -> FetchResult:
    """Download daily prices for ``tickers`` in [start, end]; raise if none came back.

    Raises NetworkError when Yahoo cannot be reached, NoDataError (naming the tickers) when it
    answered but had no rows for any of them. A partial failure returns what succeeded and lists
    the rest in ``FetchResult.failed``.
    """
    symbols = query.normalise_tickers(tickers)
    first, last = query.date_range(start, end)
    with _yfinance_log() as messages:
        raw = download(symbols, first, last)
    prices = normalise(raw, symbols)
    got = set(prices["Ticker"])
    failed = {s: _reason(s, messages) for s in symbols if s not in got}
    if len(failed) == len(symbols):
        if any(_NETWORK_WORDS.search(m) for m in messages) or not reachable():
            raise NetworkError(
                f"could not reach Yahoo Finance for {', '.join(symbols)}; {_ADVICE}"
            )
        reasons = "; ".join(f"{s}: {r}" for s, r in failed.items())
        raise NoDataError(
            f"Yahoo Finance returned no prices for {', '.join(symbols)} ({reasons}); check the symbol "
            "(Yahoo spells some with suffixes, e.g. 0700.HK, BRK-B, ^GSPC) and the date range",
            tuple(symbols),
        )
    return FetchResult(prices, failed)
