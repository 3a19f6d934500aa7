"""Time one training step of every recurrent model on each of its loops (readable, fused, compiled).

Usage: ``python benchmarks/bench_cells.py [--threads 2] [--rounds 7]``. Prints one row per model
and shape: the median milliseconds of one step (forward, sum of the output, backward) on each
loop, and on torch's own layer where it has one, with torch.utils.benchmark, the loops timed in
turn so that load from elsewhere hits them alike. Two shapes: the
predictor's (batch 64, 60 steps, 5 inputs, 64 units) and the ablation sweep's adding problem
(batch 128, 100 steps, 2 inputs, 16 LSTM units, the other models at the same parameter count).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
from collections.abc import Callable

import torch
from torch import nn
from torch.utils import benchmark

from lstm_study.experiments.ablation import MODELS, matched_hidden
from lstm_study.nn import GRU, LSTM, RNN

LOOPS = ("readable", "fused", "compiled")


def _layer(kind: str, inputs: int, hidden: int, backend: str) -> nn.Module:
    if kind == "GRU":
        return GRU(inputs, hidden, backend=backend)
    if kind == "RNN":
        return RNN(inputs, hidden, backend=backend)
    return LSTM(inputs, hidden, variant=kind, backend=backend)


def _torch_layer(kind: str, inputs: int, hidden: int) -> nn.Module | None:
    """torch's own layer for the standard LSTM, the GRU and the RNN; None for a variant."""
    layer = {"standard": nn.LSTM, "GRU": nn.GRU, "RNN": nn.RNN}.get(kind)
    return None if layer is None else layer(inputs, hidden)


def training_step(layer: nn.Module, x: torch.Tensor) -> Callable[[], None]:
    """One training step of ``layer`` on ``x``: clear the gradients, forward, sum, backward."""

    def step() -> None:
        for parameter in layer.parameters():
            parameter.grad = None
        layer(x)[0].sum().backward()

    return step


def interleaved_ms(
    steps: dict[str, Callable[[], None]], rounds: int, block_time: float
) -> dict[str, float]:
    """Median milliseconds per call of each step, timed in turn over ``rounds`` blocks, so
    that load from other processes hits every loop alike."""
    threads = torch.get_num_threads()
    timers = {}
    for name, step in steps.items():
        step()  # warm-up (and the build of the compiled loop on first use)
        timers[name] = benchmark.Timer(
            "step()", globals={"step": step}, num_threads=threads
        )
    number = {
        name: max(1, round(block_time / timer.timeit(2).median))
        for name, timer in timers.items()
    }
    seconds: dict[str, list[float]] = {name: [] for name in steps}
    for _ in range(rounds):
        for name, timer in timers.items():
            seconds[name].append(timer.timeit(number[name]).median)
    return {name: statistics.median(values) * 1e3 for name, values in seconds.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--block-time", type=float, default=0.05)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    print(f"torch {torch.__version__}, {args.threads} threads, {platform.machine()}")
    print(f"load average {os.getloadavg()[0]:.2f} at the start")
    shapes = {
        "predictor": (64, 60, 5, lambda kind: 64),
        "adding (ablation)": (128, 100, 2, lambda kind: matched_hidden(kind, 2, 1)),
    }
    columns = (*LOOPS, "torch")
    print(
        f"{'shape':18} {'model':21} {'hidden':>6} "
        + " ".join(f"{n:>9}" for n in columns)
    )
    for shape, (batch, seq_len, inputs, width) in shapes.items():
        x = torch.randn(seq_len, batch, inputs)
        for kind in MODELS:
            hidden = width(kind)
            steps = {
                loop: training_step(_layer(kind, inputs, hidden, loop), x)
                for loop in LOOPS
                if loop != "fused" or kind == "standard"
            }
            reference = _torch_layer(kind, inputs, hidden)
            if reference is not None:
                steps["torch"] = training_step(reference, x)
            ms = interleaved_ms(steps, args.rounds, args.block_time)
            cells = [
                f"{ms[name]:9.2f}" if name in ms else f"{'-':>9}" for name in columns
            ]
            print(f"{shape:18} {kind:21} {hidden:6d} " + " ".join(cells), flush=True)
    print(f"load average {os.getloadavg()[0]:.2f} at the end")


if __name__ == "__main__":
    main()
