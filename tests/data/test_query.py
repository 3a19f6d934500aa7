"""Ticker and date-range arguments are checked before anything touches the disk or the network."""

import pandas as pd
import pytest

from lstm_study.data import query
from lstm_study.errors import DataError, DateRangeError, InvalidTickerError


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("MSFT", "MSFT"),
        ("msft", "MSFT"),
        (" aapl ", "AAPL"),
        ("BRK-B", "BRK-B"),
        ("^GSPC", "^GSPC"),
        ("EURUSD=X", "EURUSD=X"),
        ("0700.HK", "0700.HK"),
        ("BTC-USD", "BTC-USD"),
        ("BRK.B", "BRK.B"),
    ],
)
def test_plausible_symbols_are_accepted_and_upper_cased(given, expected):
    assert query.normalise_ticker(given) == expected


@pytest.mark.parametrize(
    "given",
    [
        "",
        " ",
        "../x",
        "..",
        ".",
        "a/b",
        "a\\b",
        "MS FT",
        ".hidden",
        "-X",
        "A" * 21,
        "MS\tFT",
        "x;rm",
        "é",
    ],
)
def test_implausible_symbols_are_rejected_with_the_symbol_named(given):
    with pytest.raises(InvalidTickerError) as error:
        query.normalise_ticker(given)
    assert repr(given) in str(error.value)
    assert isinstance(error.value, (DataError, ValueError))


@pytest.mark.parametrize("given", [None, 5, b"MSFT"])
def test_non_strings_are_rejected(given):
    with pytest.raises(InvalidTickerError, match="not a string"):
        query.normalise_ticker(given)


def test_many_tickers_are_deduplicated_in_order():
    assert query.normalise_tickers(["ibm", "MSFT", "IBM"]) == ["IBM", "MSFT"]
    assert query.normalise_tickers("msft") == ["MSFT"]


def test_an_empty_ticker_list_is_rejected():
    with pytest.raises(InvalidTickerError, match="no ticker"):
        query.normalise_tickers([])


def test_one_bad_ticker_in_a_list_rejects_the_call():
    with pytest.raises(InvalidTickerError, match="../x"):
        query.normalise_tickers(["MSFT", "../x"])


def test_date_range_parses_to_naive_midnights():
    start, end = query.date_range(
        "2003-02-14", pd.Timestamp("2003-02-18 15:30", tz="US/Eastern")
    )
    assert start == pd.Timestamp("2003-02-14")
    assert end == pd.Timestamp("2003-02-18") and end.tzinfo is None
    assert query.date_range(None, None) == (None, None)


def test_an_inverted_range_is_rejected():
    with pytest.raises(DateRangeError, match="inverted"):
        query.date_range("2010-01-02", "2010-01-01")


def test_a_single_day_range_is_allowed():
    assert query.date_range("2010-01-04", "2010-01-04")[0] == pd.Timestamp("2010-01-04")


@pytest.mark.parametrize("bad", ["yesterday-ish", "2010-13-45", "", []])
def test_unparseable_dates_are_rejected(bad):
    with pytest.raises(DateRangeError, match="YYYY-MM-DD"):
        query.date_range(bad, None)
