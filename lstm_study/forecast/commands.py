"""The ``lstm-study backtest`` and ``lstm-study forecast`` subcommands, for any ticker or one CSV.

``backtest`` scores walk-forward forecasts 1 to ``--horizon`` days ahead against the baselines;
``forecast`` runs the same backtest, fits once more on all the history and forecasts the next
days, with intervals and the backtest's skill per step beside them.
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import pandas as pd

from lstm_study.arguments import for_cli
from lstm_study.errors import (
    ConfigError,
    DataWarning,
    InputFileError,
    NetworkError,
    NoDataError,
)
from lstm_study.files import check_outputs, write_together
from lstm_study.forecast.backtest import BacktestConfig, BacktestResult, walk_forward
from lstm_study.forecast.features import TARGETS
from lstm_study.forecast.intervals import DEFAULT_LEVELS, MAX_HORIZON, level_name
from lstm_study.forecast.model import TrainConfig
from lstm_study.forecast.report import (
    DATES_NOTE,
    excluding_point_note,
    forecast_summary,
    forecast_text,
    json_text,
    predictions_text,
    summary,
)
from lstm_study.forecast.volatility import variance_walk_forward
from lstm_study.runtime import seed_everything

SOURCES = ("auto", "cache", "yahoo", "snapshot")  # as for `lstm-study fetch`
PLOT_FORMATS = ("png", "pdf", "svg")

EPILOG = """\
examples:
  lstm-study backtest --ticker MSFT --json msft.json --predictions msft.csv
  lstm-study backtest --ticker MSFT --source snapshot --horizon 5 --json h5.json --predictions h5.csv
  lstm-study backtest --csv my_prices.csv --target price --json out.json --predictions out.csv
  lstm-study backtest --ticker IBM --source snapshot --target variance --lookback 21 --json v.json --predictions v.csv

--csv needs a comma-separated file with columns Date (YYYY-MM-DD) and Close; Adj Close, Volume
and Ticker are used when present, and column names may be in any case (date, close, adj_close).
Metrics compare the LSTM with the random walk, drift (all history) and recent drift (252 days) baselines on the
same test days; an RMSE ratio above 1 means the LSTM loses to the random walk. With --horizon H
each test day is also forecast 2..H days ahead, and every step is scored against the random walk
at the same step, with the coverage and width of the prediction intervals at --levels.
--target variance forecasts tomorrow's squared log return (one day ahead; --levels do not apply)
from past returns, their sizes, the daily range log(High/Low) and volume, so the prices need
High and Low columns; the LSTM is scored by MSE and QLIKE against GARCH(1,1), RiskMetrics' EWMA
and the rolling (21-day) and all-history means of squared returns, with a Diebold-Mariano test
on QLIKE against GARCH.
--source: auto (default) uses Yahoo Finance through the cache when reachable, else the cache, else
the bundled snapshot (AAPL, GOOG, IBM, MSFT, 2000-2013), saying so on stderr; cache, yahoo and
snapshot use only that source.
"""

FORECAST_EPILOG = f"""\
examples:
  lstm-study forecast --ticker MSFT --source snapshot --horizon 5 --json f.json --plot f.png
  lstm-study forecast --csv my_prices.csv --horizon 10 --levels 50 90 --json f.json

Forecasts the closing price (the adjusted close when the data have one) for the next H
{DATES_NOTE}. The models are the backtest's (the LSTM and the random walk), fitted on all
the history; the intervals are empirical quantiles of each model's out-of-sample errors
at each step (split-conformal on the validation block), and the JSON reports how often
such intervals covered in the walk-forward backtest of the last 252 days, with the
LSTM's RMSE against the random walk's at each step.
"""


def _positive(text: str) -> int:
    """argparse type: an integer >= 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a whole number, got {text!r}"
        ) from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _levels(text: str) -> float:
    """argparse type: a number (the range is checked with the configuration, in one line)."""
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a percentage such as 80, got {text!r}"
        ) from None


def _whole(text: str) -> int:
    """argparse type: a whole number (the range is checked with the configuration, in one line)."""
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a whole number, got {text!r}"
        ) from None


