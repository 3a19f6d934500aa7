"""The benchmark harness (lstm_study.benchmark, benchmarks/bench_lstm.py) and its committed results."""

from __future__ import annotations

import copy
import importlib.util
import json
import os
import time
from pathlib import Path

import pytest
import torch

from lstm_study.benchmark import (
    COMPILED,
    FUSED,
    READABLE,
    ROW_KEYS,
    SCHEMA_VERSION,
    Shape,
    busy_warning,
    check_results,
    format_table,
    results_name,
    run_benchmark,
    time_steps,
)  # fmt: skip
from lstm_study.errors import ConfigError
from lstm_study.machine import MACHINE_KEYS, machine_info
from lstm_study.nn import LSTM
from lstm_study.nn.fused import CANDIDATE_FORMS
from lstm_study.profiling import count_ops, graph_nodes, ops_per_step

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
TINY = (
    Shape("tiny", batch=2, seq_len=3, input_size=4, hidden_size=5),
    Shape("tiny-2", 3, 2, 2, 3),
)


def _tiny(model: str = "lstm", **kwargs) -> dict:
    return run_benchmark(
        model, TINY, "cpu", threads=1, warmup=1, min_run_time=0.01, **kwargs
    )


@pytest.mark.parametrize("model", ["lstm", "rnn"])
def test_tiny_run_has_the_schema(model):
    results = _tiny(model)
    check_results(results)
    assert results["schema_version"] == SCHEMA_VERSION and results["model"] == model
    assert results["machine"]["device"] == "cpu" and results["machine"]["threads"] == 1
    names = ["torch", FUSED] + ([READABLE, COMPILED] if model == "lstm" else [])
    assert [(row["shape"], row["implementation"]) for row in results["rows"]] == [
        (shape, name) for shape in ("tiny", "tiny-2") for name in names
    ]
    for row in results["rows"]:
        assert tuple(row) == ROW_KEYS and row["error"] is None
        assert row["median_ms"] > 0 and row["runs"] >= 3 and row["cpu_ms"] >= 0
        assert row["first_call_s"] > 0
    assert all(
        row["ratio_to_torch"] == 1.0
        for row in results["rows"]
        if row["implementation"] == "torch"
    )
    json.dumps(results)  # JSON-ready as it is


@pytest.fixture(scope="module")
def tiny_rnn_results() -> dict:
    return _tiny("rnn")


def test_table_names_every_row(tiny_rnn_results):
    results = tiny_rnn_results
    table = format_table(results)
    assert len(table.splitlines()) == 3 + len(results["rows"]) and "tiny-2" in table
    assert results["machine"]["cpu_capability"] in table


def test_the_thread_count_is_restored():
    before = torch.get_num_threads()
    _tiny("rnn")
    assert torch.get_num_threads() == before


def test_a_failing_extra_variant_is_reported_not_fatal():
    def broken() -> None:
        raise RuntimeError("no compiler")

    outcome = time_steps(
        {"fine": lambda: None, "broken": broken},
        threads=1,
        warmup=1,
        min_run_time=0.001,
    )
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


def test_the_command_refuses_a_missing_gpu(tmp_path, capsys):
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    spec = importlib.util.spec_from_file_location(
        "bench_lstm", ROOT / "benchmarks" / "bench_lstm.py"
    )
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    assert bench.main(["--device", "cuda", "--output", str(tmp_path)]) == 1
    assert "no CUDA GPU" in capsys.readouterr().err
    assert not list(tmp_path.iterdir())


def test_the_command_writes_json(tmp_path):
    spec = importlib.util.spec_from_file_location(
        "bench_lstm", ROOT / "benchmarks" / "bench_lstm.py"
    )
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    code = bench.main(["--device", "cpu", "--model", "rnn", "--shapes", "predictor", "--threads", "1",
                       "--min-run-time", "0.01", "--warmup", "1", "--output", str(tmp_path)])  # fmt: skip
    assert code == 0
    (written,) = tmp_path.glob("cpu-*-rnn*.json")
    results = json.loads(written.read_text())
    assert written.stem == results_name(results)
    check_results(results)
    assert {row["shape"] for row in results["rows"]} == {"predictor"}


COMMITTED = sorted(RESULTS.glob("*.json"))


def test_quiet_cpu_results_are_committed():
    """The README and the appendix quote committed figures: at least one quiet CPU run must be there."""
    quiet = [
        path
        for path in COMMITTED
        if path.name.startswith("cpu-") and "-busy" not in path.name
    ]
    assert quiet, f"no quiet CPU results in {RESULTS}"


@pytest.mark.parametrize("path", COMMITTED, ids=lambda path: path.name)
def test_committed_results_match_the_schema_and_their_name(path):
    results = json.loads(path.read_text())
    check_results(results)
    assert path.stem == results_name(results), (
        "the file name says the device, CPU, capability and busy"
    )
    assert {row["shape"] for row in results["rows"]} == {"predictor", "pytorch-default"}


def test_the_machine_record_says_where_and_how_busy(monkeypatch):
    monkeypatch.setattr(os, "getloadavg", lambda: (0.9, 0.5, 0.2))
    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    machine = machine_info(torch.device("cpu"), threads=1)
    assert set(MACHINE_KEYS) <= machine.keys()
    assert (
        machine["busy"] is True
        and machine["cpu_capability"] == torch.backends.cpu.get_cpu_capability()
    )
    assert machine["fused_candidate"]["choice"] in CANDIDATE_FORMS
    assert "BUSY" in busy_warning(machine)
    monkeypatch.setattr(
        os, "getloadavg", lambda: (0.5, 0.5, 0.2)
    )  # 0.25 per core: quiet
    quiet = machine_info(torch.device("cpu"), threads=1)
    assert quiet["busy"] is False and busy_warning(quiet) is None


def test_results_names_say_device_cpu_capability_model_and_busy(tiny_rnn_results):
    results = copy.deepcopy(tiny_rnn_results)
    results["machine"].update(
        device_name="AMD EPYC 9B45", cpu_capability="AVX512", busy=False
    )
    assert results_name(results) == "cpu-amd-epyc-9b45-avx512-rnn"
    results.update(model="lstm")
    results["machine"]["busy"] = True
    assert results_name(results) == "cpu-amd-epyc-9b45-avx512-busy"


def test_a_busy_flag_that_contradicts_the_load_is_refused(tiny_rnn_results):
    results = copy.deepcopy(tiny_rnn_results)
    results["machine"].update(load_average_1min=1.6, cpu_count=2, busy=False)
    with pytest.raises(ValueError, match="busy"):
        check_results(results)


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
    readable = LSTM(3, 4, backend="readable")
    counts = {name: ops_per_step(layer, batch=2, steps=(3, 5)) for name, layer in
              (("torch", torch.nn.LSTM(3, 4)), ("fused", LSTM(3, 4)), ("readable", readable))}  # fmt: skip
    for per_step in counts.values():
        assert all(
            float(value).is_integer() for value in per_step.values()
        )  # exactly linear in steps
    assert counts["torch"] == {
        "forward": 0,
        "backward": 0,
        "autograd nodes": 0,
    }  # one fused kernel per call
    assert counts["fused"]["autograd nodes"] == 0 < counts["readable"]["autograd nodes"]
    assert counts["fused"]["backward"] < counts["readable"]["backward"]
