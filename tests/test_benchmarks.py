"""The benchmark harness (lstm_study.benchmark, benchmarks/bench_lstm.py) and its committed results."""

from __future__ import annotations

import copy
import importlib.util
import json
import time
from pathlib import Path

import pytest
import torch

from lstm_study.benchmark import (
    READABLE, ROW_KEYS, SCHEMA_VERSION, Shape, check_results, count_ops, format_table, graph_nodes, ops_per_step,
    run_benchmark, time_steps,
)  # fmt: skip
from lstm_study.errors import ConfigError
from lstm_study.nn import LSTM

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
TINY = (Shape("tiny", batch=2, seq_len=3, input_size=4, hidden_size=5), Shape("tiny-2", 3, 2, 2, 3))


def _tiny(model: str = "lstm", **kwargs) -> dict:
    return run_benchmark(model, TINY, "cpu", threads=1, warmup=1, min_run_time=0.01, **kwargs)


@pytest.mark.parametrize("model", ["lstm", "rnn"])
def test_tiny_run_has_the_schema(model):
    results = _tiny(model)
    check_results(results)
    assert results["schema_version"] == SCHEMA_VERSION and results["model"] == model
    assert results["machine"]["device"] == "cpu" and results["machine"]["threads"] == 1
    names = ["torch", "ours"] + ([READABLE] if model == "lstm" else [])
    assert [(row["shape"], row["implementation"]) for row in results["rows"]] == [
        (shape, name) for shape in ("tiny", "tiny-2") for name in names
    ]
    for row in results["rows"]:
        assert tuple(row) == ROW_KEYS and row["error"] is None
        assert row["median_ms"] > 0 and row["runs"] >= 3 and row["cpu_ms"] >= 0
    assert all(row["ratio_to_torch"] == 1.0 for row in results["rows"] if row["implementation"] == "torch")
    json.dumps(results)  # JSON-ready as it is


@pytest.fixture(scope="module")
def tiny_rnn_results() -> dict:
    return _tiny("rnn")


def test_table_names_every_row(tiny_rnn_results):
    results = tiny_rnn_results
    table = format_table(results)
    assert len(table.splitlines()) == 2 + len(results["rows"]) and "tiny-2" in table


def test_the_thread_count_is_restored():
    before = torch.get_num_threads()
    _tiny("rnn")
    assert torch.get_num_threads() == before


def test_a_failing_extra_variant_is_reported_not_fatal():
    def broken() -> None:
        raise RuntimeError("no compiler")

    outcome = time_steps({"fine": lambda: None, "broken": broken}, threads=1, warmup=1, min_run_time=0.001)
    assert isinstance(outcome["broken"], RuntimeError) and outcome["fine"].runs >= 3


def test_cpu_time_is_counted_per_call():
    """Timer.timeit(n) makes a few more than n calls; the CPU time per call must not include them."""

    def busy() -> None:
        end = time.process_time() + 0.005
        while time.process_time() < end:
            pass

    outcome = time_steps({"busy": busy}, threads=1, warmup=1, min_run_time=0.05)
    assert 0.0045 < outcome["busy"].cpu_median < 0.0065


def test_bad_arguments_are_refused():
    with pytest.raises(ConfigError, match="model"):
        run_benchmark("gru", TINY)
    with pytest.raises(ConfigError, match="threads"):
        run_benchmark("rnn", TINY, threads=0)
    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match="CUDA"):
            run_benchmark("rnn", TINY, device="cuda")


@pytest.mark.parametrize(
    "damage",
    [
        lambda r: r.update(schema_version=0),
        lambda r: r.pop("machine"),
        lambda r: r["machine"].pop("date"),
        lambda r: r.update(rows=[]),
        lambda r: r["rows"][0].pop("median_ms"),
        lambda r: r["rows"][1].update(median_ms=-1.0),
        lambda r: r["rows"].reverse(),
    ],
)
def test_check_results_rejects_damaged_results(damage, tiny_rnn_results):
    broken = copy.deepcopy(tiny_rnn_results)
    damage(broken)
    with pytest.raises(ValueError):
        check_results(broken)


def test_the_command_writes_json(tmp_path):
    spec = importlib.util.spec_from_file_location("bench_lstm", ROOT / "benchmarks" / "bench_lstm.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    code = bench.main(["--device", "cpu", "--model", "rnn", "--shapes", "predictor", "--threads", "1",
                       "--min-run-time", "0.01", "--warmup", "1", "--output", str(tmp_path)])  # fmt: skip
    assert code == 0
    results = json.loads((tmp_path / "cpu-rnn.json").read_text())
    check_results(results)
    assert {row["shape"] for row in results["rows"]} == {"predictor"}


def test_committed_cpu_results_match_the_schema():
    """The appendix shows benchmarks/results/cpu.json: it must exist and be what the script writes."""
    results = json.loads((RESULTS / "cpu.json").read_text())
    check_results(results)
    assert results["model"] == "lstm" and results["machine"]["device"] == "cpu"
    assert {row["shape"] for row in results["rows"]} == {"predictor", "pytorch-default"}


def test_committed_cuda_results_match_the_schema_where_present():
    path = RESULTS / "cuda.json"
    if not path.exists():
        pytest.skip("no CUDA results committed (no GPU where the benchmark last ran)")
    results = json.loads(path.read_text())
    check_results(results)
    assert results["machine"]["device"] == "cuda"


def test_count_ops_counts_computing_operators_not_views():
    x = torch.randn(3, 4)
    counts, result = count_ops(lambda: (x + 1).t().sigmoid().unsqueeze(0))
    assert dict(counts) == {"add": 1, "sigmoid": 1} and result.shape == (1, 4, 3)


def test_graph_nodes_grow_with_recorded_operations():
    x = torch.randn(3, requires_grad=True)
    assert graph_nodes(x * 2) == 2  # MulBackward0 and the leaf's AccumulateGrad
    assert graph_nodes((x * 2).sin()) == 3


def test_per_step_counts_of_the_three_lstms():
    torch.manual_seed(0)
    readable = LSTM(3, 4)
    readable.fused = False
    counts = {name: ops_per_step(layer, batch=2, steps=(3, 5)) for name, layer in
              (("torch", torch.nn.LSTM(3, 4)), ("fused", LSTM(3, 4)), ("readable", readable))}  # fmt: skip
    for per_step in counts.values():
        assert all(float(value).is_integer() for value in per_step.values())  # exactly linear in steps
    assert counts["torch"] == {"forward": 0, "backward": 0, "autograd nodes": 0}  # one fused kernel per call
    assert counts["fused"]["autograd nodes"] == 0 < counts["readable"]["autograd nodes"]
    assert counts["fused"]["backward"] < counts["readable"]["backward"]