def _data_arguments(parser: argparse.ArgumentParser) -> None:
    """The options that choose the prices: --ticker (through the data layer) or --csv."""
    parser.add_argument(
        "--ticker",
        help="symbol to forecast, as Yahoo spells it (with --csv: which ticker of the file)",
    )
    parser.add_argument("--csv", type=Path, help="read prices from this CSV instead")
    parser.add_argument(
        "--source",
        choices=SOURCES,
        default="auto",
        help="where --ticker's prices come from, as for `lstm-study fetch` (default: auto)",
    )


def _model_arguments(parser: argparse.ArgumentParser, horizon: int) -> None:
    """The options shared by backtest and forecast: horizon, levels, seeds, epochs, device."""
    parser.add_argument(
        "--horizon",
        type=_whole,
        default=horizon,
        help=f"forecast 1..H trading days ahead, H at most {MAX_HORIZON} (default: %(default)s)",
    )
    parser.add_argument(
        "--levels",
        type=_levels,
        nargs="+",
        default=list(DEFAULT_LEVELS),
        metavar="LEVEL",
        help="prediction interval levels in percent, each in (0, 100) (default: 80 95)",
    )
    parser.add_argument(
        "--seeds",
        type=_positive,
        default=BacktestConfig.seeds,
        help="models trained per fold with different seeds (default: %(default)s)",
    )
    parser.add_argument(
        "--epochs",
        type=_positive,
        default=TrainConfig.epochs,
        help="maximum epochs per retrain, with early stopping (default: %(default)s)",
    )
    parser.add_argument(
        "--device",
        choices=("auto", "cpu", "cuda"),
        default="auto",
        help="where to train (default: auto, CUDA when available)",
    )


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``backtest`` and ``forecast`` subcommands to the top-level parser."""
    parser = subparsers.add_parser(
        "backtest",
        help="walk-forward backtest of the LSTM against the random walk, drift and recent-drift baselines",
        description="Walk-forward backtest of an LSTM forecaster against its baselines, 1 to H days ahead.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _data_arguments(parser)
    parser.add_argument(
        "--target",
        choices=TARGETS,
        default="log-return",
        help="what to forecast: the log return, the price, or the variance (default: log-return)",
    )
    parser.add_argument(
        "--lookback",
        type=_positive,
        default=BacktestConfig.lookback,
        help="days in each input window (default: %(default)s)",
    )
    parser.add_argument(
        "--test-start",
        help="first test day, YYYY-MM-DD (default: the last 252 trading days)",
    )
    parser.add_argument(
        "--retrain-every",
        type=_positive,
        default=BacktestConfig.retrain_every,
        help="trading days between retrains (default: %(default)s)",
    )
    _model_arguments(parser, horizon=1)
    parser.add_argument(
        "--json", required=True, type=Path, help="write the metrics summary here"
    )
    parser.add_argument(
        "--predictions",
        required=True,
        type=Path,
        help="write one row per test day here (CSV)",
    )
    parser.set_defaults(handler=run)

    parser = subparsers.add_parser(
        "forecast",
        help="forecast the next days' closing prices with intervals, beside the random walk's",
        description="Forecast the closing price for the next H business days with prediction intervals,\n"
        "beside the random walk's, with the walk-forward backtest's skill at each step.",
        epilog=FORECAST_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _data_arguments(parser)
    _model_arguments(parser, horizon=5)
    parser.add_argument(
        "--json", required=True, type=Path, help="write the forecast here (JSON)"
    )
    parser.add_argument(
        "--plot", type=Path, help="draw the fan chart here (.png, .pdf or .svg)"
    )
    parser.set_defaults(handler=run_forecast)


def read_csv(path: Path) -> pd.DataFrame:
    """Read a user's price CSV, turning a missing or unreadable file into a clear error."""
    if path.is_dir():
        raise InputFileError(f"{path} is a folder; --csv needs a CSV file")
    if not path.exists():
        raise InputFileError(f"CSV file not found: {path}")
    if not path.is_file():
        raise InputFileError(
            f"{path} is not a regular file (a device, a pipe or a socket); --csv needs a CSV file"
        )
    try:
        frame = pd.read_csv(path)
    except (
        pd.errors.ParserError,
        pd.errors.EmptyDataError,
        UnicodeDecodeError,
    ) as error:
        raise InputFileError(
            f"cannot read {path} as CSV: {str(error).strip()[:200]}"
        ) from None
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


