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
import base64
import functools
import itertools
import json
import os
import platform
import random
import time
import zlib
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
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
#: the step between two tickers' training seeds: above every 10_000 * seed + fold index
SEED_STRIDE = 1_000_000
#: the longer training of the committed search's extra runs: epochs and patience
LONGER = {"epochs": 100, "patience": 10}


def ticker_seed_offset(ticker: str | None) -> int:
    """What the search adds to a ticker's training seeds; 0 for a series without a name.

    A stable hash of the name (CRC-32, the same in every process and on every machine;
    Python's ``hash`` of a string is salted per process) times :data:`SEED_STRIDE`, so
    that two tickers' networks start from different weights and draw different batches,
    while a ticker's own search reproduces. The outer walk-forward keeps its seeds.
    """
    if ticker is None:
        return 0
    if not isinstance(ticker, str) or not ticker:
        raise ConfigError(f"a ticker must be a non-empty string, got {ticker!r}")
    return SEED_STRIDE * (1 + zlib.crc32(ticker.encode("utf-8")))


def encode(values: Any, dtype: str = "<f4") -> str:
    """Numbers as base64 text of their bytes (float32 by default): compact in JSON."""
    return base64.b64encode(np.asarray(values, dtype=dtype).tobytes()).decode("ascii")


def decode(text: str, dtype: str = "<f4") -> np.ndarray:
    """The numbers :func:`encode` wrote, as float64."""
    return np.frombuffer(base64.b64decode(text), dtype=dtype).astype(float)


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
    base: BacktestConfig,
    params: dict[str, Any],
    budget: Budget,
    ticker: str | None = None,
) -> BacktestConfig:
    """The inner walk-forward of one configuration: the last validation days before the cut.

    Its seeds are the ticker's (:func:`ticker_seed_offset`).
    """
    return replace(
        tuned_config(base, params, budget),
        test_start=None,
        test_days=budget.validation_days,
        seeds=budget.seeds,
        seed_offset=ticker_seed_offset(ticker),
    )


def reference_config(
    base: BacktestConfig, budget: Budget, ticker: str | None = None
) -> BacktestConfig:
    """The untuned configuration (``base``'s own training) on the search's validation days."""
    return replace(
        base,
        test_start=None,
        test_days=budget.validation_days,
        seeds=budget.seeds,
        seed_offset=ticker_seed_offset(ticker),
    )


