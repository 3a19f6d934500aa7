"""Choosing the LSTM's size and training settings on validation days only, with a stated budget.

A configuration sets the lookback, the width, the depth, the dropout and the learning rate
(:data:`PARAMETERS`); a search space gives each a tuple of values (:data:`SPACE`). The
:class:`Budget` (how many configurations, seeds, epochs and validation days) is printed before
the search runs. The search is an inner walk-forward on the history *before* the test period:
the data are cut at the first test day, and each configuration is walked forward over the last
``validation_days`` days of what is left by the same procedure as the outer backtest (folds,
per-fold scaler, early stopping, warm starts), with the budget's seeds, epochs and patience.
Its score is the RMSE ratio of its (seed-averaged) forecast to the random walk's on those
days; the lowest wins. No test day is ever seen: the search never holds one. The chosen
configuration is then walked forward over the test period by
:func:`lstm_study.forecast.backtest.walk_forward` (:func:`tuned_config`).

``lstm-study tune`` runs a wider search and writes it as JSON (:data:`RESULTS_PATH` is the
committed one); the chapter "An LSTM stock predictor" runs a small one live, reads the
committed one (:func:`seed_choices` asks whether its seeds agree on the winner) and re-walks
one committed test-period result.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import random
import time
from dataclasses import asdict, dataclass, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from tqdm import tqdm

from lstm_study import parallel
from lstm_study.errors import ConfigError, check_int
from lstm_study.files import check_outputs, write_atomically
from lstm_study.forecast.backtest import (
    BacktestConfig,
    BacktestResult,
    _test_start_index,
    walk_forward,
)
from lstm_study.forecast.validate import PriceSeries, prepare_prices
from lstm_study.runtime import resolve_device, seed_everything

#: where the committed wide search lives (beside the other committed sweeps)
RESULTS_PATH = Path(__file__).parents[1] / "experiments" / "tuning_results.json"
#: what a configuration sets: the lookback of the backtest, the rest of its TrainConfig
PARAMETERS = ("lookback", "hidden_size", "num_layers", "dropout", "lr")
#: the search space of the book: 4 x 4 x 2 x 3 x 3 = 288 configurations
SPACE: dict[str, tuple] = {
    "lookback": (5, 10, 20, 40),
    "hidden_size": (8, 16, 32, 64),
    "num_layers": (1, 2),
    "dropout": (0.0, 0.2, 0.4),
    "lr": (1e-3, 3e-3, 1e-2),
}


@dataclass(frozen=True)
class Budget:
    """What the search may spend, fixed before it runs.

    ``configurations`` are drawn at random (seeded by ``draw_seed``) from the space, or all of
    them when the space is no larger; each is trained with ``seeds`` seeds for at most
    ``epochs`` epochs (early stopping after ``patience``), and scored on the last
    ``validation_days`` days before the test period.
    """

    configurations: int = 6
    seeds: int = 1
    epochs: int = 10
    patience: int = 2
    validation_days: int = 252
    draw_seed: int = 0

    def __post_init__(self) -> None:
        for name, maximum in (
            ("configurations", 10_000),
            ("seeds", 100),
            ("epochs", 10_000),
            ("patience", 10_000),
            ("validation_days", 100_000),
        ):
            check_int(f"budget {name}", getattr(self, name), maximum=maximum)
        check_int("budget draw_seed", self.draw_seed, minimum=0)

    def describe(self) -> str:
        """One line that states the budget."""
        return (
            f"{self.configurations} configurations x {self.seeds} seed(s), at most "
            f"{self.epochs} epochs (patience {self.patience}), scored on the last "
            f"{self.validation_days} days before the test"
        )


def _check_names(names: Any, where: str) -> None:
    """Refuse names that are not parameters, in one line that lists the parameters."""
    unknown = sorted(str(name) for name in names if name not in PARAMETERS)
    if unknown:
        raise ConfigError(
            f"unknown parameter(s) {', '.join(unknown)}{where}; "
            f"the parameters are {', '.join(PARAMETERS)}"
        )


def check_space(space: dict[str, Any]) -> dict[str, tuple]:
    """Return the space with tuples of values; refuse an empty space, unknown names, no values."""
    if not isinstance(space, dict) or not space:
        raise ConfigError(
            f"the search space is empty: give values for some of {PARAMETERS}"
        )
    _check_names(space, " in the search space")
    checked = {}
    for name in PARAMETERS:
        if name not in space:
            continue
        values = space[name]
        if isinstance(values, (str, bytes)) or not hasattr(values, "__iter__"):
            values = (values,)
        values = tuple(dict.fromkeys(values))  # in order, without repeats
        if not values:
            raise ConfigError(f"the search space gives no value for {name}")
        checked[name] = values
    return checked


def draw(space: dict[str, Any], budget: Budget) -> list[dict[str, Any]]:
    """The configurations to try: every one when the budget allows, else a seeded sample.

    The sample draws grid indices one at a time (``randrange``) and skips repeats, so that
    a smaller budget's draw is always the start of a larger one's with the same seed. (This
    is what ``random.sample`` does for samples of up to 85 from the book's 288: the
    committed search was drawn with it and is reproduced exactly; above 85 ``sample``
    switches method and the prefix property would be lost.)
    """
    space = check_space(space)
    grid = [dict(zip(space, values)) for values in itertools.product(*space.values())]
    if budget.configurations >= len(grid):
        return grid
    rng, picked = random.Random(budget.draw_seed), {}
    while len(picked) < budget.configurations:
        picked.setdefault(rng.randrange(len(grid)), None)  # dicts keep the order
    return [grid[index] for index in picked]


def candidate(base: BacktestConfig, params: dict[str, Any]) -> BacktestConfig:
    """``base`` with one configuration's parameters put in (their ranges checked there)."""
    _check_names(params, "")
    train = {name: value for name, value in params.items() if name != "lookback"}
    return replace(
        base,
        lookback=params.get("lookback", base.lookback),
        train=replace(base.train, **train),
    )