def _offline_message(symbol: str) -> str:
    """What to say when no source can give ``symbol`` without a network."""
    from lstm_study.data import yahoo
    from lstm_study.data.snapshot import SNAPSHOT_TICKERS

    return (
        f"no prices for {symbol}: Yahoo Finance ({yahoo.YAHOO_HOST}) cannot be reached (check the "
        f"network connection), and neither the local cache nor the bundled snapshot holds {symbol}. "
        f"To work offline, run `lstm-study fetch {symbol}` once while online (then --source cache), "
        f"pass your own prices with --csv FILE, or use a snapshot ticker "
        f"({', '.join(SNAPSHOT_TICKERS)}) with --source snapshot"
    )


def load(args: argparse.Namespace) -> tuple[pd.DataFrame, str | None, str]:
    """Return the price table, the ticker and where the prices came from."""
    if args.csv is not None:
        return read_csv(args.csv), args.ticker, str(args.csv)
    if not args.ticker:
        raise ConfigError(
            "give --ticker SYMBOL (through the data layer, see --source) or --csv PATH (your own prices)"
        )
    # the only place forecast touches the data layer
    from lstm_study.data import load_prices, query, yahoo

    symbol = query.normalise_ticker(args.ticker)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", DataWarning)
        try:
            frame = load_prices([symbol], source=args.source)
        except NoDataError:
            if args.source == "auto" and not yahoo.reachable():
                raise NetworkError(_offline_message(symbol)) from None
            raise
    for warning in caught:
        print(f"note: {for_cli(str(warning.message))}", file=sys.stderr)
    origin = frame.attrs.get("source", {}).get(symbol, args.source)
    return frame, str(frame["Ticker"].iloc[0]), origin


def inputs(args: argparse.Namespace) -> dict[str, Path]:
    """Every file the command may read, by what the user knows it as: no output may be one.

    With --csv, that file; with --ticker, the ticker's cache file (read, and written by a
    fetch, even when it does not exist yet) and the bundled snapshot.
    """
    if args.csv is not None:
        return {"--csv": args.csv}
    if not args.ticker:
        return {}
    from lstm_study.data import cache, query
    from lstm_study.data.snapshot import SNAPSHOT_PATH

    symbol = query.normalise_ticker(args.ticker)
    return {
        f"cache file of {symbol}": cache.cache_path(symbol),
        "snapshot file": SNAPSHOT_PATH,
    }


def _config(args: argparse.Namespace, **changes: object) -> BacktestConfig:
    """The backtest configuration the arguments describe (ranges checked here, in one line)."""
    config = BacktestConfig(
        seeds=args.seeds,
        device=args.device,
        train=TrainConfig(epochs=args.epochs),
        horizon=args.horizon,
        levels=tuple(args.levels),
        **changes,
    )
    check_level_names(config.levels)
    return config


def check_level_names(levels: tuple[float, ...]) -> None:
    """Refuse levels whose report keys (``lstm_lower_80``) would collide or read as 0 or 100."""
    seen: dict[str, float] = {}
    for level in levels:
        name = level_name(level)
        if name in seen:
            raise ConfigError(
                f"--levels {seen[name]:.10g} and {level:.10g} both become the key "
                f"'{name}' in the report, so one level's intervals would be lost; give "
                "levels that differ within 6 significant digits"
            )
        if not 0 < float(name) < 100:
            raise ConfigError(
                f"level {level:.10g} becomes the key '{name}' in the report, which reads "
                f"as {name}%; give a level from 1e-4 to 99.9999"
            )
        seen[name] = level


def _starting(label: object, frame: pd.DataFrame, origin: str) -> None:
    """Say what the command is about to walk forward over: the minutes of work start now.

    On stdout, the report's first line: stderr stays one line when the walk refuses the
    prices (a test start that is not a date).
    """
    print(
        f"{label}: {len(frame):,} rows of prices from {origin}; walking forward",
        flush=True,
    )


