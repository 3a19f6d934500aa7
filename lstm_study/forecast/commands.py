"""The ``lstm-study backtest`` subcommand: a walk-forward backtest of one ticker or one CSV."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import pandas as pd

from lstm_study.errors import ConfigError, InputFileError
from lstm_study.forecast.backtest import BacktestConfig, walk_forward
from lstm_study.forecast.model import TrainConfig
from lstm_study.forecast.report import summary, write_json, write_predictions
from lstm_study.files import check_outputs
from lstm_study.forecast.windows import TARGETS
from lstm_study.runtime import seed_everything

EPILOG = """\
examples:
  lstm-study backtest --ticker MSFT --json msft.json --predictions msft.csv
  lstm-study backtest --csv my_prices.csv --target price --json out.json --predictions out.csv

--csv needs a comma-separated file with columns Date (YYYY-MM-DD) and Close; Adj Close, Volume
and Ticker are used when present, and column names may be in any case (date, close, adj_close).
Metrics compare the LSTM with the random walk, drift (all history) and recent drift (252 days) baselines on the
same test days; an RMSE ratio above 1 means the LSTM loses to the random walk.
"""


def _positive(text: str) -> int:
    """argparse type: an integer >= 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``backtest`` subcommand to the top-level parser."""
    parser = subparsers.add_parser(
        "backtest",
        help="walk-forward backtest of the LSTM against the random walk, drift and recent-drift baselines",
        description="Walk-forward backtest of an LSTM next-day forecaster against its baselines.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--ticker", help="ticker to load from the bundled snapshot (with --csv: which ticker of the file)")
    parser.add_argument("--csv", type=Path, help="read prices from this CSV instead of the snapshot")
    parser.add_argument("--target", choices=TARGETS, default="log-return", help="what to forecast (default: log-return)")
    parser.add_argument("--lookback", type=_positive, default=BacktestConfig.lookback, help="days in each input window (default: %(default)s)")
    parser.add_argument("--test-start", help="first test day, YYYY-MM-DD (default: the last 252 trading days)")
    parser.add_argument("--retrain-every", type=_positive, default=BacktestConfig.retrain_every, help="trading days between retrains (default: %(default)s)")
    parser.add_argument("--seeds", type=_positive, default=BacktestConfig.seeds, help="models trained per fold with different seeds (default: %(default)s)")
    parser.add_argument("--epochs", type=_positive, default=TrainConfig.epochs, help="maximum epochs per retrain, with early stopping (default: %(default)s)")
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto", help="where to train (default: auto, CUDA when available)")
    parser.add_argument("--json", required=True, type=Path, help="write the metrics summary here")
    parser.add_argument("--predictions", required=True, type=Path, help="write one row per test day here (CSV)")
    parser.set_defaults(handler=run)


def read_csv(path: Path) -> pd.DataFrame:
    """Read a user's price CSV, turning a missing or unreadable file into a clear error."""
    if path.is_dir():
        raise InputFileError(f"{path} is a folder; --csv needs a CSV file")
    if not path.exists():
        raise InputFileError(f"CSV file not found: {path}")
    if not path.is_file():
        raise InputFileError(f"{path} is not a regular file (a device, a pipe or a socket); --csv needs a CSV file")
    try:
        frame = pd.read_csv(path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as error:
        raise InputFileError(f"cannot read {path} as CSV: {str(error).strip()[:200]}") from None
    except OSError as error:
        raise InputFileError(f"cannot read {path}: {error.strerror or error}") from None
    if len(frame.columns) == 1:
        for separator in (";", "\t", "|"):
            if separator in str(frame.columns[0]):
                raise InputFileError(
                    f"{path} looks separated by {separator!r}, not commas (its header is {frame.columns[0]!r}); "
                    "save it as a comma-separated CSV"
                )
    return frame


def load(args: argparse.Namespace) -> tuple[pd.DataFrame, str | None]:
    """Return the price table and ticker the arguments ask for."""
    if args.csv is not None:
        return read_csv(args.csv), args.ticker
    if not args.ticker:
        raise ConfigError("give --ticker (from the bundled snapshot) or --csv PATH (your own prices)")
    from lstm_study.data import load_prices  # the only place forecast touches the data layer

    frame = load_prices([args.ticker], source="snapshot")
    return frame, str(frame["Ticker"].iloc[0])  # the snapshot's spelling: msft -> MSFT


def run(args: argparse.Namespace) -> int:
    """Run the backtest the arguments describe, write the JSON and CSV, print a short table."""
    # Before any work: no output may be a folder, sit in a missing or read-only folder, or be the
    # input file or the other output (through a symbolic or hard link too).
    check_outputs(
        {"--json": args.json, "--predictions": args.predictions}, {"--csv": args.csv} if args.csv else {}
    )
    # One thread: a 16-unit LSTM gains nothing from intra-op threads, and a shared CPU loses a lot.
    seed_everything(0, threads=1)
    config = BacktestConfig(
        target=args.target,
        lookback=args.lookback,
        test_start=args.test_start,
        retrain_every=args.retrain_every,
        seeds=args.seeds,
        device=args.device,
        train=TrainConfig(epochs=args.epochs),
    )
    frame, ticker = load(args)
    started = time.perf_counter()
    result = walk_forward(frame, config, ticker=ticker)
    elapsed = time.perf_counter() - started
    for note in result.notes:
        print(f"note: {note}", file=sys.stderr)
    write_json(result, args.json)
    write_predictions(result, args.predictions)
    info = summary(result)
    print(
        f"{info['ticker'] or args.csv}: {info['target']} on {info['price_column']}, "
        f"{info['n_test']} test days {info['test_start']} to {info['test_end']}, "
        f"{len(result.folds)} folds x {config.seeds} seeds in {elapsed:.0f} s"
    )
    print(result.metrics().to_string(float_format=lambda v: f"{v:.4g}"))
    dm = info["diebold_mariano"]
    print(f"Diebold-Mariano, LSTM vs random walk: statistic {dm['statistic']:.3f}, p-value {dm['p_value']:.3f}")
    print(f"wrote {args.json} and {args.predictions}")
    return 0
