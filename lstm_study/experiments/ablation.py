"""Which parts of the LSTM matter: every cell variant, the GRU and an RNN on two tasks, over seeds.

The chapter "Which parts of the LSTM matter" reads the committed results of :func:`sweep`
(:data:`RESULTS_PATH`) and re-runs a slice of it live with the same functions. The sweep is
``lstm-study ablate --json PATH``. Every run is seeded, uses one thread, and is a plain function
of (model, task, seed) and :class:`Settings`, so any entry can be reproduced on its own: the
chapter re-runs three with the settings the file records and checks each against the committed
entry of the same seed (:func:`agrees`).

Tasks:

- ``adding``: the adding problem of chapter 3 at ``T = 100`` (a plain RNN fails there); score:
  test MSE on 2,000 held-out sequences (predicting 1 scores about 1/6).
- ``reber``: the continual embedded Reber grammar (Gers et al., 2000): trained on windows of a
  stream, tested on long streams with no reset; score: the error rate of the one prediction that
  needs long memory, the symbol that repeats the string's second symbol.
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn
from tqdm import tqdm

from lstm_study.arguments import count
from lstm_study.errors import ConfigError
from lstm_study.files import check_outputs, write_atomically
from lstm_study.models import SequenceRegressor, count_parameters
from lstm_study.nn import GRU, LSTM, RNN, VARIANTS
from lstm_study.runtime import seed_everything
from lstm_study.tasks import adding_problem, continual_reber
from lstm_study.training import train

#: where the committed sweep lives
RESULTS_PATH = Path(__file__).with_name("ablation_results.json")
#: the models of the table: the LSTM variants, then the GRU and a plain RNN for reference
MODELS = (*VARIANTS, "GRU", "RNN")
TASKS = ("adding", "reber")
#: the standard LSTM's width; every other model gets the width closest to its parameter count
LSTM_HIDDEN = 16
#: the loops a run may ask for (see :mod:`lstm_study.nn.lstm`)
LOOPS = ("auto", "compiled", "fused", "readable")
#: how far a live re-run may land from the committed entry of the same seed, per score: a
#: relative tolerance for the adding problem's MSE, an absolute one for the grammar's error rate.
#: Re-running the standard LSTM's seed 0 with the committed loops on an Intel Xeon, under its
#: AVX-512 kernels, under ``ATEN_CPU_CAPABILITY=default``, and with MKL held to AVX2, with either
#: candidate form of the fused loop, gave adding-problem MSEs from 0.006192 to 0.006422 against
#: the committed 0.006257 (an AMD EPYC): at most 2.6 % away; the grammar's scores came out
#: identical. 20 % leaves several times that margin for other processors, while the other seeds'
#: entries of a solved model differ by factors of 2.5 and more, and the compiled loop, which sums
#: in another order, landed 30 to 45 % away: the check fails on a wrong entry, seed or loop.
#: Chapter 5 now checks the variants sweep (:mod:`lstm_study.experiments.variants`, compiled
#: loop) with the same tolerances: its standard LSTM's seed 0 on the adding problem, re-run under
#: ``ATEN_CPU_CAPABILITY=default`` on the Intel Xeon that made it (2026-12-06), moved by 10 %,
#: its grammar runs not at all.
LIVE_TOLERANCE = {"adding": 0.2, "reber": 0.01}


@dataclass(frozen=True)
class Settings:
    """Everything that fixes a run besides the model, the task and the seed."""

    adding_length: int = 100
    adding_steps: int = 500
    adding_batch: int = 128
    adding_lr: float = 0.05
    adding_test: int = 2000
    reber_window: int = 40
    reber_steps: int = 600
    reber_batch: int = 32
    reber_lr: float = 0.03
    reber_test_streams: int = 8
    reber_test_length: int = 3000
    clip_norm: float = 1.0
    forget_bias: float = 1.0
    curve_every: int = 25
    #: the loop every layer runs: ``"fused"`` runs the fused loop where the family has one (the
    #: standard LSTM) and the readable loop elsewhere (the variants, the GRU, the RNN), the loops
    #: the committed sweep ran, and so the default for a results file that does not name one;
    #: ``"auto"`` runs the compiled loop (faster, other last digits)
    backend: str = "fused"


def _layer(kind: str, input_size: int, hidden: int) -> nn.Module:
    if kind == "GRU":
        return GRU(input_size, hidden, batch_first=True)
    if kind == "RNN":
        return RNN(input_size, hidden, batch_first=True)
    return LSTM(input_size, hidden, batch_first=True, variant=kind)


def _set_loop(layer: nn.Module, backend: str) -> None:
    """Run ``layer`` on ``backend``; a family without it (no fused GRU or RNN) runs its readable loop."""
    if backend not in LOOPS:
        raise ConfigError(f"backend must be one of {LOOPS}, got {backend!r}")
    layer.backend = backend if backend in layer.backends else "readable"


def set_forget_bias(layer: nn.Module, bias: float) -> None:
    """Add ``bias`` to the forget gate's bias; for the coupled cell (f = 1 - i), take it from i."""
    if not isinstance(layer, LSTM) or bias == 0:
        return
    if "f" in layer.blocks:
        rows, sign = layer.gate_rows("f"), 1.0
    elif layer.variant == "coupled":
        rows, sign = layer.gate_rows("i"), -1.0
    else:
        return  # no forget gate at all
    with torch.no_grad():
        layer.bias_ih_l0[rows] += sign * bias