def run(args: argparse.Namespace) -> int:
    """Run the backtest the arguments describe, write the JSON and CSV, print a short table."""
    # Before any work: no output may be a folder, sit in a missing or read-only folder, or be the
    # input file or the other output (through a symbolic or hard link too).
    check_outputs(
        {"--json": args.json, "--predictions": args.predictions}, inputs(args)
    )
    # One thread: a 16-unit LSTM gains nothing from intra-op threads, and a shared CPU loses a lot.
    seed_everything(0, threads=1)
    config = _config(
        args,
        target=args.target,
        lookback=args.lookback,
        test_start=args.test_start,
        retrain_every=args.retrain_every,
    )
    frame, ticker, origin = load(args)
    _starting(ticker or args.csv, frame, origin)
    started = time.perf_counter()
    variance = config.target == "variance"  # its own walk-forward, scores and report
    backtest = variance_walk_forward if variance else walk_forward
    result = backtest(frame, config, ticker=ticker)
    elapsed = time.perf_counter() - started
    for note in result.notes:
        print(f"note: {note}", file=sys.stderr)
    write_together(
        {
            args.json: (json_text(result), "the JSON summary"),
            args.predictions: (predictions_text(result), "the predictions"),
        }
    )
    info = summary(result)
    print(
        f"{info['ticker'] or args.csv}: {info['target']} on {info['price_column']}, "
        f"{info['n_test']} test days {info['test_start']} to {info['test_end']}, "
        f"{len(result.folds)} folds x {config.seeds} seeds in {elapsed:.0f} s"
    )
    print(result.metrics().to_string(float_format=lambda v: f"{v:.4g}"))
    dm = info["diebold_mariano"]
    versus = "GARCH on QLIKE" if variance else "random walk"
    print(
        f"Diebold-Mariano, LSTM vs {versus}: statistic {dm['statistic']:.3f}, p-value {dm['p_value']:.3f}"
    )
    if config.horizon > 1:
        print(
            f"by step (1 to {config.horizon} trading days ahead), on cumulative {result.target}:"
        )
        print(_step_table(result).to_string(float_format=lambda v: f"{v:.3f}"))
    print(f"wrote {args.json} and {args.predictions}")
    return 0


def _step_table(result: BacktestResult) -> pd.DataFrame:
    """The per-step columns a reader needs at a glance: skill, its test, interval coverage."""
    table = result.by_step()
    keep = ["rmse_ratio_vs_random_walk", "dm_p_value"]
    keep += [f"coverage_{level_name(level)}" for level in result.config.levels]
    names = {"rmse_ratio_vs_random_walk": "LSTM/RW", "dm_p_value": "DM p"}
    return table[keep].rename(columns=names)


def price_history(result: BacktestResult) -> pd.Series:
    """The price over the test period, ending on the last close the forecasts start from."""
    last = result.future.last_close if result.future is not None else float("nan")
    prices = list(result.previous_price[1:]) + [last]
    return pd.Series(prices, index=result.dates, name=result.price_column)


def _check_plot(path: Path | None) -> None:
    """Refuse a plot file whose format matplotlib would not know, before any work."""
    if path is not None and path.suffix.lower().lstrip(".") not in PLOT_FORMATS:
        raise ConfigError(f"--plot {path}: name a .png, .pdf or .svg file")


def _verdict(table: pd.DataFrame) -> str:
    """Say in words whether the LSTM knew more than the last price in the backtest, step by step."""
    exact = table["rmse_random_walk"] == 0
    if exact.all():
        return (
            "in the backtest the price never moved, so the random walk was exact at every "
            f"step and no forecast can beat it; the LSTM's RMSE was "
            f"{table['rmse_lstm'].min():.4g} to {table['rmse_lstm'].max():.4g}, and its "
            "ratio to the random walk's is undefined"
        )
    if exact.any():
        steps = [int(s) for s in table.index[exact]]
        table = table[~exact]
        prefix = (
            f"the random walk was exact at step(s) {steps} (the price never moved); "
        )
    else:
        prefix = ""
    return prefix + _skill(table)


