"""Timing one training step of our recurrent layers against PyTorch's, side by side.

One step is what training repeats: clear the gradients, run the layer forward,
reduce its output to a scalar and backpropagate. Both implementations run in the
same process, on the same input, with the same thread count, and are timed with
``torch.utils.benchmark`` (which synchronises CUDA around each block of runs):
warm-up calls first, then the median over repeated blocks. ``benchmarks/bench_lstm.py``
is the command-line front end; the appendix "Why cuDNN is fast" and the tests call
:func:`run_benchmark` directly on smaller budgets.
"""

from __future__ import annotations

import json
import re
import statistics
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import torch
from torch import Tensor, nn
from torch.utils import benchmark

from lstm_study.errors import ConfigError, check_int
from lstm_study.machine import BUSY_LOAD_PER_CORE, MACHINE_KEYS, machine_info
from lstm_study.runtime import resolve_device

#: Bump when the layout of :func:`run_benchmark`'s result changes; the tests check it.
SCHEMA_VERSION = 3
REFERENCE = "torch"
#: our layer's Python loop: the LSTM's fused loop (``backend="fused"``), the RNN's readable one
#: (the layers run the compiled loop by default now, ``backend="auto"``: the LSTM's row below)
FUSED = "ours, fused loop"
#: ``LSTM(backend="readable")``: the loop chapter 3 prints, differentiated by autograd
READABLE = "ours, readable loop"
#: ``LSTM(backend="compiled")``: the same loop in C++ (lstm_study.nn.compiled)
COMPILED = "ours, compiled loop"
#: the readable loop through ``torch.compile``: what the compiler makes of the same Python code
TORCH_COMPILE = "readable + torch.compile"
ROW_KEYS = (
    "shape", "batch", "seq_len", "input_size", "hidden_size",
    "implementation", "median_ms", "iqr_ms", "runs", "ratio_to_torch", "cpu_ms", "cpu_ratio_to_torch",
    "first_call_s", "error",
)  # fmt: skip


@dataclass(frozen=True)
class Timing:
    """Seconds per call over timed blocks: wall-clock median and IQR, CPU-time median, call count.

    ``first_call`` is the first call's wall-clock seconds: where something is compiled on first
    use (``torch.compile``, the C++ loop when it is not cached yet), the compile time.
    """

    median: float
    iqr: float
    cpu_median: float
    runs: int
    first_call: float


@dataclass(frozen=True)
class Shape:
    """One benchmark problem: a batch of sequences through a single-layer recurrent layer."""

    name: str
    batch: int
    seq_len: int
    input_size: int
    hidden_size: int


#: The predictor's shape (chapter 10) and the default of PyTorch's own RNN benchmark.
SHAPES = (
    Shape("predictor", batch=64, seq_len=60, input_size=5, hidden_size=64),
    Shape("pytorch-default", batch=64, seq_len=100, input_size=512, hidden_size=512),
)


def layer_classes(model: str) -> tuple[type[nn.Module], type[nn.Module]]:
    """Return (ours, torch's) layer class for ``model`` ("lstm" or "rnn")."""
    if model == "lstm":
        from lstm_study.nn import (
            LSTM,  # imported here so the RNN benchmark runs without it
        )

        return LSTM, nn.LSTM
    if model == "rnn":
        from lstm_study.nn import RNN

        return RNN, nn.RNN
    raise ConfigError(f"model must be 'lstm' or 'rnn', got {model!r}")


def training_step(
    layer: Callable[[Tensor], Any], x: Tensor, parameters: Iterable[nn.Parameter]
) -> None:
    """Clear gradients, run forward, sum the output and backpropagate."""
    for parameter in parameters:
        parameter.grad = None
    output, _ = layer(x)
    output.sum().backward()


