"""Does learning the adding problem need the gradient to reach the first marker? Cut it.

The intervention behind chapter 3's causal sentence. The standard LSTM is trained on the
adding problem at ``T = 100`` exactly as in ``lstm-study sweep adding`` (its settings, the
rate the tuning stage chose for it at ``T = 100``, read from the committed
``adding_tune.json``, not tuned again), with one change: the backward pass is cut ``k`` steps
before the end (:class:`CutRegressor`). The forward pass is unchanged (the same numbers, bit
for bit); only the gradient stops: no parameter learns from what happened more than ``k``
steps before the answer. The first marker lies in the first half (at least ``T/2`` steps
back), the second in the second half, so with ``k <= T/2`` no gradient from the target
reaches a first marker. With ``k = T`` nothing is cut: that run is, bit for bit, the adding
sweep's test run of the same seed (tested), so the control is read from ``adding_test.json``
(:func:`control_runs`) rather than run twice.

Each run also records how its prediction depends on the two marked values: the least-squares
coefficients of the prediction on (first value, second value, 1) over the test sequences. A
model that learned the sum has both near 1; one that learned only the second value has the
first near 0 and an error near the variance of one ``U(0, 1)`` value, 1/12.

Run by ``lstm-study sweep gradient-cut`` (resumable; results in :data:`CUT_PATH`).
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
from torch import Tensor, nn

from lstm_study.errors import ConfigError
from lstm_study.experiments import adding
from lstm_study.experiments.ablation import make_model
from lstm_study.experiments.runner import Sweep, entries, grid, load, run_sweep
from lstm_study.files import check_outputs
from lstm_study.models import SequenceRegressor
from lstm_study.training import train_on_adding

#: where the committed results live
CUT_PATH = Path(__file__).with_name("gradient_cut.json")
#: the model (ablation's name for the LSTM) and the length it is trained at
MODEL = "standard"
LENGTH = 100
#: how many steps back from the end the gradient reaches (the control, not cut, is the adding
#: sweep's run: :func:`control_runs`)
CUTS = (5, 10, 50)
SEEDS = tuple(range(10))


class CutRegressor(nn.Module):
    """A :class:`SequenceRegressor` whose backward pass stops ``cut`` steps before the end.

    The layer runs over the first ``T - cut`` steps, its state is detached, and it runs on
    over the last ``cut`` steps from that state: the forward pass computes what the wrapped
    model computes, while the gradient reaches only the last ``cut`` steps. With ``cut >= T``
    it is the wrapped model.
    """

    def __init__(self, model: SequenceRegressor, cut: int) -> None:
        super().__init__()
        if isinstance(cut, bool) or not isinstance(cut, int) or cut < 1:
            raise ConfigError(f"cut must be a whole number of steps >= 1, got {cut!r}")
        if model.per_step:
            raise ConfigError(
                "the gradient cut is for a model that reads the last step"
            )
        self.model = model
        self.cut = cut

    def forward(self, x: Tensor) -> Tensor:
        """Map (batch, T, inputs) to the wrapped model's output, cutting the gradient."""
        start = x.shape[1] - self.cut
        if start <= 0:
            return self.model(x)
        _, state = self.model.recurrent(x[:, :start])
        output, _ = self.model.recurrent(
            x[:, start:], tuple(part.detach() for part in state)
        )
        return self.model.head(output[:, -1])


def cut_model(model: str, forget_bias: float, cut: int) -> CutRegressor:
    """A fresh model of ``model`` (ablation's kinds) for the adding problem, cut ``cut`` back."""
    return CutRegressor(make_model(model, "adding", forget_bias), cut)


def marked_values(x: Tensor) -> tuple[Tensor, Tensor]:
    """The first and the second marked value of each adding-problem sequence."""
    values, markers = x[..., 0], x[..., 1] > 0.5
    if not (markers.sum(1) == 2).all():
        raise ConfigError("each sequence must have exactly two markers")
    positions = markers.nonzero()[:, 1].reshape(-1, 2)  # row by row, in time order
    return values.gather(1, positions[:, :1])[:, 0], values.gather(1, positions[:, 1:])[
        :, 0
    ]


def dependence(prediction: Tensor, x: Tensor) -> dict[str, float]:
    """Least-squares coefficients of the prediction on the two marked values (and 1)."""
    first, second = marked_values(x)
    design = torch.stack([first, second, torch.ones_like(first)], dim=1).double()
    coef = torch.linalg.lstsq(design, prediction.reshape(-1, 1).double()).solution
    return {"weight_first": coef[0, 0].item(), "weight_second": coef[1, 0].item()}