def longer_config(config: BacktestConfig, epochs: int, patience: int) -> BacktestConfig:
    """``config`` allowed more epochs and more patience before early stopping."""
    return replace(
        config, train=replace(config.train, epochs=epochs, patience=patience)
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


def score_walk(
    history: PriceSeries, config: BacktestConfig, params: dict[str, Any]
) -> dict[str, Any]:
    """Walk ``config`` over its days; its scores, and each seed's forecasts (float32)."""
    started = time.perf_counter()
    result = walk_forward(history, config, progress=False)
    ratios = result.seed_metrics()["rmse_ratio_vs_random_walk"]
    epochs = [epoch for fold in result.folds for epoch in fold.best_epochs]
    return {
        **params,
        "score": float(result.metrics().loc["lstm", "rmse_ratio_vs_random_walk"]),
        "seed_scores": [float(value) for value in ratios],
        "median_best_epoch": float(np.median(epochs)),
        "seconds": round(time.perf_counter() - started, 2),
        # each seed's forecast of each validation day, for a bootstrap over the days
        "forecasts": [encode(np.ravel(seed)) for seed in result.seed_forecasts],
    }


def score(
    history: PriceSeries,
    base: BacktestConfig,
    params: dict[str, Any],
    budget: Budget,
) -> dict[str, Any]:
    """Walk one configuration forward over the validation days; return its scores."""
    config = search_config(base, params, budget, history.ticker)
    return score_walk(history, config, params)


def forecasts(row: dict[str, Any]) -> np.ndarray:
    """A scored row's forecasts of the validation days, (seeds, days)."""
    return np.stack([decode(text) for text in row["forecasts"]])


def validation_actual(history: PriceSeries, budget: Budget) -> np.ndarray:
    """The log returns of the validation days: what every configuration forecast."""
    return np.diff(np.log(history.price))[-budget.validation_days :]


@dataclass
class SearchResult:
    """Every configuration's validation score, the chosen one, and what the search spent."""

    budget: Budget
    space: dict[str, tuple]
    rows: list[dict[str, Any]]
    validation_start: pd.Timestamp
    validation_end: pd.Timestamp
    seconds: float
    #: the results of the ``alongside`` calls given to :func:`search`, in their order
    alongside: list[Any] = field(default_factory=list)

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
    rows: list[dict[str, Any]] | None = None,
    on_progress: Any = None,
    alongside: Sequence[tuple[Callable[..., Any], dict[str, Any]]] = (),
) -> SearchResult:
    """Score every drawn configuration on the validation days before ``base``'s test period.

    ``rows`` are scores already made (an interrupted run's, in the order drawn): they are
    kept, and only the configurations after them are scored. ``on_progress(rows)`` is
    called after each group of configurations, so that a caller can save them.
    ``alongside`` are other independent calls, ``(function, kwargs)``, handed to the
    workers after the configurations, in one batch with them: a worker that finishes its
    configurations early takes them (their results are the result's ``alongside``).
    """
    if alongside and on_progress is not None:
        raise ConfigError(
            "calls alongside the search run in one batch with it: not with on_progress"
        )
    base = base or BacktestConfig()
    budget = budget or Budget()
    space = check_space(SPACE if space is None else space)
    configurations = draw(space, budget)
    history = pre_test_history(data, base, ticker)
    for params in configurations:  # a bad value is refused now, not minutes into it
        search_config(base, params, budget, history.ticker)
    done = list(rows or [])
    for row, params in zip(done, configurations):
        if any(row[name] != value for name, value in params.items()):
            raise ConfigError(
                "the rows to resume from are not the configurations drawn: "
                f"{', '.join(f'{k} {v:g}' for k, v in params.items())} expected, "
                "got another"
            )
    if len(done) > len(configurations):
        raise ConfigError(
            f"{len(done)} rows to resume from, but only {len(configurations)} drawn"
        )
    if len(history) <= budget.validation_days:
        raise ConfigError(
            f"the {len(history)} days before the test cannot hold "
            f"{budget.validation_days} validation days: lower validation_days"
        )
    started = time.perf_counter()
    rows = done
    bar = tqdm(
        total=len(configurations),
        initial=len(rows),
        desc=f"{history.ticker or 'series'} search",
        disable=None if progress is None else not progress,
    )
    # Configurations train independently: spread over the workers (lstm_study.parallel),
    # with the same numbers as one after another. With on_progress, as many at a time as
    # there are workers, so that each batch is reported (and saved) as it ends; without,
    # all at once, so that a worker that finishes early takes the next configuration.
    width = (
        parallel.worker_count()
        if on_progress is not None
        else max(1, len(configurations))
    )
    extra = list(alongside)
    for first in range(len(rows), len(configurations), width):
        chunk = configurations[first : first + width]
        calls = [
            (score, dict(history=history, base=base, params=params, budget=budget))
            for params in chunk
        ]
        batch = parallel.run_each(calls + extra, device=resolve_device(base.device))
        rows.extend(batch[: len(chunk)])
        done_alongside, extra = batch[len(chunk) :], []
        bar.update(len(chunk))
        bar.set_postfix(best=f"{min(row['score'] for row in rows):.4f}")
        if on_progress is not None:
            on_progress(rows)
    bar.close()
    if extra:  # every configuration was scored before: the calls run on their own
        done_alongside = parallel.run_each(extra, device=resolve_device(base.device))
    return SearchResult(
        budget=budget,
        space=space,
        rows=rows,
        validation_start=history.dates[-budget.validation_days],
        validation_end=history.dates[-1],
        seconds=time.perf_counter() - started,
        alongside=done_alongside if alongside else [],
    )


def seed_choices(rows: list[dict[str, Any]]) -> list[int]:
    """For each seed, the index of the row that seed alone would choose (lowest score)."""
    scores = np.array([row["seed_scores"] for row in rows])
    return [int(index) for index in scores.argmin(axis=0)]


def validation_losses(entry: dict[str, Any]) -> dict[str, np.ndarray]:
    """A committed search's squared errors on its validation days, from its forecasts.

    ``rows``: each configuration's seed-averaged forecast, (configurations, days);
    ``untuned``: the untuned LSTM's; ``random_walk``: the random walk's (the squared
    return). ``seed_rows``: each configuration's seeds apart, (configurations, seeds, days).
    """
    actual = decode(entry["validation_actual"], "<f8")
    seed_rows = np.stack([forecasts(row) for row in entry["rows"]])
    untuned = forecasts(entry["extra"]["untuned"]).mean(axis=0)
    return {
        "rows": (actual - seed_rows.mean(axis=1)) ** 2,
        "seed_rows": (actual - seed_rows) ** 2,
        "untuned": (actual - untuned) ** 2,
        "random_walk": actual**2,
    }