def _variants(
    model: str, shape: Shape, device: torch.device, extras: bool
) -> dict[str, Callable[[], Any]]:
    """Build every implementation to time at ``shape``: name -> zero-argument training step."""
    ours_class, torch_class = layer_classes(model)
    theirs = torch_class(shape.input_size, shape.hidden_size, device=device)
    ours = ours_class(shape.input_size, shape.hidden_size, device=device)
    ours.load_state_dict(theirs.state_dict())
    ours.backend = "fused" if model == "lstm" else "readable"
    generator = torch.Generator(device=device).manual_seed(0)
    x = torch.randn(
        shape.seq_len, shape.batch, shape.input_size, device=device, generator=generator
    )
    steps: dict[str, Callable[[], Any]] = {
        REFERENCE: lambda: training_step(theirs, x, theirs.parameters()),
        FUSED: lambda: training_step(ours, x, ours.parameters()),
    }
    if model != "lstm":
        return steps
    # Beside the LSTM's fused loop, time the readable loop it replaces, and the same loop
    # compiled (what the layer runs by default).
    layers = {}
    for name, backend in ((READABLE, "readable"), (COMPILED, "compiled")):
        layer = ours_class(shape.input_size, shape.hidden_size, device=device)
        layer.load_state_dict(theirs.state_dict())
        layer.backend = backend
        layers[name] = layer
    steps[READABLE] = lambda: training_step(
        layers[READABLE], x, layers[READABLE].parameters()
    )
    if device.type == "cpu":
        steps[COMPILED] = _deferred(lambda: _compiled_loop(layers[COMPILED], x))
    if not extras:
        return steps
    # Removing per-step overhead: let the compiler fuse the step (and, on CUDA, replay it
    # as one graph), or capture forward and backward as CUDA graphs by hand.
    readable = layers[READABLE]
    steps[TORCH_COMPILE] = _deferred(lambda: _compiled(readable, x, "default"))
    if device.type == "cuda":
        steps[f"{TORCH_COMPILE} (CUDA graphs)"] = _deferred(
            lambda: _compiled(readable, x, "reduce-overhead")
        )
        steps["ours + CUDA graph"] = _deferred(lambda: _graphed(ours_class, theirs, x))
    return steps


def _deferred(build: Callable[[], Callable[[], Any]]) -> Callable[[], Any]:
    """Build a step on its first call, so a variant that cannot be built fails only its own row."""
    built: list[Callable[[], Any]] = []

    def step() -> Any:
        if not built:
            built.append(build())
        return built[0]()

    return step


def _compiled_loop(layer: nn.Module, x: Tensor) -> Callable[[], Any]:
    """The C++ loop's step; an error (so a failed row, not fused timings) if it cannot be built."""
    from lstm_study.nn import compiled

    if not compiled.load():
        raise RuntimeError(
            f"the C++ loop could not be built: {compiled.unavailable_reason()}"
        )
    return lambda: training_step(layer, x, layer.parameters())


def _compiled(layer: nn.Module, x: Tensor, mode: str) -> Callable[[], Any]:
    # A cold compile, so that the first call's time is the compile time: no graph or backward
    # from the on-disk caches of an earlier run (only the benchmark process turns them off).
    import torch._functorch.config
    import torch._inductor.config

    torch._inductor.config.fx_graph_cache = False
    torch._functorch.config.enable_autograd_cache = False
    torch._dynamo.reset()
    compiled = torch.compile(layer, mode=mode, dynamic=False)
    return lambda: training_step(compiled, x, layer.parameters())


def _graphed(
    layer_class: type[nn.Module], reference: nn.Module, x: Tensor
) -> Callable[[], Any]:
    # A separate copy: make_graphed_callables takes over the module's forward.
    layer = layer_class(reference.input_size, reference.hidden_size, device=x.device)
    layer.load_state_dict(reference.state_dict())
    graphed = torch.cuda.make_graphed_callables(layer, (x,))
    return lambda: training_step(graphed, x, layer.parameters())