def run(
    *,
    cut: int,
    seed: int,
    model: str,
    length: int,
    lr: float,
    steps: int,
    batch_size: int,
    clip_norm: float,
    forget_bias: float,
    eval_size: int,
    curve_every: int,
) -> dict[str, Any]:
    """Train one model with its gradient cut ``cut`` steps back; score it on the test set."""
    began = time.perf_counter()
    net, history = train_on_adding(
        partial(cut_model, model, forget_bias, cut),
        length,
        seed=seed,
        steps=steps,
        batch_size=batch_size,
        lr=lr,
        clip_norm=clip_norm,
    )
    x, y = adding.evaluation_set("test", length, eval_size)
    first, _ = marked_values(x)
    with torch.no_grad():
        prediction = net.model(x)  # the uncut forward pass: the same numbers
        mse = (
            math.nan
            if history.diverged
            else nn.functional.mse_loss(prediction, y).item()
        )
        baseline = nn.functional.mse_loss(torch.ones_like(y), y).item()
        # the error of knowing the second value exactly and guessing the first's mean
        second_only = (first - first.mean()).pow(2).mean().item()
    losses = history.loss
    curve = [
        statistics.fmean(losses[k : k + curve_every])
        for k in range(0, len(losses), curve_every)
    ]
    weights = (
        {"weight_first": math.nan, "weight_second": math.nan}
        if history.diverged
        else dependence(prediction, x)
    )
    return {
        "mse": mse,
        "baseline": baseline,
        "second_only": second_only,
        "solved": bool(mse < adding.SOLVED_SHARE * baseline),
        "diverged": history.diverged,
        **weights,
        "curve": curve,
        "seconds": round(time.perf_counter() - began, 2),
    }


def chosen_rate(tune_path: Path = adding.TUNE_PATH) -> float:
    """The rate the adding sweep's tuning stage chose for :data:`MODEL` at ``T = 100``."""
    return adding.chosen_rates(load(tune_path))[MODEL, 100]


def control_runs(tested: dict[str, Any], tuned: dict[str, Any]) -> list[dict[str, Any]]:
    """The uncut runs: the adding sweep's test runs of :data:`MODEL` at ``T = 100``, its rate.

    A run with nothing cut is :func:`lstm_study.experiments.adding.run` of the same key, so
    these are the control, provided the two sweeps share their settings (checked).
    """
    lr = adding.chosen_rates(tuned)[MODEL, 100]
    runs = entries(tested, model=MODEL, length=100, lr=lr, split="test")
    if [run["key"]["seed"] for run in runs] != list(SEEDS):
        raise ConfigError(
            f"the adding sweep's test file lacks {MODEL} at T = 100 for seeds {SEEDS}; "
            "run 'lstm-study sweep adding' to the end"
        )
    if tested["settings"] != adding.SETTINGS:
        raise ConfigError(
            "the adding sweep ran with other settings than the gradient cut's"
        )
    return runs


def cut_sweep(settings: dict[str, Any], lr: float) -> Sweep:
    """Every cut of :data:`CUTS` on every seed of :data:`SEEDS`, at ``lr``."""
    unknown = [cut for cut in CUTS if not 1 <= cut <= LENGTH]
    if unknown:
        raise ConfigError(f"cuts must lie between 1 and T = {LENGTH}, got {unknown}")
    full = {**settings, "model": MODEL, "length": LENGTH, "lr": lr}
    # the widest cut first: on a busy machine, the runs that answer the question soonest
    keys = grid(cut=sorted(CUTS, reverse=True), seed=SEEDS)
    return Sweep("gradient-cut", run, keys, full)


def sweep_command(args: argparse.Namespace) -> int:
    """``lstm-study sweep gradient-cut``: run the cuts not yet in the results file."""
    settings = dict(adding.SETTINGS)
    if args.quick:
        settings.update(steps=3, eval_size=50, curve_every=1)
    path = args.dir / CUT_PATH.name
    check_outputs({"gradient-cut results": path})
    command = shlex.join(["lstm-study", *sys.argv[1:]]) if sys.argv[1:] else "sweep"
    sweep = cut_sweep(settings, chosen_rate())
    results = run_sweep(sweep, path, command=command, limit=args.limit)
    print(f"gradient cut: {len(results['runs'])} of {len(sweep.keys)} runs in {path}")
    return 0
