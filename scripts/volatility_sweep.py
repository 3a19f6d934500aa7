"""Run chapter 11's variance sweep (lstm_study.experiments.volatility) and write its results.

    python scripts/volatility_sweep.py [--work DIR] [--tickers ...] [--inputs ...]

Each finished run is kept in ``--work`` (default ``.volatility_sweep`` at the repository's
root) and skipped when the script starts again, so an interrupted sweep resumes. When every
run is there, the results go to ``lstm_study/experiments/volatility_results.json`` and
``volatility_forecasts.npz`` (or ``--json`` and ``--forecasts``).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from lstm_study.data import load_prices
from lstm_study.experiments import volatility as sweep
from lstm_study.runtime import seed_everything


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=Path(".volatility_sweep"))
    parser.add_argument("--tickers", nargs="+", default=list(sweep.TICKERS))
    parser.add_argument(
        "--inputs", nargs="+", choices=list(sweep.INPUTS), default=list(sweep.INPUTS)
    )
    parser.add_argument(
        "--note",
        default="",
        help="a word on the run, kept in the results (a busy machine)",
    )
    parser.add_argument("--json", type=Path, default=sweep.RESULTS_PATH)
    parser.add_argument("--forecasts", type=Path, default=sweep.FORECASTS_PATH)
    args = parser.parse_args()
    seed_everything(0, threads=1)
    started = time.monotonic()
    prices = load_prices(list(args.tickers), source="snapshot")
    results = sweep.sweep(
        prices, args.work, tuple(args.tickers), tuple(args.inputs), progress=True
    )
    results["meta"]["wall_seconds_this_call"] = round(time.monotonic() - started, 1)
    results["meta"]["note"] = args.note
    sweep.write_results(results, args.json, args.forecasts)
    print(f"wrote {args.json} and {args.forecasts}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
