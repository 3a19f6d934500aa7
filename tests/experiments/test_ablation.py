"""The ablation sweep: models of equal size, the verdict rule, the command, the committed file."""

from __future__ import annotations

import json
import math

import pytest
import torch

from lstm_study import cli
from lstm_study.errors import ConfigError
from lstm_study.experiments import ablation
from lstm_study.models import count_parameters
from lstm_study.nn import LSTM

QUICK = ablation.Settings(
    adding_steps=2,
    adding_test=20,
    reber_steps=2,
    reber_test_streams=2,
    reber_test_length=60,
    curve_every=1,
)


@pytest.mark.parametrize("task", ablation.TASKS)
def test_every_model_is_within_five_percent_of_the_standard_lstms_size(task):
    reference = count_parameters(ablation.make_model("standard", task))
    for kind in ablation.MODELS:
        size = count_parameters(ablation.make_model(kind, task))
        assert abs(size - reference) / reference < 0.05, kind


def test_forget_bias_lands_on_the_forget_gate_or_opens_the_coupled_one():
    standard = ablation.make_model("standard", "adding", forget_bias=3.0).recurrent
    plain = ablation.make_model("standard", "adding", forget_bias=0.0).recurrent
    rows = standard.gate_rows("f")
    assert torch.all(standard.bias_ih_l0[rows] > 3 - 1 / 4)
    assert torch.all(plain.bias_ih_l0[rows] < 1 / 4)
    coupled = LSTM(2, 4, variant="coupled")
    before = coupled.bias_ih_l0.detach().clone()
    ablation.set_forget_bias(coupled, 1.0)
    rows = coupled.gate_rows("i")
    assert torch.allclose(coupled.bias_ih_l0[rows], before[rows] - 1)


def test_verdict_needs_ranges_that_do_not_overlap():
    assert ablation.verdict([0.5, 0.6, 0.7], [0.1, 0.2, 0.3]) == "worse"
    assert ablation.verdict([0.01, 0.02], [0.1, 0.2]) == "better"
    assert ablation.verdict([0.25, 0.6], [0.1, 0.3]) == "same"


def test_runs_are_reproducible_functions_of_model_and_seed():
    first = ablation.run_adding("GRU", 3, QUICK)
    assert first == ablation.run_adding("GRU", 3, QUICK)
    reber = ablation.run_reber("no_forget_gate", 1, QUICK, keep_cell=True)
    assert (
        len(reber["cell_size"]) == QUICK.reber_test_length and 0 <= reber["score"] <= 1
    )


def test_bad_model_or_task_is_refused():
    with pytest.raises(ConfigError, match="model must be one of"):
        ablation.make_model("transformer", "adding")
    with pytest.raises(ConfigError, match="task must be one of"):
        ablation.make_model("GRU", "sorting")


def test_the_command_writes_every_run(tmp_path, monkeypatch):
    monkeypatch.setattr(ablation, "Settings", lambda: QUICK)
    out = tmp_path / "results.json"
    arguments = [
        "ablate",
        "--json",
        str(out),
        "--seeds",
        "2",
        "--models",
        "standard",
        "GRU",
    ]
    assert cli.main(arguments) == 0
    results = json.loads(out.read_text())
    assert (
        len(results["runs"]) == 2 * 2 * 2 + 2 * 2
    )  # tasks x models x seeds, + two other biases
    assert {"cpu", "torch", "threads"} <= set(results["machine"]) and results[
        "finished"
    ]


def test_the_command_refuses_a_folder_before_any_work(tmp_path, capsys):
    assert cli.main(["ablate", "--json", str(tmp_path), "--quick"]) == 1
    assert "is a folder" in capsys.readouterr().err


def test_the_committed_sweep_is_complete():
    results = ablation.load_results()
    assert len(results["seeds"]) >= 3 and results["machine"]["cpu"]
    for task in ablation.TASKS:
        scores = ablation.table(results, task)
        assert set(scores) == set(ablation.MODELS)
        assert all(len(values) == len(results["seeds"]) for values in scores.values())
        assert all(not math.isnan(v) for values in scores.values() for v in values)
    biases = {
        run["forget_bias"]
        for run in results["runs"]
        if run["task"] in ("bias", "adding")
    }
    assert {0.0, 1.0, 3.0} <= biases


def test_the_loop_is_a_setting_and_a_family_without_it_runs_its_readable_loop():
    assert ablation.Settings().backend == "fused"  # the loops the committed sweep ran
    assert ablation.make_model("standard", "adding").recurrent.backend == "auto"
    fused = ablation.make_model("standard", "reber", backend="fused").recurrent
    gru = ablation.make_model("GRU", "reber", backend="fused").recurrent
    assert fused.backend == "fused" and gru.backend == "readable"
    with pytest.raises(ConfigError, match="backend must be one of"):
        ablation.make_model("standard", "adding", backend="cudnn")


def test_committed_score_finds_the_same_seed_or_says_what_is_there():
    results = ablation.load_results()
    first = next(run for run in results["runs"] if run["task"] == "adding")
    assert (
        ablation.committed_score(results, "adding", first["model"], first["seed"])
        == first["score"]
    )
    with pytest.raises(ConfigError, match="they hold seeds"):
        ablation.committed_score(results, "adding", "standard", 99)


def test_agrees_accepts_another_cpus_digits_and_refuses_a_wrong_entry():
    results = ablation.load_results()
    entry = ablation.committed_score(results, "adding", "standard", 0)
    # seed 0 re-run with the committed loops under other kernels (see LIVE_TOLERANCE)
    for live in (0.006192, 0.006270, 0.006422):
        assert ablation.agrees("adding", live, entry)
    # the same live run against every other seed's entry, or run on the compiled loop
    for seed in results["seeds"][1:]:
        other = ablation.committed_score(results, "adding", "standard", seed)
        assert not ablation.agrees("adding", 0.006422, other), seed
    assert not ablation.agrees("adding", 0.00905, entry)
    # the grammar: an error rate is compared absolutely
    nfg = ablation.committed_score(results, "reber", "no_forget_gate", 0)
    assert ablation.agrees("reber", nfg, nfg)
    for seed in results["seeds"][1:]:
        other = ablation.committed_score(results, "reber", "no_forget_gate", seed)
        assert not ablation.agrees("reber", nfg, other), seed
    assert not ablation.agrees("reber", 0.0, 0.02) and ablation.agrees("bias", 1.1, 1.0)
    # a diverged run agrees only with a diverged entry
    nan = float("nan")
    assert ablation.agrees("adding", nan, nan) and not ablation.agrees(
        "adding", nan, 0.1
    )
    assert not ablation.agrees("reber", 0.1, nan)
    with pytest.raises(ConfigError, match="task must be one of"):
        ablation.agrees("sorting", 0.1, 0.1)


def test_committed_score_tells_the_forget_biases_apart():
    results = ablation.load_results()
    runs = {
        run["forget_bias"]: run["score"]
        for run in results["runs"]
        if run["task"] == "bias" and run["seed"] == 0
    }
    for bias, score in runs.items():
        assert ablation.committed_score(results, "bias", "standard", 0, bias) == score
    with pytest.raises(ConfigError, match="forget bias 7"):
        ablation.committed_score(results, "bias", "standard", 0, 7.0)
