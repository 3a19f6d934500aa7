"""The backtest command as a user meets it: good input writes files, bad input exits 1 and says why."""

from __future__ import annotations

import json

import numpy as np
import pytest

from lstm_study.cli import main
from tests.forecast.conftest import price_table

FAST = ["--lookback", "3", "--retrain-every", "100", "--seeds", "1", "--epochs", "1"]


def backtest(tmp_path, *args: str) -> int:
    return main(["backtest", *args, "--json", str(tmp_path / "o.json"), "--predictions", str(tmp_path / "o.csv")])


def test_a_users_csv_backtests_and_writes_both_files(tmp_path, capsys):
    path = tmp_path / "p.csv"
    price_table(500, volume=False).drop(columns="Adj Close").to_csv(path, index=False)
    assert backtest(tmp_path, "--csv", str(path), "--test-start", "2011-09-01", "--device", "cpu", *FAST) == 0
    info = json.loads((tmp_path / "o.json").read_text())
    assert info["price_column"] == "Close" and info["test_start"] == "2011-09-01"
    out = capsys.readouterr()
    assert "using 'Close'" in out.err and "Diebold-Mariano" in out.out


def write(tmp_path, frame) -> str:
    path = tmp_path / "bad.csv"
    frame.to_csv(path, index=False)
    return str(path)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda tmp: str(tmp / "missing.csv"), "CSV file not found"),
        (lambda tmp: (tmp / "b.csv").write_bytes(b"\xff\xfe\x00garbage\x00") and str(tmp / "b.csv"), "cannot read"),
        (lambda tmp: write(tmp, price_table(50).drop(columns=["Close", "Adj Close"])), "no 'Close' column"),
        (lambda tmp: write(tmp, price_table(50).iloc[::-1]), "not in increasing order"),
        (lambda tmp: write(tmp, price_table(50).iloc[[0, 1, 1, 2]]), "duplicate date"),
        (lambda tmp: write(tmp, price_table(50).assign(**{"Adj Close": np.nan})), "missing \\(NaN\\)"),
        (lambda tmp: write(tmp, price_table(50)), "needs .* at least"),
        (lambda tmp: str(tmp), "is a folder"),
        (lambda tmp: price_table(50).to_csv(tmp / "s.csv", sep=";", index=False) or str(tmp / "s.csv"), "separated by ';'"),
        (lambda tmp: write(tmp, price_table(50).assign(Date=lambda f: f["Date"].dt.strftime("%d/%m/%Y"))),
         "row 0 holds '04/01/2010'.*YYYY-MM-DD"),
        (lambda tmp: write(tmp, price_table(50).assign(Ticker=["A", "B"] * 25)), "several tickers .*--ticker"),
    ],
)
def test_bad_csv_input_exits_1_with_a_clear_message(tmp_path, capsys, make, message):
    assert backtest(tmp_path, "--csv", make(tmp_path), *FAST) == 1
    err = capsys.readouterr().err
    assert err.startswith("lstm-study backtest: error: ")
    assert __import__("re").search(message, err), err


def test_a_test_start_outside_the_data_exits_1(tmp_path, capsys):
    path = write(tmp_path, price_table(500))
    assert backtest(tmp_path, "--csv", path, "--test-start", "1999-01-01", *FAST) == 1
    assert "outside the data" in capsys.readouterr().err


def test_usage_errors_exit_2(tmp_path):
    with pytest.raises(SystemExit) as exit_info:
        backtest(tmp_path, "--ticker", "MSFT", "--lookback", "0")
    assert exit_info.value.code == 2
    assert backtest(tmp_path) == 1  # neither --ticker nor --csv


def test_a_yahoo_style_csv_with_daylight_saving_offsets_and_lowercase_names_is_read(tmp_path):
    frame = price_table(500).rename(columns={"Date": "date", "Adj Close": "adj_close", "Close": "close"})
    frame["date"] = frame["date"].dt.tz_localize("America/New_York")  # -05:00 in winter, -04:00 in summer
    path = write(tmp_path, frame)
    assert backtest(tmp_path, "--csv", path, "--test-start", "2011-09-01", "--device", "cpu", *FAST) == 0
    info = json.loads((tmp_path / "o.json").read_text())
    assert info["price_column"] == "Adj Close" and info["test_start"] == "2011-09-01"


def test_the_snapshot_ticker_is_case_insensitive(tmp_path):
    assert backtest(tmp_path, "--ticker", "msft", "--test-start", "2013-02-01", "--device", "cpu", *FAST) == 0
    assert json.loads((tmp_path / "o.json").read_text())["ticker"] == "MSFT"


def test_a_test_start_too_early_or_too_late_names_the_dates_that_work(tmp_path, capsys):
    frame = price_table(500)
    path = write(tmp_path, frame)
    assert backtest(tmp_path, "--csv", path, "--test-start", "2010-02-01", *FAST) == 1
    # 20 + 3 days of features and lookback, then the default 252 training and 126 validation days
    earliest = str(frame["Date"][23 + 252 + 126].date())
    assert f"choose a test start on or after {earliest}" in capsys.readouterr().err
    assert backtest(tmp_path, "--csv", path, "--test-start", earliest, *FAST) == 0
    last = str(frame["Date"].iloc[-1].date())
    assert backtest(tmp_path, "--csv", path, "--test-start", last, *FAST) == 1
    assert "leaves 1 test day(s)" in capsys.readouterr().err
