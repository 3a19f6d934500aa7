"""``load_prices``: the contract every chapter relies on, each source, and the cache update rules."""

import time
import warnings

import pandas as pd
import pytest

from lstm_study.data import cache, load_prices, schema
from lstm_study.data.sources import update_cache
from lstm_study.errors import (
    CacheCorruptError,
    ConfigError,
    DataWarning,
    DateRangeError,
    InvalidTickerError,
    NetworkError,
    NoDataError,
    OfflineFallbackWarning,
)

from .conftest import make_prices

YAHOO = make_prices(
    {"MSFT": ("2020-01-01", "2020-06-30"), "AAPL": ("2020-01-01", "2020-06-30")}
)


def test_the_snapshot_contract():
    frame = load_prices(["MSFT", "aapl"], "2003-01-01", "2003-12-31", source="snapshot")
    assert list(frame.columns) == [
        "Date",
        "Ticker",
        "Open",
        "High",
        "Low",
        "Close",
        "Adj Close",
        "Volume",
    ]
    assert isinstance(frame.index, pd.RangeIndex)
    assert frame["Date"].dtype == "datetime64[ns]" and frame["Volume"].dtype == "int64"
    assert frame["Ticker"].unique().tolist() == ["AAPL", "MSFT"]
    assert frame.equals(frame.sort_values(["Ticker", "Date"]).reset_index(drop=True))
    assert not frame.duplicated(["Ticker", "Date"]).any()
    assert frame["Date"].min() >= pd.Timestamp("2003-01-01") and frame[
        "Date"
    ].max() <= pd.Timestamp("2003-12-31")
    assert frame.attrs["source"] == {"MSFT": "snapshot", "AAPL": "snapshot"}
    pd.testing.assert_frame_equal(
        load_prices("MSFT", source="snapshot"), load_prices(["MSFT"], source="snapshot")
    )


def test_bad_arguments_are_rejected_first(tmp_path):
    with pytest.raises(InvalidTickerError):
        load_prices("../x", source="cache", data_dir=tmp_path / "c")
    with pytest.raises(DateRangeError):
        load_prices("MSFT", "2013-01-01", "2012-01-01", source="snapshot")
    with pytest.raises(ConfigError, match="snapshot"):
        load_prices("MSFT", source="web")
    assert not (tmp_path / "c").exists()


def test_cache_source_names_missing_tickers_and_the_command_to_run(tmp_path):
    with pytest.raises(NoDataError, match="lstm-study fetch MSFT"):
        load_prices("MSFT", source="cache", data_dir=tmp_path)


def test_yahoo_source_fails_fast_when_unreachable(tmp_path):
    started = time.perf_counter()
    with pytest.raises(NetworkError, match="snapshot"):
        load_prices("MSFT", source="yahoo", data_dir=tmp_path)
    assert time.perf_counter() - started < 1


def test_auto_falls_back_to_the_snapshot_saying_so_once(tmp_path):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        frame = load_prices(
            ["MSFT", "IBM", "AAPL"], "2005-01-01", "2005-01-31", data_dir=tmp_path
        )
    messages = [str(w.message) for w in caught if issubclass(w.category, DataWarning)]
    assert (
        len(messages) == 1
        and "unreachable" in messages[0]
        and "snapshot" in messages[0]
    )
    assert [w.category for w in caught if issubclass(w.category, DataWarning)] == [
        OfflineFallbackWarning
    ]
    pd.testing.assert_frame_equal(
        frame,
        load_prices(
            ["MSFT", "IBM", "AAPL"], "2005-01-01", "2005-01-31", source="snapshot"
        ),
    )


def test_auto_offline_prefers_the_users_cache(tmp_path):
    cache.write_cache(
        YAHOO[YAHOO["Ticker"] == "MSFT"].reset_index(drop=True), "MSFT", tmp_path
    )
    with pytest.warns(DataWarning, match="local cache for MSFT"):
        frame = load_prices(["MSFT", "IBM"], data_dir=tmp_path)
    assert frame.attrs["source"] == {"MSFT": "cache", "IBM": "snapshot"}
    assert frame.groupby("Ticker")["Date"].max().dt.year.to_dict() == {
        "IBM": 2013,
        "MSFT": 2020,
    }


