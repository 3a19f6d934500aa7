"""The backtest command as a user meets it: good input writes files, bad input exits 1 and says why."""

from __future__ import annotations

import json

import numpy as np
import pytest

from lstm_study.cli import main
from tests.forecast.conftest import price_table

FAST = ["--lookback", "3", "--retrain-every", "100", "--seeds", "1", "--epochs", "1"]


def backtest(tmp_path, *args: str) -> int:
    return main(
        [
            "backtest",
            *args,
            "--json",
            str(tmp_path / "o.json"),
            "--predictions",
            str(tmp_path / "o.csv"),
        ]
    )


def test_a_users_csv_backtests_and_writes_both_files(tmp_path, capsys):
    path = tmp_path / "p.csv"
    price_table(500, volume=False).drop(columns="Adj Close").to_csv(path, index=False)
    assert (
        backtest(
            tmp_path,
            "--csv",
            str(path),
            "--test-start",
            "2011-09-01",
            "--device",
            "cpu",
            *FAST,
        )
        == 0
    )
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
        (
            lambda tmp: (tmp / "b.csv").write_bytes(b"\xff\xfe\x00garbage\x00")
            and str(tmp / "b.csv"),
            "cannot read",
        ),
        (
            lambda tmp: write(
                tmp, price_table(50).drop(columns=["Close", "Adj Close"])
            ),
            "no 'Close' column",
        ),
        (lambda tmp: write(tmp, price_table(50).iloc[::-1]), "not in increasing order"),
        (lambda tmp: write(tmp, price_table(50).iloc[[0, 1, 1, 2]]), "duplicate date"),
        (
            lambda tmp: write(tmp, price_table(50).assign(**{"Adj Close": np.nan})),
            "missing \\(NaN\\)",
        ),
        (lambda tmp: write(tmp, price_table(50)), "needs .* at least"),
        (lambda tmp: str(tmp), "is a folder"),
        (
            lambda tmp: price_table(50).to_csv(tmp / "s.csv", sep=";", index=False)
            or str(tmp / "s.csv"),
            "separated by ';'",
        ),
        (
            lambda tmp: write(
                tmp,
                price_table(50).assign(
                    Date=lambda f: f["Date"].dt.strftime("%d/%m/%Y")
                ),
            ),
            "row 0 holds '04/01/2010'.*YYYY-MM-DD",
        ),
        (
            lambda tmp: write(tmp, price_table(50).assign(Ticker=["A", "B"] * 25)),
            "several tickers .*--ticker",
        ),
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


def test_a_yahoo_style_csv_with_daylight_saving_offsets_and_lowercase_names_is_read(
    tmp_path,
):
    frame = price_table(500).rename(
        columns={"Date": "date", "Adj Close": "adj_close", "Close": "close"}
    )
    frame["date"] = frame["date"].dt.tz_localize(
        "America/New_York"
    )  # -05:00 in winter, -04:00 in summer
    path = write(tmp_path, frame)
    assert (
        backtest(
            tmp_path,
            "--csv",
            path,
            "--test-start",
            "2011-09-01",
            "--device",
            "cpu",
            *FAST,
        )
        == 0
    )
    info = json.loads((tmp_path / "o.json").read_text())
    assert info["price_column"] == "Adj Close" and info["test_start"] == "2011-09-01"


def test_the_snapshot_ticker_is_case_insensitive(tmp_path):
    assert (
        backtest(
            tmp_path,
            "--ticker",
            "msft",
            "--source",
            "snapshot",
            "--test-start",
            "2013-02-01",
            "--device",
            "cpu",
            *FAST,
        )
        == 0
    )
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


@pytest.fixture
def offline(monkeypatch, tmp_path):
    """No network and an empty cache: what a laptop on a train sees."""
    from lstm_study.data import cache, yahoo

    monkeypatch.setattr(yahoo, "reachable", lambda timeout=3.0: False)
    monkeypatch.setenv(cache.ENV_DATA_DIR, str(tmp_path / "cache"))


QUICK = ["--seeds", "1", "--epochs", "1", "--device", "cpu"]