@dataclass
class SelectionBootstrap:
    """The search's choice re-made on resampled validation days (a stationary bootstrap).

    ``flattery[b]``: how much better the configuration chosen on replicate ``b`` looks
    than the untuned LSTM there, minus how much better it is on the days actually
    scored (RMSE ratio; positive: the choice flatters). Its mean is the winner's curse
    of the excess gap; ``picks[b]`` the row chosen on replicate ``b``.
    """

    block: float
    flattery: np.ndarray
    picks: np.ndarray
    chosen: int

    @property
    def curse(self) -> float:
        """The expected flattery of the winner, relative to the untuned LSTM."""
        return float(self.flattery.mean())

    @property
    def kept_share(self) -> float:
        """The share of replicates whose choice is the search's own."""
        return float(np.mean(self.picks == self.chosen))


@functools.lru_cache(maxsize=16)
def _day_counts(block: float, days: int, replicates: int, seed: int) -> np.ndarray:
    """How often each day is drawn in each stationary-bootstrap replicate, (replicates, days)."""
    from arch.bootstrap import StationaryBootstrap

    sampler = StationaryBootstrap(block, np.arange(days), seed=seed)
    drawn = np.stack([sampler.update_indices() for _ in range(replicates)])
    flat = (drawn + days * np.arange(replicates)[:, None]).ravel()
    counts = np.bincount(flat, minlength=replicates * days).astype(float)
    counts = counts.reshape(replicates, days)
    counts.setflags(write=False)  # shared by the calls the cache answers
    return counts


def selection_bootstrap(
    losses: dict[str, np.ndarray],
    *,
    replicates: int = 2000,
    seed_noise: float = 0.0,
    block: float | None = None,
    seed: int = 0,
) -> SelectionBootstrap:
    """Re-make the choice on stationary-bootstrap resamples of the validation days.

    Squared errors cluster with volatility, so days are drawn in blocks of random
    (geometric) length, the stationary bootstrap of Politis and Romano (1994), from
    ``arch.bootstrap``; the mean block length is ``block``, else Politis and White's
    (2004) automatic choice for the random walk's squared errors (the squared returns,
    the denominator of every score). Every configuration, and the untuned LSTM, is
    scored on the same resampled days. ``seed_noise`` (the standard deviation of a
    score's seed noise) adds independent normal draws of that size to every score,
    so that the flattery holds both the days' noise and the seeds'.
    """
    from arch.bootstrap import optimal_block_length

    check_int("replicates", replicates, maximum=1_000_000)
    if not seed_noise >= 0:
        raise ConfigError(f"seed_noise must be >= 0, got {seed_noise!r}")
    rows, reference = losses["rows"], losses["untuned"]
    random_walk = losses["random_walk"]
    days = len(random_walk)
    if block is None:
        block = float(optimal_block_length(random_walk)["stationary"].iloc[0])
    block = max(1.0, float(block))
    counts = _day_counts(block, days, replicates, seed)
    scale = counts @ random_walk
    scores = np.sqrt((rows @ counts.T) / scale)  # (configurations, replicates)
    untuned = np.sqrt((counts @ reference) / scale)
    rng = np.random.default_rng(seed)
    scores = scores + rng.normal(0, seed_noise, scores.shape)
    untuned = untuned + rng.normal(0, seed_noise, untuned.shape)
    picks = _first_lowest(scores)
    observed = np.sqrt(rows.sum(axis=1) / random_walk.sum())
    observed_untuned = np.sqrt(reference.sum() / random_walk.sum())
    seen = untuned - scores[picks, np.arange(replicates)]
    truth = observed_untuned - observed[picks]
    return SelectionBootstrap(
        block=block,
        flattery=seen - truth,
        picks=picks,
        chosen=int(_first_lowest(observed)),
    )


#: scores this close (relative) to the lowest tie with it
TIE = 1e-12


def _first_lowest(scores: np.ndarray) -> np.ndarray:
    """The first row of ``scores`` within :data:`TIE` of each column's lowest.

    Equal configurations must tie, and a tie goes to the first, as ``argmin`` would do
    with exact ties; but a matrix product or a sum rounds each row in its own order on
    some CPUs (the blocking of the BLAS kernel, the alignment of the row), so equal rows
    can differ in their last bits, and ``argmin`` would pick among them by rounding.
    """
    lowest = scores.min(axis=0)
    return np.argmax(scores <= lowest + TIE * np.abs(lowest), axis=0)


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


