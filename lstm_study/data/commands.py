"""``lstm-study fetch TICKER...``: download (or load) daily prices and report what is on disk."""

from __future__ import annotations

import argparse
import sys
import warnings

from tqdm import tqdm

from lstm_study.arguments import for_cli
from lstm_study.data import cache, query
from lstm_study.data.sources import SOURCES, load_prices
from lstm_study.errors import (
    DataWarning,
    NetworkError,
    NoDataError,
    OfflineFallbackWarning,
)

EPILOG = """examples:
  lstm-study fetch MSFT AAPL                       Yahoo Finance into the cache (offline: the snapshot)
  lstm-study fetch MSFT --start 2020-01-01         only the dates the cache lacks are downloaded
  lstm-study fetch MSFT IBM --source snapshot      the bundled 2000-2013 prices, no network
  lstm-study fetch ^GSPC --data-dir ./prices       keep the cache somewhere else
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``fetch`` subcommand to the top-level parser."""
    parser = subparsers.add_parser(
        "fetch",
        help="download daily prices into the local cache (or read the bundled snapshot)",
        description="Download daily prices from Yahoo Finance into the local cache, fetching only the\n"
        "dates it lacks, and print one summary line per ticker. Dates are inclusive, YYYY-MM-DD.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "tickers",
        nargs="+",
        metavar="TICKER",
        help="symbols as Yahoo spells them (MSFT, BRK-B, ^GSPC)",
    )
    parser.add_argument(
        "--start", metavar="DATE", help="first date (default: the earliest available)"
    )
    parser.add_argument(
        "--end", metavar="DATE", help="last date (default: the latest available)"
    )
    parser.add_argument(
        "--data-dir",
        metavar="DIR",
        help=f"cache folder (default: ${cache.ENV_DATA_DIR} if set, else the user's cache "
        "folder)",
    )
    parser.add_argument(
        "--source",
        choices=SOURCES,
        default="auto",
        help="auto (default): Yahoo when reachable, else cache or snapshot; yahoo: fail if offline; "
        "cache: only what is on disk; snapshot: the bundled prices",
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Fetch every ticker, print a summary line each; return 0 if all succeeded, 1 otherwise."""
    symbols = query.normalise_tickers(
        args.tickers
    )  # every symbol checked before any work
    query.date_range(args.start, args.end)
    failures, notes, origins = 0, set(), set()
    bar = tqdm(
        symbols, desc="fetch", unit="ticker", file=sys.stderr, disable=None, leave=False
    )
    for symbol in bar:
        bar.set_postfix_str(symbol)
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always", DataWarning)
                frame = load_prices(
                    symbol,
                    args.start,
                    args.end,
                    source=args.source,
                    data_dir=args.data_dir,
                )
        except NetworkError:
            bar.close()
            raise  # every other ticker would fail the same way
        except NoDataError as error:
            failures += 1
            tqdm.write(f"{symbol:<10} failed: {for_cli(str(error))}", file=sys.stderr)
            continue
        for warning in caught:
            text = str(warning.message)
            if issubclass(
                warning.category, OfflineFallbackWarning
            ):  # said once, not once per ticker
                text = "Yahoo Finance is unreachable; using offline data (each line says where it came from)"
            if text not in notes:
                notes.add(text)
                tqdm.write(f"note: {text}", file=sys.stderr)
        origin = frame.attrs.get("source", {}).get(symbol, args.source)
        origins.add(origin)
        first, last = frame["Date"].iloc[0], frame["Date"].iloc[-1]
        tqdm.write(
            f"{symbol:<10} {len(frame):>6} rows  {first:%Y-%m-%d} to {last:%Y-%m-%d}  from {origin}"
        )
    bar.close()
    if "yahoo" in origins:
        print(f"cache: {cache.resolve_data_dir(args.data_dir)}")
    return 1 if failures else 0