def time_steps(
    steps: dict[str, Callable[[], Any]],
    *,
    threads: int,
    warmup: int,
    min_run_time: float,
    block_time: float = 0.1,
) -> dict[str, Timing | BaseException]:
    """Time every step, interleaved: rounds of one block per step until each has run ``min_run_time`` s.

    Interleaving matters on a shared machine: a burst of load from elsewhere then
    slows every implementation alike instead of whichever happened to be running.
    A step that raises gets its exception in place of a measurement.
    """
    timers: dict[str, benchmark.Timer] = {}
    number: dict[str, int] = {}
    outcome: dict[str, Timing | BaseException] = {}
    # Timer.timeit(n) runs a few untimed calls before its n timed ones, so CPU time per call is
    # CPU time over the calls actually made, counted here.
    calls = dict.fromkeys(steps, 0)
    first: dict[str, float] = {}
    for name, step in steps.items():

        def counted(step: Callable[[], Any] = step, name: str = name) -> Any:
            calls[name] += 1
            return step()

        try:
            started = time.perf_counter()
            step()
            first[name] = time.perf_counter() - started
            for _ in range(warmup - 1):
                step()
            timer = benchmark.Timer(
                stmt="step()",
                globals={"step": counted},
                num_threads=threads,
                label=name,
            )
            single = timer.timeit(1).median
        except Exception as error:  # noqa: BLE001 - reported in the row, the other steps still run
            outcome[name] = error
            continue
        # Blocks of about block_time seconds (shorter when the whole budget is small), at least three.
        block = min(block_time, min_run_time / 3)
        timers[name], number[name] = timer, max(1, round(block / max(single, 1e-9)))
    blocks: dict[str, list[benchmark.Measurement]] = {name: [] for name in timers}
    # CPU time of this process per call: what the work costs, whoever else shares the cores.
    cpu: dict[str, list[float]] = {name: [] for name in timers}
    spent = dict.fromkeys(timers, 0.0)
    while len(blocks) and (
        min(spent.values()) < min_run_time or min(map(len, blocks.values())) < 3
    ):
        for name, timer in timers.items():
            start, made = time.process_time(), calls[name]
            measured = timer.timeit(number[name])
            cpu[name].append((time.process_time() - start) / (calls[name] - made))
            blocks[name].append(measured)
            spent[name] += measured.median * number[name]
    for name, measured in blocks.items():
        (merged,) = benchmark.Measurement.merge(measured)
        outcome[name] = Timing(
            merged.median,
            merged.iqr,
            statistics.median(cpu[name]),
            len(measured) * number[name],
            first[name],
        )
    return {name: outcome[name] for name in steps}


def results_name(results: dict[str, Any]) -> str:
    """File stem for a result: device, CPU and capability, so figures from different machines sit side by side.

    For example ``cpu-amd-epyc-avx512`` or ``cuda-nvidia-h100-80gb-hbm3``; ``-rnn`` is appended
    for the RNN, ``-busy`` when the machine was busy as timing started.
    """
    machine = results["machine"]
    parts = [machine["device"], machine["device_name"]]
    if machine["device"] == "cpu":
        parts.append(machine["cpu_capability"])
    if results["model"] != "lstm":
        parts.append(results["model"])
    if machine["busy"]:
        parts.append("busy")
    stem = "-".join(str(part) for part in parts).lower()
    return re.sub(r"[^a-z0-9]+", "-", stem).strip("-")


def busy_warning(machine: dict[str, Any]) -> str | None:
    """A loud message when the machine was busy as timing started, else None."""
    if not machine["busy"]:
        return None
    return (
        f"WARNING: the machine was BUSY when timing started (1-minute load average "
        f"{machine['load_average_1min']:.2f} on {machine['cpu_count']} cores, above "
        f"{BUSY_LOAD_PER_CORE} per core). Other work competes for the cores and distorts the ratios "
        "(torch.nn.LSTM's threads suffer most). The results are marked busy; rerun on a quiet machine "
        "before quoting them."
    )