def tuned_config(
    base: BacktestConfig, params: dict[str, Any], budget: Budget
) -> BacktestConfig:
    """The outer backtest's configuration for the chosen parameters, trained as in the search."""
    train = replace(base.train, epochs=budget.epochs, patience=budget.patience)
    return candidate(replace(base, train=train), params)


def search_config(
    base: BacktestConfig, params: dict[str, Any], budget: Budget
) -> BacktestConfig:
    """The inner walk-forward of one configuration: the last validation days before the cut."""
    return replace(
        tuned_config(base, params, budget),
        test_start=None,
        test_days=budget.validation_days,
        seeds=budget.seeds,
    )


def pre_test_history(
    data: pd.DataFrame | PriceSeries,
    base: BacktestConfig,
    ticker: str | None = None,
) -> PriceSeries:
    """The series cut at the outer backtest's first test day: all that the search may see."""
    series = (
        data if isinstance(data, PriceSeries) else prepare_prices(data, ticker=ticker)
    )
    cut = _test_start_index(series.dates, base)
    if cut < 1:
        raise ConfigError("the test period starts on the first day: nothing to tune on")
    return replace(
        series,
        dates=series.dates[:cut],
        price=series.price[:cut],
        volume=None if series.volume is None else series.volume[:cut],
    )


def score(
    history: PriceSeries,
    base: BacktestConfig,
    params: dict[str, Any],
    budget: Budget,
) -> dict[str, Any]:
    """Walk one configuration forward over the validation days; return its scores."""
    started = time.perf_counter()
    result = walk_forward(history, search_config(base, params, budget), progress=False)
    ratios = result.seed_metrics()["rmse_ratio_vs_random_walk"]
    epochs = [epoch for fold in result.folds for epoch in fold.best_epochs]
    return {
        **params,
        "score": float(result.metrics().loc["lstm", "rmse_ratio_vs_random_walk"]),
        "seed_scores": [float(value) for value in ratios],
        "median_best_epoch": float(np.median(epochs)),
        "seconds": round(time.perf_counter() - started, 2),
    }


@dataclass
class SearchResult:
    """Every configuration's validation score, the chosen one, and what the search spent."""

    budget: Budget
    space: dict[str, tuple]
    rows: list[dict[str, Any]]
    validation_start: pd.Timestamp
    validation_end: pd.Timestamp
    seconds: float

    @property
    def table(self) -> pd.DataFrame:
        """One row per configuration, best validation score first."""
        return pd.DataFrame(self.rows).sort_values("score", kind="stable")

    @property
    def chosen(self) -> dict[str, Any]:
        """The parameters of the configuration with the lowest score (the first, on a tie)."""
        best = min(self.rows, key=lambda row: row["score"])
        return {name: best[name] for name in self.space}


