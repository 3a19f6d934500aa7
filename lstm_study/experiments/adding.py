"""The adding problem re-run as the classic experiment: RNN, LSTM and GRU, each at its own rate.

Two sweeps, run by ``lstm-study sweep adding`` (:mod:`lstm_study.experiments.runner`):

1. ``adding-tune``: every model at every length and every rate of :data:`RATES`, on the
   tuning seeds, scored on *validation* sequences (their own generator). Each (model,
   length) then gets the rate with the lowest median validation MSE (:func:`chosen_rates`).
2. ``adding-test``: every model at every length at its chosen rate, on :data:`TEST_SEEDS`
   (other seeds than tuning's), scored on the *test* sequences chapter 3 uses. The test
   sequences choose nothing.

Each run is a pure function of its key (:func:`run`): one thread, seeded, so any entry can be
re-run alone and give the same number on the same machine. The models are those of the
chapter "Which parts of the LSTM matter" (:func:`lstm_study.experiments.ablation.make_model`):
each at the standard LSTM's parameter count, the LSTM's forget bias raised by 1.
"""

from __future__ import annotations

import argparse
import math
import shlex
import statistics
import sys
import time
from functools import partial
from pathlib import Path
from typing import Any

import torch
from torch import nn

from lstm_study.errors import ConfigError
from lstm_study.experiments.ablation import make_model
from lstm_study.experiments.runner import (
    Sweep,
    best_rate,
    grid,
    median_score,
    run_two_stages,
)
from lstm_study.files import check_outputs
from lstm_study.tasks import adding_problem
from lstm_study.training import train_on_adding

#: where the committed results live
TUNE_PATH = Path(__file__).with_name("adding_tune.json")
TEST_PATH = Path(__file__).with_name("adding_test.json")
#: the models (ablation's names: "standard" is the LSTM), lengths and rates searched
MODELS = ("RNN", "standard", "GRU")
LENGTHS = (50, 100, 200)
RATES = (0.003, 0.01, 0.03, 0.1)
TUNE_SEEDS = (100, 101, 102)
TEST_SEEDS = tuple(range(10))
#: everything else that fixes a run
SETTINGS: dict[str, Any] = {
    "steps": 2000,
    "batch_size": 128,
    "clip_norm": 1.0,
    "forget_bias": 1.0,
    "eval_size": 2000,
    "curve_every": 100,
}
#: a run "solves" the task when its MSE is below this share of predicting 1's (about 1/6)
SOLVED_SHARE = 0.1


def evaluation_set(split: str, length: int, size: int) -> tuple[torch.Tensor, ...]:
    """Validation or test sequences of ``length`` steps; the test ones are chapter 3's."""
    if split not in ("valid", "test"):
        raise ConfigError(f"split must be 'valid' or 'test', got {split!r}")
    seed = (1000 if split == "test" else 50_000) + length
    return adding_problem(size, length, generator=torch.Generator().manual_seed(seed))


def run(
    *,
    model: str,
    length: int,
    lr: float,
    seed: int,
    split: str,
    steps: int,
    batch_size: int,
    clip_norm: float,
    forget_bias: float,
    eval_size: int,
    curve_every: int,
) -> dict[str, Any]:
    """Train one model on fresh batches; score it on the split's sequences."""
    began = time.perf_counter()
    net, history = train_on_adding(
        partial(make_model, model, "adding", forget_bias),
        length,
        seed=seed,
        steps=steps,
        batch_size=batch_size,
        lr=lr,
        clip_norm=clip_norm,
    )
    x, y = evaluation_set(split, length, eval_size)
    with torch.no_grad():
        mse = math.nan if history.diverged else nn.functional.mse_loss(net(x), y).item()
        baseline = nn.functional.mse_loss(torch.ones_like(y), y).item()
    losses = history.loss
    curve = [
        statistics.fmean(losses[k : k + curve_every])
        for k in range(0, len(losses), curve_every)
    ]
    return {
        "mse": mse,
        "baseline": baseline,
        "solved": bool(mse < SOLVED_SHARE * baseline),
        "diverged": history.diverged,
        "curve": curve,
        "seconds": round(time.perf_counter() - began, 2),
    }


