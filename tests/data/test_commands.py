"""``lstm-study fetch``: exit codes and messages for good and bad input."""

import pytest

from lstm_study import cli

from .conftest import make_prices


def run(capsys, *argv):
    code = cli.main(["fetch", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_fetch_from_the_snapshot_prints_one_line_per_ticker(capsys):
    code, out, err = run(
        capsys,
        "msft",
        "IBM",
        "--source",
        "snapshot",
        "--start",
        "2005-01-01",
        "--end",
        "2005-12-31",
    )
    assert code == 0 and err == ""
    lines = out.splitlines()
    assert lines[0].split()[:6] == [
        "MSFT",
        "252",
        "rows",
        "2005-01-03",
        "to",
        "2005-12-30",
    ]
    assert (
        lines[1].startswith("IBM")
        and lines[1].endswith("from snapshot")
        and len(lines) == 2
    )


def test_fetch_offline_falls_back_and_says_so_once(capsys):
    code, out, err = run(capsys, "MSFT", "AAPL")
    assert code == 0
    assert err.count("unreachable") == 1
    assert [line.split()[-1] for line in out.splitlines()] == ["snapshot", "snapshot"]


def test_fetch_from_yahoo_offline_fails_fast_suggesting_the_snapshot(capsys):
    code, out, err = run(capsys, "MSFT", "--source", "yahoo")
    assert code == 1 and out == ""
    assert (
        err.startswith("lstm-study fetch: error: cannot reach Yahoo")
        and "--source snapshot" in err
    )


def test_fetch_from_yahoo_fills_the_cache(capsys, fake_yahoo, tmp_path):
    fake_yahoo(make_prices({"MSFT": ("2020-01-01", "2020-03-31")}))
    code, out, err = run(
        capsys,
        "MSFT",
        "--source",
        "yahoo",
        "--data-dir",
        str(tmp_path),
        "--start",
        "2020-02-01",
    )
    assert code == 0 and (tmp_path / "MSFT.csv.gz").exists()
    assert "MSFT" in out and "from yahoo" in out and f"cache: {tmp_path}" in out
    code, out, _ = run(capsys, "MSFT", "--source", "cache", "--data-dir", str(tmp_path))
    assert code == 0 and "2020-02-03 to 2020-03-31" in out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["../x"], "'../x' is not a plausible ticker"),
        (["MSFT", " "], "' ' is not a plausible ticker"),
        (["MSFT", "--start", "2010-01-01", "--end", "2009-01-01"], "inverted"),
        (["MSFT", "--start", "soon"], "YYYY-MM-DD"),
    ],
)
def test_bad_input_exits_1_with_a_one_line_error(capsys, argv, message, tmp_path):
    code, out, err = run(capsys, *argv, "--data-dir", str(tmp_path / "c"))
    assert code == 1 and out == ""
    assert message in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "c").exists()


def test_a_ticker_that_is_not_available_fails_alone(capsys):
    code, out, err = run(capsys, "MSFT", "NFLX", "--source", "snapshot")
    assert code == 1
    assert out.startswith("MSFT") and "NFLX" in err and "snapshot" in err


def test_usage_errors_exit_2(capsys):
    with pytest.raises(SystemExit) as exit_:
        cli.main(["fetch"])
    assert exit_.value.code == 2
    with pytest.raises(SystemExit) as exit_:
        cli.main(["fetch", "MSFT", "--source", "web"])
    assert exit_.value.code == 2
    assert "invalid choice" in capsys.readouterr().err