def matched_hidden(kind: str, input_size: int, out_features: int) -> int:
    """The width at which ``kind`` has the parameter count closest to the standard LSTM's.

    It builds models to count them, so it draws from the global random state: left uncached on
    purpose, so that every run that calls it after seeding draws the same (the committed sweep
    was made that way, and its entries reproduce only so).
    """

    def size(hidden: int, name: str) -> int:
        return count_parameters(
            SequenceRegressor(_layer(name, input_size, hidden), out_features)
        )

    target = size(LSTM_HIDDEN, "standard")
    return min(
        range(1, 4 * LSTM_HIDDEN), key=lambda hidden: abs(size(hidden, kind) - target)
    )


def make_model(
    kind: str, task: str, forget_bias: float = 1.0, backend: str = "auto"
) -> SequenceRegressor:
    """The model of one table row for one task, at the standard LSTM's parameter count."""
    if kind not in MODELS:
        raise ConfigError(f"model must be one of {MODELS}, got {kind!r}")
    if task not in TASKS:
        raise ConfigError(f"task must be one of {TASKS}, got {task!r}")
    inputs, outputs = (2, 1) if task == "adding" else (7, 7)
    layer = _layer(kind, inputs, matched_hidden(kind, inputs, outputs))
    _set_loop(layer, backend)
    set_forget_bias(layer, forget_bias)
    return SequenceRegressor(layer, outputs, per_step=task == "reber")


def _curve(losses: list[float], every: int) -> list[float]:
    """Mean training loss over consecutive blocks of ``every`` steps."""
    blocks = [losses[k : k + every] for k in range(0, len(losses), every)]
    return [sum(block) / len(block) for block in blocks]


def adding_test_set(settings: Settings) -> tuple[Tensor, Tensor]:
    """The held-out adding-problem sequences every model is scored on."""
    generator = torch.Generator().manual_seed(10_000 + settings.adding_length)
    return adding_problem(
        settings.adding_test, settings.adding_length, generator=generator
    )


def run_adding(
    kind: str,
    seed: int,
    settings: Settings = Settings(),
    forget_bias: float | None = None,
) -> dict[str, Any]:
    """Train one model on the adding problem; return its test MSE and its learning curve."""
    batches = seed_everything(seed, threads=1)
    bias = settings.forget_bias if forget_bias is None else forget_bias
    model = make_model(kind, "adding", bias, settings.backend)
    history = train(
        model,
        lambda n: adding_problem(n, settings.adding_length, generator=batches),
        steps=settings.adding_steps,
        batch_size=settings.adding_batch,
        lr=settings.adding_lr,
        clip_norm=settings.clip_norm,
    )
    x, y = adding_test_set(settings)
    with torch.no_grad():
        mse = (
            nn.functional.mse_loss(model(x), y).item()
            if not history.diverged
            else math.nan
        )
    return {
        "score": mse,
        "curve": _curve(history.loss, settings.curve_every),
        "parameters": count_parameters(model),
    }


def reber_loss(logits: Tensor, target: Tensor) -> Tensor:
    return nn.functional.binary_cross_entropy_with_logits(logits, target)


