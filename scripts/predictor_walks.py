"""Run chapter 10's heavy walk-forwards and commit their results (resumable).

    python scripts/predictor_walks.py [--json PATH]

Writes lstm_study/experiments/predictor_walks.json by default; entries already there with the
same settings are kept. See lstm_study/experiments/predictor_walks.py for what is run.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from lstm_study.experiments.predictor_walks import RESULTS, run


def main() -> None:
    """Parse the arguments and run the walks still missing from the results file."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, default=RESULTS, help="results file")
    args = parser.parse_args()
    started = time.perf_counter()
    record = run(args.json)
    print(
        f"{len(record['entries'])} entries in {args.json} "
        f"({time.perf_counter() - started:.0f} s this run)"
    )


if __name__ == "__main__":  # the seeds' worker processes import this file
    main()