def search(
    data: pd.DataFrame | PriceSeries,
    base: BacktestConfig | None = None,
    space: dict[str, Any] | None = None,
    budget: Budget | None = None,
    *,
    ticker: str | None = None,
    progress: bool | None = None,
) -> SearchResult:
    """Score every drawn configuration on the validation days before ``base``'s test period."""
    base = base or BacktestConfig()
    budget = budget or Budget()
    space = check_space(SPACE if space is None else space)
    configurations = draw(space, budget)
    for (
        params
    ) in configurations:  # a bad value is refused now, not minutes into the run
        search_config(base, params, budget)
    history = pre_test_history(data, base, ticker)
    if len(history) <= budget.validation_days:
        raise ConfigError(
            f"the {len(history)} days before the test cannot hold "
            f"{budget.validation_days} validation days: lower validation_days"
        )
    started = time.perf_counter()
    rows: list[dict[str, Any]] = []
    bar = tqdm(
        total=len(configurations),
        desc=f"{history.ticker or 'series'} search",
        disable=None if progress is None else not progress,
    )
    # Configurations train independently: as many at once as there are workers
    # (lstm_study.parallel), with the same numbers as one after another.
    width = parallel.worker_count()
    for first in range(0, len(configurations), width):
        chunk = configurations[first : first + width]
        calls = [
            dict(history=history, base=base, params=params, budget=budget)
            for params in chunk
        ]
        rows.extend(parallel.run_all(score, calls, device=resolve_device(base.device)))
        bar.update(len(chunk))
        bar.set_postfix(best=f"{min(row['score'] for row in rows):.4f}")
    bar.close()
    return SearchResult(
        budget=budget,
        space=space,
        rows=rows,
        validation_start=history.dates[-budget.validation_days],
        validation_end=history.dates[-1],
        seconds=time.perf_counter() - started,
    )


def seed_choices(rows: list[dict[str, Any]]) -> list[int]:
    """For each seed, the index of the row that seed alone would choose (lowest score)."""
    scores = np.array([row["seed_scores"] for row in rows])
    return [int(index) for index in scores.argmin(axis=0)]


def machine() -> dict[str, Any]:
    """Where a search ran: CPU, torch's vector kernels, cores, threads, load, versions."""
    from lstm_study.machine import cpu_description

    load = os.getloadavg() if hasattr(os, "getloadavg") else (None, None, None)
    return {
        "cpu_model": cpu_description()["name"],
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "cpu_count": os.cpu_count(),
        "threads": torch.get_num_threads(),
        "load_average_1min": load[0],
        "torch": torch.__version__,
        "python": platform.python_version(),
    }


def summary(result: SearchResult, ticker: str | None) -> dict[str, Any]:
    """One search as plain JSON-ready values."""
    return {
        "ticker": ticker,
        "validation_start": str(result.validation_start.date()),
        "validation_end": str(result.validation_end.date()),
        "seconds": round(result.seconds, 1),
        "chosen": result.chosen,
        "rows": result.rows,
    }


