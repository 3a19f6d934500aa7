"""``lstm-study sweep variants``: every cell at its own validated rate, and the probes in training."""

from __future__ import annotations

import math

import pytest
import torch

from lstm_study.cli import main
from lstm_study.errors import ConfigError
from lstm_study.experiments import ablation, variants
from lstm_study.experiments.runner import entries, load
from lstm_study.runtime import seed_everything
from lstm_study.training import train


@pytest.fixture
def small(monkeypatch):
    """Two models, two rates, two tuning and two test seeds: the whole sweep in seconds."""
    monkeypatch.setattr(variants, "MODELS", ("standard", "RNN"))
    monkeypatch.setattr(variants, "BIASES", (1.0, 3.0))
    monkeypatch.setattr(variants, "RATES", (0.01, 0.1))
    monkeypatch.setattr(variants, "TUNE_SEEDS", (100, 101))
    monkeypatch.setattr(variants, "TEST_SEEDS", (0, 1))


def test_cells_are_every_model_on_every_task_and_the_biases_on_adding():
    cells = variants.cells()
    assert len(cells) == len(ablation.MODELS) * 2 + 2
    biases = {c["forget_bias"] for c in cells if c["model"] == "standard"}
    assert biases == {0.0, 1.0, 3.0}
    assert {c["task"] for c in cells if c["forget_bias"] != 1.0} == {"adding"}


def test_the_sweep_tunes_on_validation_then_tests_at_each_cells_rate(small, tmp_path):
    command = ["sweep", "variants", "--dir", str(tmp_path), "--quick"]
    assert main([*command, "--limit", "5"]) == 0
    assert len(load(tmp_path / "variants_tune.json")["runs"]) == 5
    assert not (tmp_path / "variants_test.json").exists()
    assert main(command) == 0  # resumes
    tuned = load(tmp_path / "variants_tune.json")
    tested = load(tmp_path / "variants_test.json")
    assert len(tuned["runs"]) == 5 * 2 * 2  # cells x rates x seeds
    assert {r["key"]["split"] for r in tuned["runs"]} == {"valid"}
    assert len(tested["runs"]) == 5 * 2
    chosen = variants.chosen_rates(tuned)
    for (model, task, bias), lr in chosen.items():
        runs = entries(tested, model=model, task=task, forget_bias=bias)
        assert {r["key"]["lr"] for r in runs} == {lr}
        assert {r["key"]["seed"] for r in runs} == {0, 1}
    adding_test = entries(tested, task="adding")
    assert all(run["probes"][0]["step"] == 0 for run in adding_test)
    # then the intervention, in files of its own: each of its cells at its own rate
    input_tuned = load(tmp_path / "variants_input_tune.json")
    input_tested = load(tmp_path / "variants_input_test.json")
    assert {r["key"]["input_bias"] for r in input_tested["runs"]} == {-3.0}
    assert len(input_tested["runs"]) == len(variants.INPUT_CELLS) * 2
    for cell in variants.INPUT_CELLS:
        lr = variants.best_rate(input_tuned, cell)
        assert {r["key"]["lr"] for r in entries(input_tested, **cell)} == {lr}
    assert all("probes" not in run for run in entries(tuned, task="adding"))


def _tuned(scores: dict[float, list[tuple[float, float]]]) -> dict:
    """A tuning file for the reber cell of the standard LSTM only."""
    runs = [
        {
            "key": {"model": "standard", "task": "reber", "forget_bias": 1.0,
                    "lr": lr, "seed": seed, "split": "valid"},
            "score": score,
            "all_error": all_error,
        }
        for lr, pairs in scores.items()
        for seed, (score, all_error) in zip((100, 101), pairs, strict=True)
    ]  # fmt: skip
    return {"runs": runs}


