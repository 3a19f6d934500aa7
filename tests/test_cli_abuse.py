"""The command line under abuse: the user's files are never overwritten, outputs are atomic, and no
traceback reaches the user (issue 12). The table REFUSED lists the inputs the tool refuses, with the
exit status and the message each gets; ``test_every_refused_input`` runs it."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lstm_study import cli
from lstm_study.data import cache, sources, yahoo
from lstm_study.errors import CacheWriteError, OutputFileError
from lstm_study.files import STALE_SECONDS, check_outputs, write_atomically
from tests.forecast.conftest import price_table

FAST = [
    "--lookback",
    "3",
    "--retrain-every",
    "100",
    "--seeds",
    "1",
    "--epochs",
    "1",
    "--device",
    "cpu",
]
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def prices_csv(tmp_path) -> Path:
    path = tmp_path / "prices.csv"
    price_table(800).to_csv(
        path, index=False
    )  # long enough for the default 252 test days
    return path


def run(argv: list[str], capsys) -> tuple[int, str]:
    """Run the CLI in-process; return the exit status and what it printed on stderr."""
    try:
        status = cli.main(argv)
    except SystemExit as exit_:  # argparse's usage errors
        status = exit_.code
    return status, capsys.readouterr().err


def _csv(tmp: Path, frame: pd.DataFrame, name: str = "bad.csv") -> str:
    frame.to_csv(tmp / name, index=False)
    return str(tmp / name)


def _backtest(
    tmp: Path, csv: str, *extra: str, json_out: str = "o.json", csv_out: str = "o.csv"
) -> list[str]:
    return [
        "backtest",
        "--csv",
        csv,
        *FAST,
        *extra,
        "--json",
        str(tmp / json_out),
        "--predictions",
        str(tmp / csv_out),
    ]


def _forecast(tmp: Path, csv: str, *extra: str, json_out: str = "f.json") -> list[str]:
    return [
        "forecast",
        "--csv",
        csv,
        "--seeds",
        "1",
        "--epochs",
        "1",
        "--device",
        "cpu",
        *extra,
        "--json",
        str(tmp / json_out),
    ]


# (what is wrong, how to build the arguments from a temporary folder and a good CSV, exit status, message)
REFUSED = [
    (
        "--predictions is the input CSV",
        lambda t, c: [
            "backtest",
            "--csv",
            c,
            *FAST,
            "--json",
            str(t / "o.json"),
            "--predictions",
            c,
        ],
        1,
        r"is the input --csv .*destroy your data",
    ),
    (
        "--json is the input CSV",
        lambda t, c: [
            "backtest",
            "--csv",
            c,
            *FAST,
            "--json",
            c,
            "--predictions",
            str(t / "o.csv"),
        ],
        1,
        r"--json .* is the input --csv",
    ),
    (
        "--json and --predictions name one file",
        lambda t, c: _backtest(t, c, csv_out="o.json"),
        1,
        r"--json and --predictions both name",
    ),
    (
        "an output is a folder",
        lambda t, c: _backtest(t, c, json_out="."),
        1,
        r"--json .* is a folder",
    ),
    (
        "an output's folder is missing",
        lambda t, c: _backtest(t, c, json_out="nowhere/o.json"),
        1,
        r"the folder .*nowhere does not exist",
    ),
    (
        "an output is a device",
        lambda t, c: [
            "backtest",
            "--csv",
            c,
            *FAST,
            "--json",
            "/dev/null",
            "--predictions",
            str(t / "o.csv"),
        ],
        1,
        r"is not a regular file",
    ),
    (
        "absurd --seeds",
        lambda t, c: _backtest(t, c, "--seeds", "100000000"),
        1,
        r"seeds must be at most 100",
    ),
    (
        "absurd --epochs",
        lambda t, c: _backtest(t, c, "--epochs", "10000000000"),
        1,
        r"epochs must be at most",
    ),
    (
        "absurd --lookback",
        lambda t, c: _backtest(t, c, "--lookback", "1000000000"),
        1,
        r"lookback must be at most",
    ),
    (
        "a year is not a test start",
        lambda t, c: _backtest(t, c, "--test-start", "2011"),
        1,
        r"test start='2011' is not a date: write it as YYYY-MM-DD",
    ),
    (
        "a number is not a test start",
        lambda t, c: _backtest(t, c, "--test-start", "20110901"),
        1,
        r"is not a date",
    ),
    (
        "an impossible day",
        lambda t, c: _backtest(t, c, "--test-start", "2011-02-30"),
        1,
        r"not a calendar day",
    ),
    (
        "integer dates in the CSV",
        lambda t, c: _backtest(
            t,
            _csv(
                t,
                price_table(500).assign(
                    Date=lambda f: f["Date"].dt.strftime("%Y%m%d").astype(int)
                ),
            ),
        ),
        1,
        r"Date column holds numbers",
    ),
    (
        "dates from 1850",
        lambda t, c: _backtest(t, _csv(t, price_table(500, start="1850-01-01"))),
        1,
        r"implausible date",
    ),
    (
        "infinite prices",
        lambda t, c: _backtest(
            t, _csv(t, price_table(500).assign(**{"Adj Close": np.inf}))
        ),
        1,
        r"infinite",
    ),
    (
        "a CSV that is not a regular file",
        lambda t, c: _backtest(t, "/dev/null"),
        1,
        r"not a regular file",
    ),
    (
        "a ticker of a megabyte",
        lambda t, c: ["fetch", "A" * 1_000_000, "--source", "snapshot"],
        1,
        r"not a plausible ticker",
    ),
    (
        "a fetch start that is not a date",
        lambda t, c: ["fetch", "MSFT", "--source", "snapshot", "--start", "2003"],
        1,
        r"start='2003' is not a date",
    ),
    (
        "a fetch start before 1900",
        lambda t, c: ["fetch", "MSFT", "--source", "snapshot", "--start", "1066-10-14"],
        1,
        r"not a plausible day",
    ),
    (
        "a cache folder that is a file",
        lambda t, c: ["fetch", "MSFT", "--source", "cache", "--data-dir", c],
        1,
        r"no cached prices",
    ),
    (
        "a horizon of 0",
        lambda t, c: _forecast(t, c, "--horizon", "0"),
        1,
        r"horizon must be .* from 1 to 20",
    ),
    (
        "a horizon over 20",
        lambda t, c: _backtest(t, c, "--horizon", "21"),
        1,
        r"from 1 to 20, got 21",
    ),
    (
        "a level of 100",
        lambda t, c: _forecast(t, c, "--levels", "80", "100"),
        1,
        r"level 100 is outside \(0, 100\)",
    ),
    (
        "a negative level",
        lambda t, c: _backtest(t, c, "--levels", "-80"),
        1,
        r"level -80 is outside",
    ),
    (
        "a forecast into a missing folder",
        lambda t, c: _forecast(t, c, json_out="nowhere/f.json"),
        1,
        r"the folder .*nowhere does not exist",
    ),
    (
        "a forecast over its input",
        lambda t, c: _forecast(t, c, json_out=c),
        1,
        r"is the input --csv",
    ),
    (
        "a plot that is its JSON",
        lambda t, c: _forecast(t, c, "--plot", str(t / "f.json")),
        1,
        r"--json and --plot both name",
    ),
]


@pytest.mark.parametrize(
    ("case", "make", "status", "message"), REFUSED, ids=[row[0] for row in REFUSED]
)
def test_every_refused_input(tmp_path, prices_csv, capsys, case, make, status, message):
    before = prices_csv.read_bytes()
    code, err = run(make(tmp_path, str(prices_csv)), capsys)
    assert code == status, err
    assert re.search(message, err), err
    assert "Traceback" not in err and len(err.splitlines()) == 1 and len(err) < 600, err
    assert prices_csv.read_bytes() == before
    assert not list(tmp_path.glob(".*.tmp")), "a temporary file was left behind"


ALIASES = ("same path", "relative path", "dot-dot path", "symbolic link", "hard link")


def _alias(folder: Path, target: Path, kind: str) -> Path:
    if kind == "same path":
        return target
    if kind == "relative path":
        return Path(os.path.relpath(target))
    if kind == "dot-dot path":
        (folder / "sub").mkdir(exist_ok=True)
        return folder / "sub" / ".." / target.name
    link = folder / f"link-{kind.split()[0]}.csv"
    link.unlink(missing_ok=True)
    (os.symlink if kind == "symbolic link" else os.link)(target, link)
    return link


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    kind=st.sampled_from(ALIASES),
    option=st.sampled_from(["--json", "--predictions"]),
    also_other=st.booleans(),
)
def test_an_output_that_aliases_the_input_is_refused_and_the_input_is_unchanged(
    tmp_path_factory, kind, option, also_other
):
    folder = tmp_path_factory.mktemp("alias")
    data = folder / "mine.csv"
    price_table(500).to_csv(data, index=False)
    before = data.read_bytes()
    alias = _alias(folder, data, kind)
    outputs = {"--json": folder / "o.json", "--predictions": folder / "o.csv"}
    outputs[option] = alias
    if also_other:  # both outputs alias the input
        outputs["--json" if option == "--predictions" else "--predictions"] = data
    argv = [
        "backtest",
        "--csv",
        str(data),
        *FAST,
        "--json",
        str(outputs["--json"]),
        "--predictions",
        str(outputs["--predictions"]),
    ]
    assert cli.main(argv) == 1
    assert data.read_bytes() == before
    assert not (folder / "o.json").exists() and not (folder / "o.csv").exists(), (
        "work started before the check"
    )


def test_two_outputs_that_are_one_file_through_a_link_are_refused(tmp_path):
    (tmp_path / "a.json").write_text("{}")
    os.symlink(tmp_path / "a.json", tmp_path / "b.csv")
    with pytest.raises(OutputFileError, match="both name"):
        check_outputs(
            {"--json": tmp_path / "a.json", "--predictions": tmp_path / "b.csv"}
        )


def test_a_read_only_folder_is_refused_before_any_work(tmp_path, prices_csv, capsys):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        if os.access(locked, os.W_OK):
            pytest.skip("running as a user whom permissions do not stop (root)")
        code, err = run(
            _backtest(tmp_path, str(prices_csv), json_out="locked/o.json"), capsys
        )
        assert code == 1 and "permission denied" in err
    finally:
        locked.chmod(0o700)


@pytest.mark.parametrize(
    "failure",
    [OSError(28, "No space left on device"), KeyboardInterrupt()],
    ids=["disk full", "ctrl-c"],
)
def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path, failure):
    target = tmp_path / "report.json"
    target.write_text("old")

    def half_then_fail(handle):
        handle.write(b"half a fi")
        raise failure

    with pytest.raises(
        OutputFileError if isinstance(failure, OSError) else KeyboardInterrupt
    ):
        write_atomically(target, half_then_fail, "the report")
    assert target.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.json"]


def test_written_files_get_the_usual_permissions(tmp_path):
    path = write_atomically(tmp_path / "x.txt", "hello")
    mask = os.umask(0)
    os.umask(mask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~mask


def test_the_cache_removes_temporaries_that_killed_fetches_left(tmp_path):
    frame = sources.load_prices("MSFT", "2003-01-02", "2003-01-31", source="snapshot")
    stale = tmp_path / ".MSFT.csv.gz.abc123.tmp"
    fresh = tmp_path / ".MSFT.csv.gz.def456.tmp"  # a concurrent writer's, still at work
    for path in (stale, fresh):
        path.write_bytes(b"half")
    old = time.time() - STALE_SECONDS - 60
    os.utime(stale, (old, old))
    cache.write_cache(frame, "MSFT", tmp_path)
    assert not stale.exists() and fresh.exists()


def test_an_unwritable_cache_is_one_line_not_a_traceback(tmp_path, capsys, monkeypatch):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(CacheWriteError, match="cannot create the cache folder"):
        cache.write_cache(
            sources.load_prices("MSFT", "2003-01-02", "2003-01-10", source="snapshot"),
            "MSFT",
            blocker / "cache",
        )


def test_concurrent_fetches_of_one_ticker_never_shrink_the_cache(tmp_path, monkeypatch):
    """Two fetches race: the second merges into what the first wrote (the lock serialises them)."""
    full = sources.load_prices("MSFT", "2003-01-02", "2003-06-30", source="snapshot")
    monkeypatch.setattr(yahoo, "reachable", lambda timeout=3.0: True)
    started = threading.Barrier(2)

    def slow_fetch(symbol, start, end):
        rows = full[
            (full["Date"] >= (start or full["Date"].min()))
            & (full["Date"] <= (end or full["Date"].max()))
        ]
        time.sleep(0.2)  # both fetches are in flight together
        return yahoo.FetchResult(rows.reset_index(drop=True), {})

    monkeypatch.setattr(yahoo, "fetch", slow_fetch)
    errors = []

    def fetch(start, end):
        try:
            started.wait()
            sources.update_cache("MSFT", start, end, tmp_path)
        except Exception as error:  # noqa: BLE001 - reported below
            errors.append(error)

    threads = [
        threading.Thread(target=fetch, args=span)
        for span in (("2003-01-02", "2003-03-31"), ("2003-04-01", "2003-06-30"))
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    cached = cache.read_cache("MSFT", tmp_path)
    assert len(cached) == len(full), "one fetch's rows were lost"


@pytest.mark.parametrize(
    "signal_number", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"]
)
def test_an_interrupted_backtest_exits_130_quietly_and_leaves_nothing(
    tmp_path, prices_csv, signal_number
):
    argv = [
        sys.executable,
        "-m",
        "lstm_study.cli",
        *_backtest(tmp_path, str(prices_csv))[:-4],
        "--seeds",
        "20",
        "--epochs",
        "50",
        "--retrain-every",
        "5",
        "--json",
        str(tmp_path / "o.json"),
        "--predictions",
        str(tmp_path / "o.csv"),
    ]
    process = subprocess.Popen(
        argv, stderr=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=ROOT
    )
    # The command says when the walk forward starts: the signal comes during the work,
    # whatever the load, not at a time guessed in advance.
    first = process.stdout.readline()
    assert first.endswith("walking forward\n"), first
    process.send_signal(signal_number)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 130, err
    assert "Traceback" not in err and err.strip().endswith("backtest: interrupted"), err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["prices.csv"]


@pytest.mark.parametrize("signal_number", [signal.SIGINT, signal.SIGTERM], ids=str)
def test_a_signal_after_the_command_ended_keeps_its_exit_status_quiet(signal_number):
    # The program's handlers are not given back to Python's at the end: a late Ctrl-C
    # (while the interpreter shuts down) would end it with a traceback and status -2.
    script = (
        "import os, signal, sys\n"
        "from lstm_study import cli\n"
        "sys.argv = ['lstm-study', 'fetch', 'MSFT', '--source', 'snapshot', '--end', "
        "'2000-03-10']\n"
        "code = cli.main()\n"
        f"os.kill(os.getpid(), {int(signal_number)})\n"
        "print('still here', flush=True)\n"
        "sys.exit(code)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )
    assert result.returncode == 130, result.stderr
    assert "Traceback" not in result.stderr and "still here" not in result.stdout


def test_an_unexpected_error_is_one_line_and_its_traceback_is_behind_debug(
    monkeypatch, capsys
):
    from lstm_study.data import commands

    def broken(args):
        raise ZeroDivisionError("float division by zero")

    monkeypatch.setattr(commands, "run", broken)
    code, err = run(["fetch", "MSFT"], capsys)
    assert (
        code == 1 and "unexpected error: ZeroDivisionError" in err and "--debug" in err
    )
    with pytest.raises(ZeroDivisionError):
        cli.main(["--debug", "fetch", "MSFT"])


def test_a_flat_price_series_is_forecast_and_explained_not_a_crash(tmp_path, capsys):
    frame = price_table(500)
    for column in ("Close", "Adj Close"):
        frame.loc[400:, column] = 30.0
    csv = _csv(tmp_path, frame, "flat.csv")
    code, err = run(
        _backtest(
            tmp_path, csv, "--test-start", frame["Date"][420].strftime("%Y-%m-%d")
        ),
        capsys,
    )
    assert code == 0, err
    assert "never moves during the test period" in err
    summary = json.loads((tmp_path / "o.json").read_text())
    assert (
        summary["models"]["lstm"]["rmse_ratio_vs_random_walk"] is None
    )  # infinite: JSON null
