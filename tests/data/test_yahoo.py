"""``fetch`` turns yfinance's silent failures into explicit errors; ``download`` asks for the right data."""

import logging
import time

import pandas as pd
import pytest

from lstm_study.data import yahoo
from lstm_study.errors import NetworkError, NoDataError

from .conftest import assemble, empty_history, history, make_prices

PRICES = make_prices(
    {"MSFT": ("2020-01-01", "2020-03-31"), "AAPL": ("2020-01-01", "2020-03-31")}
)


def test_fetch_returns_tidy_prices_for_the_range(fake_yahoo):
    fake = fake_yahoo(PRICES)
    result = yahoo.fetch(["msft", "AAPL"], "2020-02-03", "2020-02-07")
    assert result.failed == {}
    assert fake.calls == [
        (["MSFT", "AAPL"], pd.Timestamp("2020-02-03"), pd.Timestamp("2020-02-07"))
    ]
    assert result.prices.groupby("Ticker").size().to_dict() == {"AAPL": 5, "MSFT": 5}


def test_a_partial_failure_returns_what_succeeded_and_names_the_rest(fake_yahoo):
    fake_yahoo(PRICES)
    result = yahoo.fetch(["MSFT", "ZZZZ"], "2020-02-03", "2020-02-07")
    assert set(result.prices["Ticker"]) == {"MSFT"}
    assert list(result.failed) == ["ZZZZ"]
    assert "possibly delisted" in result.failed["ZZZZ"]


def test_an_unknown_ticker_raises_naming_it(fake_yahoo):
    fake_yahoo(PRICES)
    with pytest.raises(NoDataError, match="ZZZZ") as error:
        yahoo.fetch("ZZZZ")
    assert error.value.tickers == ("ZZZZ",)


def test_a_dead_network_raises_network_error_suggesting_the_snapshot(fake_yahoo):
    fake = fake_yahoo(PRICES)
    fake.fail_network = True
    with pytest.raises(NetworkError, match="snapshot"):
        yahoo.fetch(["MSFT", "AAPL"])


def test_an_ambiguous_failure_is_a_network_error_when_yahoo_is_unreachable(monkeypatch):
    # Offline, yfinance may log only "possibly delisted; no timezone found": the probe decides.
    def silent_failure(tickers, start, end):
        logging.getLogger("yfinance").error(
            "$MSFT: possibly delisted; no timezone found"
        )
        return assemble({"MSFT": empty_history()})

    monkeypatch.setattr(yahoo, "download", silent_failure)
    with pytest.raises(NetworkError):
        yahoo.fetch("MSFT")
    monkeypatch.setattr(yahoo, "reachable", lambda timeout=3.0: True)
    with pytest.raises(NoDataError, match="no timezone found"):
        yahoo.fetch("MSFT")


def test_yfinance_log_noise_is_kept_off_the_screen(fake_yahoo, caplog):
    fake_yahoo(PRICES)
    with caplog.at_level(logging.ERROR):
        yahoo.fetch(["MSFT", "ZZZZ"])
    assert not [r for r in caplog.records if r.name == "yfinance"]


def test_download_calls_yfinance_with_explicit_unadjusted_daily_settings(monkeypatch):
    import yfinance

    seen = {}

    def recorder(tickers, **kwargs):
        seen.update(kwargs, tickers=tickers)
        return assemble({"MSFT": history(["2020-01-02"])})

    monkeypatch.setattr(yfinance, "download", recorder)
    yahoo.download(["MSFT"], pd.Timestamp("2020-01-01"), pd.Timestamp("2020-01-31"))
    assert (
        seen["auto_adjust"] is False
        and seen["progress"] is False
        and seen["multi_level_index"] is True
    )
    assert (
        seen["interval"] == "1d"
        and seen["actions"] is False
        and seen["group_by"] == "column"
    )
    assert (seen["start"], seen["end"]) == (
        "2020-01-01",
        "2020-02-01",
    )  # yfinance's end is exclusive
    seen.clear()
    yahoo.download(["MSFT"], None, None)
    assert seen["period"] == "max" and "start" not in seen and "end" not in seen


def test_reachable_probes_once_a_minute_and_trusts_a_proxy(monkeypatch):
    monkeypatch.undo()  # the autouse fixture replaced reachable itself; test the real one
    monkeypatch.setattr(yahoo, "_last_probe", None)
    attempts = []

    def refuse(address, timeout):
        attempts.append(address)
        raise OSError("unreachable")

    monkeypatch.setattr(yahoo.socket, "create_connection", refuse)
    for name in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    started = time.perf_counter()
    assert yahoo.reachable() is False and yahoo.reachable() is False
    assert len(attempts) == 1 and time.perf_counter() - started < 1
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy:3128")
    assert yahoo.reachable() is True