def test_a_tie_on_the_long_memory_score_goes_to_the_lower_overall_error(
    small, monkeypatch
):
    monkeypatch.setattr(
        variants, "cells", lambda: ({"model": "standard", "task": "reber",
                                     "forget_bias": 1.0},)
    )  # fmt: skip
    tuned = _tuned({0.01: [(0.0, 0.02), (0.0, 0.03)], 0.1: [(0.0, 0.01), (0.0, 0.01)]})
    assert variants.chosen_rates(tuned) == {("standard", "reber", 1.0): 0.1}
    diverged = _tuned(
        {0.01: [(0.2, 0.2), (0.3, 0.3)], 0.1: [(math.nan, math.nan), (0.0, 0.0)]}
    )
    assert variants.chosen_rates(diverged) == {("standard", "reber", 1.0): 0.01}
    unfinished = {"runs": diverged["runs"][:-1]}
    with pytest.raises(ConfigError, match="unfinished"):
        variants.chosen_rates(unfinished)


def test_a_run_is_a_pure_function_of_its_key():
    settings = variants.quick_settings()
    key = {"model": "peephole", "task": "adding", "forget_bias": 1.0, "lr": 0.01,
           "seed": 3, "split": "test"}  # fmt: skip
    first, second = variants.run(**settings, **key), variants.run(**settings, **key)
    for result in (first, second):
        result.pop("seconds")
    assert first == second
    assert [p["step"] for p in first["probes"]] == [0, 2, 4]


def test_probe_measures_the_dependence_on_each_marked_value_by_finite_differences():
    torch.manual_seed(0)
    model = ablation.make_model("GRU", "adding", backend="readable").double()
    x, _ = variants.adding_set("probe", 12, 64)
    x = x.double()
    found = variants.probe(model, x)
    marked = x[..., 1].nonzero()[:, 1].view(-1, 2)
    rows = torch.arange(64)
    eps = 1e-6
    for which, name in ((0, "first"), (1, "second")):
        moved = x.clone()
        moved[rows, marked[:, which], 0] += eps
        with torch.no_grad():
            change = (model(moved) - model(x)).abs().mean().item() / eps
        assert change == pytest.approx(found[name], rel=1e-4)
    assert math.isnan(found["cell_max"])


def test_probe_reads_the_cell_of_an_lstm():
    torch.manual_seed(0)
    model = ablation.make_model("no_forget_gate", "adding")
    x, _ = variants.adding_set("probe", 30, 16)
    with torch.no_grad(), model.recurrent.recording_gates() as traces:
        model(x)
    found = variants.probe(model, x)
    largest = traces[0].c.abs().amax((1, 2)).mean().item()
    assert found["cell_max"] == pytest.approx(largest)
    assert 0.0 <= found["cell_flat"] <= 1.0


def test_probing_during_training_leaves_the_training_unchanged():
    def trained(with_probe: bool) -> dict[str, torch.Tensor]:
        batches = seed_everything(5, threads=1)
        model = ablation.make_model("standard", "adding")
        x_probe, _ = variants.adding_set("probe", 20, 8)
        seen = []

        def on_step(step, net):
            seen.append(step)
            variants.probe(net, x_probe)

        train(
            model,
            lambda n: variants.adding_problem(n, 20, generator=batches),
            steps=4,
            batch_size=8,
            lr=0.01,
            clip_norm=1.0,
            on_step=on_step if with_probe else None,
        )
        assert seen == ([1, 2, 3, 4] if with_probe else [])
        return model.state_dict()

    plain, probed = trained(False), trained(True)
    for name, value in plain.items():
        assert torch.equal(value, probed[name]), name


def test_bad_splits_are_refused():
    with pytest.raises(ConfigError, match="split"):
        variants.adding_set("train", 10, 4)
    with pytest.raises(ConfigError, match="split"):
        variants.reber_set("probe", 2, 10)
    with pytest.raises(ConfigError, match="split"):
        variants.run(**variants.quick_settings(), model="standard", task="adding",
                     forget_bias=1.0, lr=0.01, seed=0, split="probe")  # fmt: skip


def test_the_input_bias_lowers_what_the_cell_writes_at_the_start():
    settings = {**variants.quick_settings(), "adding_steps": 2, "probe_every": 1}
    key = {"model": "no_forget_gate", "task": "adding", "forget_bias": 1.0,
           "lr": 0.01, "seed": 0, "split": "test"}  # fmt: skip
    plain = variants.run(**settings, **key)
    lowered = variants.run(**settings, **key, input_bias=-3.0)
    assert lowered["probes"][0]["cell_max"] < 0.3 * plain["probes"][0]["cell_max"]
