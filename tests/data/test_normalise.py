"""Every shape yfinance 1.7 returns becomes the same tidy frame; failed tickers leave no rows."""

import numpy as np
import pandas as pd
import pytest

from lstm_study.data import schema
from lstm_study.data.normalise import normalise
from lstm_study.errors import InvalidPricesError

from .conftest import assemble, empty_history, history

DATES = ["2020-01-02", "2020-01-03", "2020-01-06", "2020-01-07"]


@pytest.fixture
def two_tickers():
    return {"MSFT": history(DATES, 150.0, seed=1), "AAPL": history(DATES, 75.0, seed=2)}


def test_the_default_shape_has_price_then_ticker_levels(two_tickers):
    raw = assemble(two_tickers)
    assert raw.columns.names == ["Price", "Ticker"]
    tidy = normalise(raw, ["MSFT", "AAPL"])
    assert list(tidy.columns) == list(schema.COLUMNS)
    assert tidy["Ticker"].tolist() == ["AAPL"] * 4 + ["MSFT"] * 4
    assert tidy["Date"].dtype == "datetime64[ns]"
    assert isinstance(tidy.index, pd.RangeIndex)
    msft = tidy[tidy["Ticker"] == "MSFT"].set_index("Date")
    np.testing.assert_array_equal(
        msft["Close"].to_numpy(), two_tickers["MSFT"]["Close"].to_numpy()
    )
    np.testing.assert_array_equal(
        msft["Adj Close"].to_numpy(), two_tickers["MSFT"]["Adj Close"].to_numpy()
    )


def test_group_by_ticker_and_flat_single_ticker_give_the_same_frame(two_tickers):
    expected = normalise(assemble(two_tickers), ["MSFT", "AAPL"])
    by_ticker = assemble(two_tickers, group_by="ticker")
    assert by_ticker.columns.names == ["Ticker", "Price"]
    pd.testing.assert_frame_equal(normalise(by_ticker, ["MSFT", "AAPL"]), expected)
    one = {"MSFT": two_tickers["MSFT"]}
    single_multi = normalise(assemble(one), ["MSFT"])
    flat = assemble(one, multi_level_index=False)
    assert not isinstance(flat.columns, pd.MultiIndex)
    pd.testing.assert_frame_equal(normalise(flat, ["MSFT"]), single_multi)
    pd.testing.assert_frame_equal(
        single_multi, expected[expected["Ticker"] == "MSFT"].reset_index(drop=True)
    )


def test_a_flat_frame_needs_to_know_its_ticker(two_tickers):
    flat = assemble({"MSFT": two_tickers["MSFT"]}, multi_level_index=False)
    with pytest.raises(InvalidPricesError, match="tickers="):
        normalise(flat)


def test_a_failed_ticker_in_a_multi_ticker_frame_leaves_no_rows(two_tickers):
    raw = assemble({"MSFT": two_tickers["MSFT"], "NOPE": empty_history()})
    assert raw["Close"]["NOPE"].isna().all() and len(raw) == 4
    tidy = normalise(raw, ["MSFT", "NOPE"])
    assert set(tidy["Ticker"]) == {"MSFT"} and len(tidy) == 4


def test_the_all_failed_frame_is_empty_but_tidy():
    raw = assemble({"NOPE": empty_history(), "NADA": empty_history()})
    assert len(raw) == 0 and "Adj Close" in raw.columns.get_level_values("Price")
    tidy = normalise(raw, ["NOPE", "NADA"])
    assert tidy.empty and list(tidy.columns) == list(schema.COLUMNS)


def test_different_trading_calendars_do_not_invent_rows():
    us = history(["2020-01-02", "2020-01-03"], seed=3)
    hk = history(["2020-01-02", "2020-01-06"], seed=4)
    raw = assemble({"MSFT": us, "0700.HK": hk})
    assert len(raw) == 3  # the union of dates, NaN where a market was closed
    tidy = normalise(raw, ["MSFT", "0700.HK"])
    assert tidy.groupby("Ticker")["Date"].apply(list).to_dict() == {
        "0700.HK": [pd.Timestamp("2020-01-02"), pd.Timestamp("2020-01-06")],
        "MSFT": [pd.Timestamp("2020-01-02"), pd.Timestamp("2020-01-03")],
    }


def test_a_timezone_aware_index_keeps_the_trading_day():
    frame = history(DATES, seed=5)
    frame.index = frame.index.tz_localize(
        "America/New_York"
    )  # as Ticker.history returns it
    tidy = normalise(assemble({"MSFT": frame}), ["MSFT"])
    assert tidy["Date"].dt.strftime("%Y-%m-%d").tolist() == DATES


def test_an_auto_adjusted_frame_is_refused_because_adj_close_is_missing():
    frame = history(DATES, seed=6).drop(columns="Adj Close")
    with pytest.raises(InvalidPricesError, match="auto_adjust=False"):
        normalise(assemble({"MSFT": frame}), ["MSFT"])


def test_inconsistent_rows_from_yahoo_are_refused_not_stored():
    frame = history(DATES, seed=7)
    frame.iloc[1, frame.columns.get_loc("High")] = frame["Low"].iloc[1] * 0.5
    with pytest.raises(InvalidPricesError, match="High below"):
        normalise(assemble({"MSFT": frame}), ["MSFT"])