def tune_sweep(settings: dict[str, Any] = SETTINGS) -> Sweep:
    """Stage 1: every model, length and rate on the tuning seeds, validation scores."""
    keys = grid(
        model=MODELS, length=LENGTHS, lr=RATES, seed=TUNE_SEEDS, split=["valid"]
    )
    return Sweep("adding-tune", run, keys, dict(settings))


def chosen_rates(tuned: dict[str, Any]) -> dict[tuple[str, int], float]:
    """Per (model, length), the rate with the lowest median validation MSE (diverged: inf)."""
    return {
        (model, length): best_rate(
            tuned,
            {"model": model, "length": length},
            RATES,
            len(TUNE_SEEDS),
            lambda runs: median_score(runs, "mse", math.inf),
            "adding",
        )
        for model in MODELS
        for length in LENGTHS
    }


def test_sweep(tuned: dict[str, Any], settings: dict[str, Any] = SETTINGS) -> Sweep:
    """Stage 2: every model and length at its chosen rate on the test seeds, test scores."""
    rates = chosen_rates(tuned)
    keys = tuple(
        {"model": model, "length": length, "lr": rates[model, length], "seed": seed,
         "split": "test"}
        for model in MODELS for length in LENGTHS for seed in TEST_SEEDS
    )  # fmt: skip
    return Sweep("adding-test", run, keys, dict(settings))


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``sweep`` subcommand."""
    parser = subparsers.add_parser(
        "sweep",
        help="run a declared experiment sweep (resumable; results committed with the book)",
        description="Run a sweep. 'adding': RNN, LSTM and GRU on the adding problem at "
        "T = 50, 100, 200, each rate chosen on validation sequences, then 10 test seeds "
        "at it. 'gradient-cut': the LSTM at T = 100 at the rate 'adding' chose for it, "
        "its backward pass cut 5, 10 or 50 steps before the end, 10 seeds. "
        "'variants': every LSTM variant, the GRU and an RNN on the adding problem and the "
        "continual Reber grammar, and the forget bias at 0, +1, +3, each rate chosen on "
        "validation data, then 10 test seeds at it. "
        "'recall': chapter 1's delayed recall, the RNN and the LSTM at every lag, each "
        "rate chosen on validation sequences, then 10 test seeds at it. "
        "Resumes where its files stop.",
    )
    parser.add_argument(
        "name",
        choices=["adding", "gradient-cut", "variants", "recall"],
        help="the sweep to run",
    )
    parser.add_argument(
        "--dir",
        type=Path,
        default=TUNE_PATH.parent,
        help="folder of the results files (default: the package's, committed)",
    )
    parser.add_argument(
        "--limit", type=int, default=None, help="stop after this many new runs"
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="a few training steps only: checks that the sweep runs, not what it finds",
    )
    parser.set_defaults(handler=_sweep)


def _sweep(args: argparse.Namespace) -> int:
    if args.limit is not None and not 1 <= args.limit <= 100_000:
        raise ConfigError(f"--limit must be between 1 and 100000, got {args.limit}")
    if args.name == "gradient-cut":
        from lstm_study.experiments import gradient_cut  # it imports this module

        return gradient_cut.sweep_command(args)
    if args.name == "variants":
        from lstm_study.experiments import variants  # it imports ablation, as this does

        return variants.sweep_command(args)
    if args.name == "recall":
        from lstm_study.experiments import recall

        return recall.sweep_command(args)
    settings = dict(SETTINGS)
    if args.quick:
        settings.update(steps=3, eval_size=50, curve_every=1)
    tune_path = args.dir / TUNE_PATH.name
    test_path = args.dir / TEST_PATH.name
    check_outputs({"tuning results": tune_path, "test results": test_path})
    command = shlex.join(["lstm-study", *sys.argv[1:]]) if sys.argv[1:] else "sweep"
    tune = tune_sweep(settings)
    message = run_two_stages(
        tune,
        lambda tuned: test_sweep(tuned, settings),
        tune_path,
        test_path,
        command=command,
        limit=args.limit,
    )
    print(message)
    return 0
