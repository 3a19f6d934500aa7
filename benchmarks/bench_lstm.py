"""Time one LSTM training step, ours against torch.nn.LSTM, and keep the figures.

    .venv/bin/python benchmarks/bench_lstm.py              # CPU (2 threads), then CUDA if there is one
    .venv/bin/python benchmarks/bench_lstm.py --device cpu --threads 4
    make bench                                               # the same as the first line

Prints a table per device and writes it to benchmarks/results/<name>.json, the name made of
the device, the CPU (or GPU) and torch's CPU capability, for example cpu-amd-epyc-avx512.json,
so that figures from different machines sit side by side. Before timing it records the CPU
model, the vector kernels torch runs and the load average; on a busy machine (1-minute load
above 0.3 per core) it warns loudly and marks the file (``"busy": true``, ``-busy`` in its
name). See benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

from lstm_study.benchmark import (
    SHAPES,
    busy_warning,
    check_results,
    format_table,
    results_name,
    run_benchmark,
)
from lstm_study.errors import ConfigError
from lstm_study.files import write_atomically
from lstm_study.runtime import resolve_device

RESULTS = Path(__file__).resolve().parent / "results"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Read the command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--device",
        choices=["auto", "cpu", "cuda"],
        default="auto",
        help="'auto' runs the CPU and, when PyTorch sees a GPU, CUDA too (default)",
    )
    parser.add_argument(
        "--threads", type=int, default=2, help="CPU threads for torch (default 2)"
    )
    parser.add_argument(
        "--model",
        choices=["lstm", "rnn"],
        default="lstm",
        help="layer to compare with its torch.nn namesake (default lstm)",
    )
    parser.add_argument(
        "--shapes",
        nargs="+",
        choices=[s.name for s in SHAPES],
        default=[s.name for s in SHAPES],
    )
    parser.add_argument(
        "--min-run-time",
        type=float,
        default=5.0,
        help="seconds of timed runs per implementation and shape (default 5)",
    )
    parser.add_argument(
        "--warmup", type=int, default=3, help="untimed calls before timing (default 3)"
    )
    parser.add_argument(
        "--extras",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="also time the readable loop through torch.compile (and CUDA graphs on CUDA); "
        "its first call, the compile time, takes minutes on the CPU (default: on)",
    )
    parser.add_argument(
        "--output",
        type=Path,
        default=RESULTS,
        help="folder for <name>.json (default benchmarks/results)",
    )
    parser.add_argument(
        "--no-save", action="store_true", help="print only; write no JSON"
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark on each device asked for; print and save the tables."""
    args = parse_args(argv)
    if args.device == "auto":  # the CPU always, then CUDA when there is a GPU
        names = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    else:
        names = [args.device]
    try:
        devices = [resolve_device(name) for name in names]
    except ConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    shapes = [shape for shape in SHAPES if shape.name in args.shapes]
    for device in devices:
        results = run_benchmark(
            args.model, shapes, device, threads=args.threads, warmup=args.warmup,
            min_run_time=args.min_run_time, extras=args.extras,
        )  # fmt: skip
        check_results(results)
        warning = busy_warning(results["machine"])
        if warning:
            print(f"\n{'!' * 78}\n{warning}\n{'!' * 78}\n", file=sys.stderr, flush=True)
        print(format_table(results), end="\n\n", flush=True)
        if not args.no_save:
            args.output.mkdir(parents=True, exist_ok=True)
            path = args.output / f"{results_name(results)}.json"
            # atomic: a killed run leaves the previous file whole
            write_atomically(path, json.dumps(results, indent=2) + "\n", "the results")
            print(f"wrote {path}")
    if args.device == "auto" and not torch.cuda.is_available():
        print("no CUDA GPU visible to PyTorch: CUDA figures not taken")
    return 0


if __name__ == "__main__":
    sys.exit(main())