def test_forecast_writes_the_documented_json_and_the_fan_chart(
    tmp_path, capsys, offline
):
    out, plot = tmp_path / "f.json", tmp_path / "f.png"
    argv = [
        "forecast",
        "--ticker",
        "MSFT",
        "--horizon",
        "3",
        *QUICK,
        "--json",
        str(out),
        "--plot",
        str(plot),
    ]
    assert main(argv) == 0
    info = json.loads(out.read_text())
    assert (
        info["ticker"] == "MSFT"
        and info["last_date"] == "2013-03-01"
        and info["horizon"] == 3
    )
    assert info["levels"] == [80, 95] and info["price_column"] == "Adj Close"
    from lstm_study.data import load_prices

    msft = load_prices("MSFT", source="snapshot")
    assert info["last_close"] == pytest.approx(msft["Adj Close"].iloc[-1], rel=1e-12)
    assert [row["date"] for row in info["forecasts"]] == [
        "2013-03-04",
        "2013-03-05",
        "2013-03-06",
    ]
    for row in info["forecasts"]:
        for level in ("80", "95"):
            for model in ("lstm", "random_walk"):
                assert (
                    row[f"{model}_lower_{level}"]
                    < row[model]
                    < row[f"{model}_upper_{level}"]
                )
        assert (
            row["lstm_lower_95"] < row["lstm_lower_80"]
            and row["lstm_upper_80"] < row["lstm_upper_95"]
        )
        assert row["random_walk"] == pytest.approx(info["last_close"])
    assert info["backtest"]["n_test"] == 252
    steps = info["backtest"]["by_step"]
    assert [s["step"] for s in steps] == [1, 2, 3]
    assert {"rmse_ratio_vs_random_walk", "coverage_80", "coverage_95"} <= set(steps[0])
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    captured = capsys.readouterr()
    assert (
        "Yahoo Finance is unreachable" in captured.err
    )  # auto fell back to the snapshot, and said so
    assert "holidays are not skipped" in captured.out


def test_an_unknown_ticker_offline_is_one_line_naming_the_network_and_the_way_offline(
    tmp_path, capsys, offline
):
    for command in (
        ["forecast"],
        ["backtest", "--predictions", str(tmp_path / "o.csv")],
    ):
        assert (
            main([*command, "--ticker", "ZZZZ", "--json", str(tmp_path / "o.json")])
            == 1
        )
        err = capsys.readouterr().err
        assert len(err.strip().splitlines()) == 1
        assert (
            "cannot be reached" in err
            and "network" in err
            and "--source snapshot" in err
        ), err
    assert not list(tmp_path.glob("o.*"))


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (
            ["--horizon", "0"],
            "horizon must be a whole number of trading days from 1 to 20",
        ),
        (["--horizon", "21"], "from 1 to 20, got 21"),
        (["--levels", "80", "100"], r"level 100 is outside \(0, 100\)"),
        (["--levels", "0"], r"level 0 is outside"),
        (["--plot", "f.jpeg2000"], r"\.png, \.pdf or \.svg"),
    ],
)
def test_bad_forecast_input_is_one_line_and_leaves_nothing(
    tmp_path, capsys, monkeypatch, extra, message
):
    monkeypatch.chdir(tmp_path)
    assert (
        main(
            [
                "forecast",
                "--ticker",
                "MSFT",
                "--source",
                "snapshot",
                *extra,
                "--json",
                "f.json",
            ]
        )
        == 1
    )
    err = capsys.readouterr().err
    assert (
        err.startswith("lstm-study forecast: error: ")
        and len(err.strip().splitlines()) == 1
    )
    assert __import__("re").search(message, err), err
    assert list(tmp_path.iterdir()) == []


def test_backtest_by_horizon_reports_every_step(tmp_path, capsys):
    path = tmp_path / "p.csv"
    price_table(500).to_csv(path, index=False)
    assert (
        backtest(
            tmp_path,
            "--csv",
            str(path),
            "--test-start",
            "2011-09-01",
            "--device",
            "cpu",
            "--horizon",
            "4",
            "--levels",
            "50",
            "90",
            *FAST,
        )
        == 0
    )
    info = json.loads((tmp_path / "o.json").read_text())
    assert info["horizon"] == 4 and info["levels"] == [50, 90]
    assert [row["step"] for row in info["by_step"]] == [1, 2, 3, 4]
    assert {"coverage_50", "width_90", "dm_p_value", "random_walk_coverage_90"} <= set(
        info["by_step"][0]
    )
    assert "by step" in capsys.readouterr().out