def run_benchmark(
    model: str = "lstm",
    shapes: Iterable[Shape] = SHAPES,
    device: torch.device | str = "cpu",
    threads: int = 2,
    warmup: int = 3,
    min_run_time: float = 2.0,
    extras: bool | None = None,
) -> dict[str, Any]:
    """Time one training step of ours and torch's layer at each shape; return a JSON-ready dict.

    ``extras`` adds the variants that remove per-step overhead by compiling (``torch.compile``
    of the readable loop; on CUDA also CUDA graphs); it defaults to on for CUDA and off for the
    CPU, where ``torch.compile`` takes minutes (``make bench`` turns it on).
    """
    check_int("threads", threads)
    device = resolve_device(device)
    extras = device.type == "cuda" if extras is None else extras
    machine = machine_info(
        device, threads
    )  # before timing: the load average as the run starts
    previous_threads = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        rows = []
        for shape in shapes:
            rows += _time_shape(
                model, shape, device, extras, threads, warmup, min_run_time
            )
    finally:
        torch.set_num_threads(previous_threads)
    return {
        "schema_version": SCHEMA_VERSION,
        "model": model,
        "machine": machine,
        "settings": {"warmup": warmup, "min_run_time_s": min_run_time},
        "rows": rows,
    }


def _time_shape(
    model: str,
    shape: Shape,
    device: torch.device,
    extras: bool,
    threads: int,
    warmup: int,
    min_run_time: float,
) -> list[dict[str, Any]]:
    torch.manual_seed(0)
    steps = _variants(model, shape, device, extras)
    measured = time_steps(
        steps, threads=threads, warmup=warmup, min_run_time=min_run_time
    )
    for name in (REFERENCE, FUSED):
        if isinstance(measured[name], BaseException):
            raise measured[name]
    reference = measured[REFERENCE]
    rows = []
    for name, result in measured.items():
        row: dict[str, Any] = {
            **asdict(shape),
            "shape": shape.name,
            "implementation": name,
        }
        if isinstance(result, BaseException):
            error = f"{type(result).__name__}: {result}"[:500]
            row.update(
                median_ms=None, iqr_ms=None, runs=0, ratio_to_torch=None, cpu_ms=None, cpu_ratio_to_torch=None,
                first_call_s=None, error=error,
            )  # fmt: skip
        else:
            row.update(
                median_ms=result.median * 1e3, iqr_ms=result.iqr * 1e3, runs=result.runs,
                ratio_to_torch=result.median / reference.median, cpu_ms=result.cpu_median * 1e3,
                cpu_ratio_to_torch=result.cpu_median / reference.cpu_median,
                first_call_s=result.first_call, error=None,
            )  # fmt: skip
        rows.append({key: row[key] for key in ROW_KEYS})
    return rows


def check_results(results: dict[str, Any]) -> None:
    """Raise ``ValueError`` unless ``results`` has the layout :func:`run_benchmark` returns."""
    if results.get("schema_version") != SCHEMA_VERSION:
        raise ValueError(
            f"schema_version must be {SCHEMA_VERSION}, got {results.get('schema_version')!r}"
        )
    missing = {"model", "machine", "settings", "rows"} - results.keys()
    if missing:
        raise ValueError(f"benchmark results lack {sorted(missing)}")
    missing_machine = set(MACHINE_KEYS) - results["machine"].keys()
    if missing_machine:
        raise ValueError(f"machine lacks {sorted(missing_machine)}")
    if not results["rows"]:
        raise ValueError("benchmark results hold no rows")
    load, cores = (
        results["machine"]["load_average_1min"],
        results["machine"]["cpu_count"],
    )
    if load is not None and results["machine"]["busy"] != (
        load / cores > BUSY_LOAD_PER_CORE
    ):
        raise ValueError(
            f"busy must say whether the load {load} on {cores} cores exceeded {BUSY_LOAD_PER_CORE} per core"
        )
    for row in results["rows"]:
        if tuple(row) != ROW_KEYS:
            raise ValueError(f"row keys must be {ROW_KEYS}, got {tuple(row)}")
        if row["error"] is None and not (
            row["median_ms"] > 0 and row["ratio_to_torch"] > 0 and row["runs"] > 0
        ):
            raise ValueError(
                f"row without error must have positive times and ratio: {row}"
            )
    for shape in {row["shape"] for row in results["rows"]}:
        names = [
            row["implementation"] for row in results["rows"] if row["shape"] == shape
        ]
        if names[:2] != [REFERENCE, FUSED]:
            raise ValueError(
                f"shape {shape!r} must start with rows {REFERENCE!r} and {FUSED!r}, got {names}"
            )