def test_yahoo_source_fills_the_cache_then_the_cache_source_reads_it(
    fake_yahoo, tmp_path
):
    fake_yahoo(YAHOO)
    fetched = load_prices(
        ["MSFT", "AAPL"], "2020-01-01", "2020-03-31", source="yahoo", data_dir=tmp_path
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["AAPL.csv.gz", "MSFT.csv.gz"]
    pd.testing.assert_frame_equal(
        load_prices(["MSFT", "AAPL"], source="cache", data_dir=tmp_path), fetched
    )


def test_an_update_fetches_only_the_missing_dates(fake_yahoo, tmp_path):
    fake = fake_yahoo(YAHOO)
    update_cache("MSFT", "2020-02-03", "2020-03-31", tmp_path)
    fake.calls.clear()
    frame = update_cache("MSFT", "2020-01-06", "2020-04-30", tmp_path)
    (head, tail) = fake.calls
    assert head[1:] == (pd.Timestamp("2020-01-06"), pd.Timestamp("2020-02-02"))
    # the tail starts a few rows before the last cached day, to check they did not change
    assert pd.Timestamp("2020-03-24") <= tail[1] <= pd.Timestamp("2020-03-31") and tail[
        2
    ] == pd.Timestamp("2020-04-30")
    expected = YAHOO[
        (YAHOO["Ticker"] == "MSFT") & YAHOO["Date"].between("2020-01-06", "2020-04-30")
    ]
    pd.testing.assert_frame_equal(frame, expected.reset_index(drop=True))
    fake.calls.clear()
    update_cache(
        "MSFT", "2020-02-03", "2020-04-15", tmp_path
    )  # already covered: nothing fetched
    assert fake.calls == []


def test_an_update_with_nothing_new_keeps_the_file(fake_yahoo, tmp_path):
    fake_yahoo(YAHOO)
    path = cache.write_cache(
        YAHOO[YAHOO["Ticker"] == "MSFT"].reset_index(drop=True), "MSFT", tmp_path
    )
    stamp = path.stat().st_mtime_ns
    # Yahoo has nothing before 2020-01-01 (the listing) nor after 2020-06-30: neither is an error.
    frame = update_cache("MSFT", "2019-06-01", "2020-07-10", tmp_path)
    assert frame["Date"].min() == pd.Timestamp("2020-01-01")
    assert path.stat().st_mtime_ns == stamp


def test_a_readjusted_history_is_fetched_again_in_full(fake_yahoo, tmp_path):
    fake = fake_yahoo(YAHOO)
    update_cache("MSFT", "2020-01-01", "2020-03-31", tmp_path)
    # A dividend after March rescales every past Adj Close on Yahoo.
    fake.prices = YAHOO.assign(**{"Adj Close": YAHOO["Adj Close"] * 0.98})
    fake.calls.clear()
    frame = update_cache("MSFT", None, "2020-04-30", tmp_path)
    assert fake.calls[-1][1] == pd.Timestamp("2020-01-01")
    expected = fake.prices[
        (fake.prices["Ticker"] == "MSFT") & (fake.prices["Date"] <= "2020-04-30")
    ]
    pd.testing.assert_frame_equal(frame, expected.reset_index(drop=True))


def test_a_network_failure_during_an_update_leaves_the_cache_intact(
    fake_yahoo, tmp_path
):
    fake = fake_yahoo(YAHOO)
    update_cache("MSFT", "2020-01-01", "2020-03-31", tmp_path)
    before = cache.cache_path("MSFT", tmp_path).read_bytes()
    fake.fail_network = True
    with pytest.raises(NetworkError):
        update_cache("MSFT", None, "2020-06-30", tmp_path)
    assert cache.cache_path("MSFT", tmp_path).read_bytes() == before


def test_a_partial_failure_returns_the_rest_with_one_warning(fake_yahoo, tmp_path):
    fake_yahoo(YAHOO)
    with pytest.warns(DataWarning, match="ZZZZ") as caught:
        frame = load_prices(
            ["MSFT", "ZZZZ"],
            "2020-01-01",
            "2020-01-31",
            source="yahoo",
            data_dir=tmp_path,
        )
    assert len([w for w in caught if issubclass(w.category, DataWarning)]) == 1
    assert set(frame["Ticker"]) == {"MSFT"} and list(frame.attrs["failed"]) == ["ZZZZ"]
    with pytest.raises(NoDataError, match="ZZZZ"):
        load_prices(["ZZZZ"], source="yahoo", data_dir=tmp_path)


def test_a_corrupt_cache_is_never_used_silently(fake_yahoo, tmp_path):
    (tmp_path / "MSFT.csv.gz").write_bytes(b"\x1f\x8b\x08\x00 truncated")
    with pytest.raises(CacheCorruptError, match="MSFT.csv.gz"):
        load_prices("MSFT", source="cache", data_dir=tmp_path)
    fake_yahoo(YAHOO)
    with pytest.raises(CacheCorruptError):
        load_prices("MSFT", source="yahoo", data_dir=tmp_path)


def test_every_source_returns_a_sound_frame(fake_yahoo, tmp_path):
    fake_yahoo(YAHOO)
    for source in ("yahoo", "cache", "auto"):
        schema.validate(
            load_prices(
                ["AAPL", "MSFT"],
                "2020-01-01",
                "2020-02-28",
                source=source,
                data_dir=tmp_path,
            )
        )