#: what :func:`summary` writes besides the rows and the time (a resized search drops them)
SUMMARY_KEYS = ("validation_start", "validation_end", "chosen")


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
        "period with seeds of each ticker's own, score the untuned LSTM and a longer "
        "training of the untuned and the chosen configuration on the same days, walk the "
        "chosen and the untuned one over the test period, and write every score and each "
        "seed's validation forecasts as JSON. A run that stops can be resumed: run the "
        "same command again, and it goes on from the last configuration it saved.",
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
    for name, text in (
        ("epochs", "maximum epochs of the longer training"),
        ("patience", "patience of the longer training"),
    ):
        parser.add_argument(
            f"--longer-{name}",
            type=int,
            default=LONGER[name],
            help=f"{text} (default: %(default)s)",
        )
    parser.set_defaults(handler=_tune)


def _settings(args: argparse.Namespace, budget: Budget, base: BacktestConfig) -> dict:
    """What a results file was run with: a resumed run must match it exactly."""
    longer = {"epochs": args.longer_epochs, "patience": args.longer_patience}
    longer_config(base, **longer)  # refuses bad values before any training
    return {
        "budget": asdict(budget),
        "space": {name: list(values) for name, values in SPACE.items()},
        "base": {"test_start": args.test_start, "seeds": base.seeds},
        "tickers": list(args.tickers),
        "seeding": {
            "search": "10_000 * seed + fold + ticker offset",
            "ticker_offset": f"{SEED_STRIDE} * (1 + crc32(ticker))",
            "test": "10_000 * seed + fold, as the chapter's walks",
        },
        "longer": longer,
    }


def command_line(args: argparse.Namespace) -> str:
    """The command that writes (or resumes) these results, every setting spelled out."""
    return (
        f"lstm-study tune --json {args.json} --tickers {' '.join(args.tickers)} "
        f"--test-start {args.test_start} --configurations {args.configurations} "
        f"--seeds {args.seeds} --epochs {args.epochs} --patience {args.patience} "
        f"--validation-days {args.validation_days} "
        f"--longer-epochs {args.longer_epochs} --longer-patience {args.longer_patience}"
    )


def _resumed(path: Path, settings: dict) -> dict | None:
    """The results an interrupted run with the same settings left at ``path``, or None."""
    if not path.exists():
        return None
    try:
        results = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise ConfigError(
            f"--json {path} exists and is not a tuning results file ({error}); "
            "choose another file or delete it"
        ) from None
    stored = dict(results.get("budget") or {})
    wanted = settings["budget"]["configurations"]
    # Only the number of configurations may change: a smaller draw is the start of a
    # larger one (draw), so the rows already scored stay valid in either direction, as
    # long as none would be dropped.
    resized = stored.get("configurations") != wanted
    stored["configurations"] = wanted
    differing = [
        name
        for name, value in settings.items()
        if (stored if name == "budget" else results.get(name)) != value
    ]
    if differing:
        raise ConfigError(
            f"--json {path} holds a search with other settings "
            f"({', '.join(differing)} differ): choose another file or delete it"
        )
    if resized:
        most = max((len(e["rows"]) for e in results["searches"]), default=0)
        if most > wanted:
            raise ConfigError(
                f"--json {path} holds {most} scored configurations of a ticker: "
                f"--configurations {wanted} would drop some; give at least {most}"
            )
        for entry in results["searches"]:
            if len(entry["rows"]) < wanted:  # to be searched further: choose again
                for key in (*SUMMARY_KEYS, "validation_actual", "extra", "test"):
                    entry.pop(key, None)
                entry.pop("extra_seconds", None)
        results["budget"] = settings["budget"]
        results["complete"] = False
    return results