def format_table(results: dict[str, Any]) -> str:
    """Render the results as a fixed-width text table, one row per shape and implementation."""
    machine = results["machine"]
    load = machine["load_average_1min"]
    lines = [
        f"{results['model'].upper()} training step (forward + backward) on {machine['device']} "
        f"({machine['device_name']}, {machine['threads']} threads), torch {machine['torch']}, {machine['date']}",
        f"CPU {machine['cpu_model']['name']} (family {machine['cpu_model']['family']}, model "
        f"{machine['cpu_model']['model']}), torch CPU capability {machine['cpu_capability']}; "
        f"1-minute load average {'unknown' if load is None else f'{load:.2f}'} on {machine['cpu_count']} cores "
        f"when timing started: {'BUSY' if machine['busy'] else 'quiet'}",
        f"{'shape':<16} {'B':>3} {'T':>4} {'in':>4} {'H':>4}  {'implementation':<36} {'median ms':>10} "
        f"{'IQR ms':>8} {'runs':>5} {'x torch':>8} {'CPU ms':>9} {'x torch':>8} {'1st call s':>10}",
    ]
    for row in results["rows"]:
        head = f"{row['shape']:<16} {row['batch']:>3} {row['seq_len']:>4} {row['input_size']:>4} {row['hidden_size']:>4}"
        if row["error"] is not None:
            lines.append(
                f"{head}  {row['implementation']:<36} failed: {row['error'][:60]}"
            )
            continue
        lines.append(
            f"{head}  {row['implementation']:<36} {row['median_ms']:>10.2f} {row['iqr_ms']:>8.2f} "
            f"{row['runs']:>5} {row['ratio_to_torch']:>8.2f} {row['cpu_ms']:>9.2f} {row['cpu_ratio_to_torch']:>8.2f}"
            + (
                f" {row['first_call_s']:>10.2f}"
                if row["first_call_s"] is not None
                else ""
            )
        )
    return "\n".join(lines)


def committed_results_table(folder: Path) -> pd.DataFrame:
    """One row per results file in ``folder`` for the LSTM: the machine, and each shape's ratios to torch."""
    rows = []
    for path in sorted(folder.glob("*.json")):
        results = json.loads(path.read_text(encoding="utf-8"))
        check_results(results)
        if results["model"] != "lstm":
            continue
        machine = results["machine"]
        row: dict[str, Any] = {
            "file": path.name,
            "processor": machine["device_name"],
            "capability": machine["cpu_capability"],
            "load": f"{machine['load_average_1min']:.1f}"
            + (" busy" if machine["busy"] else ""),
            "gate form": machine["fused_candidate"]["choice"],
        }
        for result in results["rows"]:
            if result["error"] is not None:
                continue
            if result["implementation"] == REFERENCE:
                row[f"{result['shape']}: torch ms"] = round(result["median_ms"], 2)
            else:
                name = result["implementation"].removeprefix("ours, ")
                row[f"{result['shape']}: {name} x torch"] = round(
                    result["ratio_to_torch"], 2
                )
        rows.append(row)
    return pd.DataFrame(rows).set_index("file").T if rows else pd.DataFrame()