def reber_test_set(settings: Settings) -> tuple[Tensor, Tensor, Tensor]:
    """The long streams, with no reset, on which every model is scored."""
    generator = torch.Generator().manual_seed(20_000)
    streams, length = settings.reber_test_streams, settings.reber_test_length
    return continual_reber(streams, length, generator=generator)


@torch.no_grad()
def reber_scores(
    model: SequenceRegressor, x: Tensor, y: Tensor, hard: Tensor
) -> dict[str, Any]:
    """Error rates of the long-memory predictions and of all predictions; the cell's size over time.

    A prediction is right when the symbols with probability above 0.5 are exactly those the
    grammar allows next. ``cell_size`` is the mean over streams of the largest |c| of any unit,
    per step (empty for models without a cell).
    """
    model.eval()
    layer = model.recurrent
    if isinstance(layer, LSTM):
        with layer.recording_gates() as traces:
            output, _ = layer(x)
        cell = traces[0].c.abs().amax(-1).mean(0).tolist()
    else:
        output, _ = layer(x)
        cell = []
    wrong = ((model.head(output) > 0) != (y > 0.5)).any(-1)
    return {
        "score": wrong[hard].double().mean().item(),
        "all_error": wrong.double().mean().item(),
        "cell_size": cell,
    }


def run_reber(
    kind: str, seed: int, settings: Settings = Settings(), keep_cell: bool = False
) -> dict[str, Any]:
    """Train one model on windows of the continual Reber stream; score it on long streams."""
    batches = seed_everything(seed, threads=1)
    model = make_model(kind, "reber", settings.forget_bias, settings.backend)

    def make_batch(n: int) -> tuple[Tensor, Tensor]:
        x, y, _ = continual_reber(n, settings.reber_window, generator=batches)
        return x, y

    history = train(
        model,
        make_batch,
        steps=settings.reber_steps,
        batch_size=settings.reber_batch,
        lr=settings.reber_lr,
        clip_norm=settings.clip_norm,
        loss_fn=reber_loss,
    )
    result = reber_scores(model, *reber_test_set(settings))
    if history.diverged:
        result["score"] = math.nan
    cell = result.pop("cell_size")
    if keep_cell:
        result["cell_size"] = cell
    elif cell:  # the first and the last tenth of the stream: enough to see a drift
        tenth = max(1, len(cell) // 10)
        result["cell_first"] = statistics.fmean(cell[:tenth])
        result["cell_last"] = statistics.fmean(cell[-tenth:])
    return {
        **result,
        "curve": _curve(history.loss, settings.curve_every),
        "parameters": count_parameters(model),
    }


def summarise(values: list[float]) -> dict[str, float]:
    """Mean, sample standard deviation, min and max across seeds."""
    spread = statistics.stdev(values) if len(values) > 1 else 0.0
    return {
        "mean": statistics.fmean(values),
        "std": spread,
        "min": min(values),
        "max": max(values),
    }


def verdict(model: list[float], reference: list[float]) -> str:
    """'worse', 'better' or 'same' as the reference: only a gap beyond the seed spread counts.

    Lower scores are better. 'worse' means every seed of ``model`` scored worse than every
    seed of ``reference`` (the ranges do not overlap), 'better' the reverse; anything else
    is within the spread across seeds.
    """
    if min(model) > max(reference):
        return "worse"
    if max(model) < min(reference):
        return "better"
    return "same"


def sweep(
    seeds: tuple[int, ...] = (0, 1, 2),
    models: tuple[str, ...] = MODELS,
    biases: tuple[float, ...] = (0.0, 1.0, 3.0),
    settings: Settings = Settings(),
    progress: bool = True,
    on_run: Callable[[dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    """Run every model on every task and the forget-gate biases on the adding problem, per seed."""
    jobs: list[tuple[str, str, float | None, int]] = [
        (task, kind, None, seed) for task in TASKS for kind in models for seed in seeds
    ]
    jobs += [
        ("bias", "standard", bias, seed)
        for bias in biases
        if bias != settings.forget_bias
        for seed in seeds
    ]
    started = time.monotonic()
    runs: list[dict[str, Any]] = []
    for task, kind, bias, seed in tqdm(jobs, desc="ablate", disable=not progress):
        if task == "reber":
            result = run_reber(kind, seed, settings)
        else:
            result = run_adding(kind, seed, settings, forget_bias=bias)
        run = {
            "task": task,
            "model": kind,
            "seed": seed,
            "forget_bias": settings.forget_bias if bias is None else bias,
            **result,
        }
        runs.append(run)
        if on_run is not None:
            on_run(run)
    return {
        "machine": {
            "processor": platform.processor() or platform.machine(),
            "cpu": _cpu_name(),
            "cpu_capability": torch.backends.cpu.get_cpu_capability(),
            "threads": torch.get_num_threads(),
            "torch": torch.__version__,
            "python": platform.python_version(),
        },
        "finished": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "wall_seconds": round(time.monotonic() - started, 1),
        "seeds": list(seeds),
        "settings": asdict(settings),
        "runs": runs,
    }


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def load_results(path: Path | str = RESULTS_PATH) -> dict[str, Any]:
    """The committed sweep (or another one written by ``lstm-study ablate --json``)."""
    return json.loads(Path(path).read_text(encoding="utf-8"))


def table(results: dict[str, Any], task: str) -> dict[str, list[float]]:
    """Scores per model for one task, in seed order."""
    scores: dict[str, list[float]] = {}
    for run in results["runs"]:
        if run["task"] == task:
            scores.setdefault(run["model"], []).append(run["score"])
    return scores


def committed_score(
    results: dict[str, Any],
    task: str,
    model: str,
    seed: int,
    forget_bias: float | None = None,
) -> float:
    """The score of one committed run; ``forget_bias`` picks among the runs of task "bias"."""
    for run in results["runs"]:
        if (run["task"], run["model"], run["seed"]) == (task, model, seed) and (
            forget_bias is None or run["forget_bias"] == forget_bias
        ):
            return float(run["score"])
    raise ConfigError(
        f"the results hold no run of {model!r} on {task!r} with seed {seed}"
        + ("" if forget_bias is None else f" and forget bias {forget_bias}")
        + f"; they hold seeds {results['seeds']}"
    )


def agrees(task: str, live: float, committed: float) -> bool:
    """Whether a live re-run reproduces the committed entry of the same seed (:data:`LIVE_TOLERANCE`).

    Within 20 % of the committed MSE on the adding problem (``task`` "adding" or "bias"),
    within 0.01 of the committed error rate on the grammar; a diverged run (NaN) agrees only
    with a diverged entry.
    """
    if math.isnan(live) or math.isnan(committed):
        return math.isnan(live) and math.isnan(committed)
    if task in ("adding", "bias"):
        return abs(live - committed) <= LIVE_TOLERANCE["adding"] * abs(committed)
    if task == "reber":
        return abs(live - committed) <= LIVE_TOLERANCE["reber"]
    raise ConfigError(f"task must be one of {(*TASKS, 'bias')}, got {task!r}")


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``ablate`` subcommand."""
    parser = subparsers.add_parser(
        "ablate",
        help="run the LSTM ablation sweep of the chapter 'Which parts of the LSTM matter'",
        description="Train every LSTM variant, the GRU and an RNN on the adding problem and the "
        "continual Reber grammar over several seeds, and the forget-gate biases; "
        "write JSON.",
    )
    parser.add_argument(
        "--json", required=True, type=Path, help="where to write the results"
    )
    parser.add_argument(
        "--seeds",
        type=count("--seeds"),
        default=3,
        help="seeds per model and task (default 3, at most 100)",
    )
    parser.add_argument(
        "--models",
        nargs="+",
        choices=MODELS,
        default=list(MODELS),
        help="models to run (default: all)",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="a few training steps only: checks that the sweep runs, not what it finds",
    )
    parser.set_defaults(handler=_ablate)


def _ablate(args: argparse.Namespace) -> int:
    settings = Settings()
    if args.quick:
        settings = Settings(
            adding_steps=3,
            adding_test=50,
            reber_steps=3,
            reber_test_streams=2,
            reber_test_length=100,
            curve_every=1,
        )
    check_outputs({"--json": args.json})  # before the minutes of training, not after
    results = sweep(tuple(range(args.seeds)), tuple(args.models), settings=settings)
    write_atomically(
        args.json, json.dumps(results, indent=1) + "\n", "the ablation results"
    )
    print(f"wrote {len(results['runs'])} runs to {args.json}")
    return 0