def extra_runs(
    history: PriceSeries,
    base: BacktestConfig,
    chosen: dict[str, Any],
    budget: Budget,
    longer: dict[str, int],
) -> dict[str, dict[str, Any]]:
    """The untuned LSTM, and it and the chosen one trained longer, on the search's days.

    The same validation days and the same seeds as the search's configurations.
    """
    untuned = reference_config(base, budget, history.ticker)
    tuned = search_config(base, chosen, budget, history.ticker)
    configs = {
        "untuned": untuned,
        "untuned_longer": longer_config(untuned, **longer),
        "chosen_longer": longer_config(tuned, **longer),
    }
    params = {
        "untuned": {},
        "untuned_longer": {},
        "chosen_longer": dict(chosen),
    }
    calls = [
        dict(history=history, config=config, params=params[name])
        for name, config in configs.items()
    ]
    scored = parallel.run_all(score_walk, calls, device=resolve_device(base.device))
    return dict(zip(configs, scored, strict=True))


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
    settings = _settings(args, budget, base)
    for ticker in args.tickers:
        ticker_seed_offset(ticker)

    seed_everything(0, threads=1)
    session = {
        "machine": machine(),
        "started": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "seconds": 0.0,
        "configurations": budget.configurations,
    }
    results = _resumed(args.json, settings)
    if results is None:
        results = {
            "command": "",
            "machine": session["machine"],
            "started": session["started"],
            "wall_seconds": 0.0,
            "complete": False,
            **settings,
            "sessions": [],
            "searches": [],
        }
    else:
        print(f"resuming {args.json}: {len(results['searches'])} ticker(s) begun")
    results["command"] = command_line(args)
    results["sessions"].append(session)
    previous_wall = sum(s["seconds"] for s in results["sessions"][:-1])
    clock = time.perf_counter()

    def save() -> None:
        # after each group of configurations: an interrupted run keeps what it finished
        session["seconds"] = round(time.perf_counter() - clock, 1)
        results["wall_seconds"] = round(previous_wall + session["seconds"], 1)
        write_atomically(
            args.json, json.dumps(results, indent=1) + "\n", "the tuning results"
        )

    print(f"budget: {budget.describe()}")
    entries = {entry["ticker"]: entry for entry in results["searches"]}
    for ticker in args.tickers:
        frame = load_prices([ticker], source="snapshot")
        history = pre_test_history(frame, base, ticker)
        if ticker not in entries:
            entries[ticker] = {
                "ticker": ticker,
                "seed_offset": ticker_seed_offset(ticker),
                "seconds": 0.0,
                "rows": [],
            }
            results["searches"].append(entries[ticker])
        entry = entries[ticker]
        if "chosen" not in entry:
            spent = entry["seconds"]

            def keep(rows: list[dict[str, Any]], entry=entry, spent=spent) -> None:
                entry["rows"] = rows
                entry["seconds"] = round(spent + time.perf_counter() - begun, 1)
                save()

            begun = time.perf_counter()
            result = search(
                frame,
                base,
                SPACE,
                budget,
                ticker=ticker,
                progress=True,
                rows=entry["rows"],
                on_progress=keep,
            )
            entry.update(summary(result, ticker))
            entry["seconds"] = round(spent + result.seconds, 1)
            entry["validation_actual"] = encode(
                validation_actual(history, budget), "<f8"
            )
            save()
        if "extra" not in entry:
            started = time.perf_counter()
            entry["extra"] = extra_runs(
                history, base, entry["chosen"], budget, settings["longer"]
            )
            entry["extra_seconds"] = round(time.perf_counter() - started, 1)
            save()
        if "test" not in entry:
            # The choice is made; only now is the test period walked, tuned and untuned.
            entry["test"] = evaluate_on_test(
                frame, base, entry["chosen"], budget, ticker
            )
            save()
        extra = entry["extra"]
        print(
            f"{ticker}: chose {describe_params(entry['chosen'])} "
            f"(validation score {min(row['score'] for row in entry['rows']):.4f}; "
            f"trained longer {extra['chosen_longer']['score']:.4f}; untuned "
            f"{extra['untuned']['score']:.4f}, longer "
            f"{extra['untuned_longer']['score']:.4f}); "
            f"test RMSE / RW {entry['test']['tuned']['ratio']:.4f} tuned, "
            f"{entry['test']['untuned']['ratio']:.4f} untuned"
        )
    results["complete"] = all(
        "test" in entries.get(ticker, {}) for ticker in args.tickers
    )
    save()
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
    "LONGER",
    "SEED_STRIDE",
    "SPACE",
    "Budget",
    "SearchResult",
    "SelectionBootstrap",
    "candidate",
    "check_space",
    "describe_params",
    "decode",
    "draw",
    "encode",
    "evaluate_on_test",
    "extra_runs",
    "forecasts",
    "load_results",
    "longer_config",
    "pre_test_history",
    "reference_config",
    "search",
    "search_config",
    "seed_choices",
    "selection_bootstrap",
    "ticker_seed_offset",
    "tuned_config",
    "validation_actual",
    "validation_losses",
]