def _skill(table: pd.DataFrame) -> str:
    """The verdict on the steps at which the random walk made errors."""
    ratios, p_values = table["rmse_ratio_vs_random_walk"], table["dm_p_value"]
    better = [int(s) for s in table.index if ratios[s] < 1 and p_values[s] < 0.05]
    worse = [int(s) for s in table.index if ratios[s] > 1 and p_values[s] < 0.05]
    span = f"the LSTM's RMSE was {ratios.min():.3f} to {ratios.max():.3f} times the random walk's"
    if better and not worse:
        return f"in the backtest {span}; significantly better (DM p < 0.05) at step(s) {better}"
    if worse and not better:
        return (
            f"in the backtest {span}; significantly worse at step(s) {worse}: "
            "it knows no more than the last price"
        )
    if better and worse:
        return f"in the backtest {span}; better at step(s) {better}, worse at {worse}: no consistent edge"
    return (
        f"in the backtest {span}, not significantly different at the 5% level at any step: "
        "it knows no more than the last price"
    )


def run_forecast(args: argparse.Namespace) -> int:
    """Backtest, fit on all the history, forecast the next days; write the JSON (and the plot)."""
    outputs = {"--json": args.json} | ({"--plot": args.plot} if args.plot else {})
    check_outputs(outputs, inputs(args))
    _check_plot(args.plot)
    seed_everything(0, threads=1)
    config = _config(args)
    frame, ticker, origin = load(args)
    _starting(ticker or args.csv, frame, origin)
    started = time.perf_counter()
    result = walk_forward(frame, config, ticker=ticker, future=True)
    elapsed = time.perf_counter() - started
    for note in result.notes:
        print(f"note: {note}", file=sys.stderr)
    info = forecast_summary(result, origin)
    figure = None
    if args.plot is not None:
        from lstm_study.plots.forecast import plot_fan_chart

        figure = plot_fan_chart(
            price_history(result),
            pd.DataFrame(info["forecasts"]),
            config.levels,
            ylabel=f"{info['ticker'] or 'price'} {info['price_column']}",
        )
    files = {args.json: (forecast_text(result, origin), "the forecast")}
    if figure is not None:
        fmt = args.plot.suffix.lower().lstrip(".")
        draw = lambda handle: figure.savefig(handle, format=fmt, dpi=120)  # noqa: E731
        files[args.plot] = (draw, "the plot")
    write_together(files)  # both or neither
    note = excluding_point_note(info["intervals_excluding_point"])
    if note:
        print(f"note: {note}", file=sys.stderr)
    print(
        f"{info['ticker'] or args.csv}: last close {info['last_close']:.2f} on {info['last_date']} "
        f"({info['price_column']}, from {origin}); {len(result.folds) + 1} fits x {config.seeds} seeds "
        f"in {elapsed:.0f} s"
    )
    rows = pd.DataFrame(info["forecasts"]).set_index("step")
    wide = max(config.levels)
    name = level_name(wide)
    shown = rows[
        [
            "date",
            "lstm",
            f"lstm_lower_{name}",
            f"lstm_upper_{name}",
            "random_walk",
            f"random_walk_lower_{name}",
            f"random_walk_upper_{name}",
        ]
    ]
    steps = pd.DataFrame(info["backtest"]["by_step"]).set_index("step")
    shown = shown.assign(
        **{
            "LSTM/RW": steps["rmse_ratio_vs_random_walk"],
            f"cover_{name}": steps[f"coverage_{name}"],
        }
    )
    shown.columns = [
        "date",
        "LSTM",
        f"low_{name}",
        f"high_{name}",
        "RW",
        f"RW_low_{name}",
        f"RW_high_{name}",
        "LSTM/RW",
        f"cover_{name}",
    ]
    print(shown.to_string(float_format=lambda v: f"{v:.2f}"))
    print(
        f"dates: {DATES_NOTE}; intervals: empirical quantiles of out-of-sample errors"
    )
    print(_verdict(result.by_step()))
    print(f"wrote {args.json}" + (f" and {args.plot}" if args.plot else ""))
    return 0