def load_results(path: Path | str = RESULTS_PATH) -> dict[str, Any]:
    """The committed search (or another one written by ``lstm-study tune --json``)."""
    return json.loads(Path(path).read_text(encoding="utf-8"))


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``tune`` subcommand."""
    parser = subparsers.add_parser(
        "tune",
        help="choose the return LSTM's settings on validation days before the test period",
        description="Draw configurations (lookback, width, depth, dropout, learning rate) "
        "from the book's search space, walk each forward over the days before the test "
        "period, and write every validation score and the chosen configuration as JSON.",
    )
    parser.add_argument(
        "--json", required=True, type=Path, help="where to write the results"
    )
    parser.add_argument(
        "--tickers",
        nargs="+",
        default=["MSFT"],
        help="snapshot tickers to tune on, each separately (default: MSFT)",
    )
    parser.add_argument(
        "--test-start",
        default="2010-03-01",
        help="first test day: the search sees only the days before it (default: %(default)s)",
    )
    defaults = Budget()
    for name, text in (
        ("configurations", "configurations drawn from the space"),
        ("seeds", "seeds per configuration"),
        ("epochs", "maximum epochs per retrain"),
        ("patience", "epochs without progress before stopping"),
        ("validation-days", "days before the test that score a configuration"),
    ):
        parser.add_argument(
            f"--{name}",
            type=int,
            default=getattr(defaults, name.replace("-", "_")),
            help=f"{text} (default: %(default)s)",
        )
    parser.set_defaults(handler=_tune)


def _tune(args: argparse.Namespace) -> int:
    budget = Budget(
        configurations=args.configurations,
        seeds=args.seeds,
        epochs=args.epochs,
        patience=args.patience,
        validation_days=args.validation_days,
    )
    base = BacktestConfig(test_start=args.test_start)
    from lstm_study.data import load_prices  # the command fetches the frame
    from lstm_study.data.snapshot import SNAPSHOT_PATH

    # before the minutes of training, not after; the snapshot it reads is an input
    check_outputs({"--json": args.json}, {"snapshot file": SNAPSHOT_PATH})

    seed_everything(0, threads=1)
    results = {
        "machine": machine(),
        "started": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "wall_seconds": None,
        "complete": False,
        "budget": asdict(budget),
        "space": {name: list(values) for name, values in SPACE.items()},
        "base": {"test_start": args.test_start, "seeds": base.seeds},
        "searches": [],
    }
    clock = time.perf_counter()
    print(f"budget: {budget.describe()}")
    for ticker in args.tickers:
        frame = load_prices([ticker], source="snapshot")
        result = search(frame, base, SPACE, budget, ticker=ticker, progress=True)
        entry = summary(result, ticker)
        # The choice is made; only now is the test period walked, tuned and untuned.
        entry["test"] = evaluate_on_test(frame, base, result.chosen, budget, ticker)
        results["searches"].append(entry)
        results["complete"] = ticker == args.tickers[-1]
        results["wall_seconds"] = round(time.perf_counter() - clock, 1)
        # rewritten after each ticker, so that an interrupted run keeps what it finished
        write_atomically(
            args.json, json.dumps(results, indent=1) + "\n", "the tuning results"
        )
        print(
            f"{ticker}: chose {describe_params(result.chosen)} "
            f"(validation score {min(result.table['score']):.4f}); "
            f"test RMSE / RW {entry['test']['tuned']['ratio']:.4f} tuned, "
            f"{entry['test']['untuned']['ratio']:.4f} untuned"
        )
    print(f"wrote {len(results['searches'])} search(es) to {args.json}")
    return 0


def test_scores(result: BacktestResult) -> dict[str, float]:
    """The LSTM's test RMSE ratio to the random walk and its Diebold-Mariano test."""
    dm = result.diebold_mariano()
    return {
        "ratio": float(result.metrics().loc["lstm", "rmse_ratio_vs_random_walk"]),
        "dm_statistic": float(dm.statistic),
        "dm_p_value": float(dm.p_value),
    }


def evaluate_on_test(
    data: pd.DataFrame | PriceSeries,
    base: BacktestConfig,
    chosen: dict[str, Any],
    budget: Budget,
    ticker: str | None = None,
) -> dict[str, Any]:
    """Walk the untuned and the tuned configuration over the test period; score both."""
    scores = {}
    for name, config in (
        ("untuned", base),
        ("tuned", tuned_config(base, chosen, budget)),
    ):
        started = time.perf_counter()
        result = walk_forward(data, config, ticker=ticker, progress=False)
        scores[name] = {
            **test_scores(result),
            "seconds": round(time.perf_counter() - started, 1),
        }
    scores["test_start"] = str(result.dates[0].date())
    scores["test_end"] = str(result.dates[-1].date())
    return scores


def describe_params(params: dict[str, Any]) -> str:
    """A configuration in words, e.g. 'lookback 20, 2 x 32 units, dropout 0.2, lr 0.003'."""
    return (
        f"lookback {params['lookback']}, {params['num_layers']} x "
        f"{params['hidden_size']} units, dropout {params['dropout']:g}, "
        f"lr {params['lr']:g}"
    )


__all__ = [
    "PARAMETERS",
    "RESULTS_PATH",
    "SPACE",
    "Budget",
    "SearchResult",
    "candidate",
    "check_space",
    "describe_params",
    "draw",
    "evaluate_on_test",
    "load_results",
    "pre_test_history",
    "search",
    "search_config",
    "seed_choices",
    "tuned_config",
]
