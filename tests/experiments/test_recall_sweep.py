"""``lstm-study sweep recall``: rates chosen on validation per (model, lag), then test seeds."""

from __future__ import annotations

import math

import pytest

from lstm_study.cli import main
from lstm_study.errors import ConfigError
from lstm_study.experiments import recall
from lstm_study.experiments.runner import entries, load


@pytest.fixture
def small(monkeypatch):
    """Two lags, two rates, two tuning and two test seeds: the whole sweep in seconds."""
    monkeypatch.setattr(recall, "LAGS", (1, 5))
    monkeypatch.setattr(recall, "RATES", (0.01, 0.1))
    monkeypatch.setattr(recall, "TUNE_SEEDS", (100, 101))
    monkeypatch.setattr(recall, "TEST_SEEDS", (0, 1))


def test_the_sweep_tunes_on_validation_then_tests_at_the_chosen_rate(small, tmp_path):
    command = ["sweep", "recall", "--dir", str(tmp_path), "--quick"]
    assert main([*command, "--limit", "3"]) == 0
    assert not (tmp_path / "recall_test.json").exists()
    assert main(command) == 0
    tuned = load(tmp_path / "recall_tune.json")
    tested = load(tmp_path / "recall_test.json")
    assert len(tuned["runs"]) == 2 * 2 * 2 * 2
    assert {run["key"]["split"] for run in tuned["runs"]} == {"valid"}
    assert len(tested["runs"]) == 2 * 2 * 2
    for (model, lag), lr in recall.chosen_rates(tuned).items():
        assert {run["key"]["lr"] for run in entries(tested, model=model, lag=lag)} == {
            lr
        }


def test_the_rate_with_the_best_median_validation_r2_is_chosen(small, monkeypatch):
    monkeypatch.setattr(recall, "MODELS", {"RNN": ("RNN", 4, 0.0)})
    monkeypatch.setattr(recall, "LAGS", (5,))

    def tuned(scores):
        return {
            "runs": [
                {"key": {"model": "RNN", "lag": 5, "lr": lr, "seed": seed,
                         "split": "valid"}, "r2": r2}
                for lr, pair in scores.items()
                for seed, r2 in zip((100, 101), pair, strict=True)
            ]
        }  # fmt: skip

    assert recall.chosen_rates(tuned({0.01: [0.5, 0.6], 0.1: [0.9, 0.2]})) == {
        ("RNN", 5): 0.01
    }
    assert recall.chosen_rates(tuned({0.01: [0.1, 0.1], 0.1: [math.nan, 0.9]})) == {
        ("RNN", 5): 0.01
    }
    with pytest.raises(ConfigError, match="unfinished"):
        recall.chosen_rates(
            {"runs": tuned({0.01: [0.1, 0.1], 0.1: [0.2, 0.3]})["runs"][:3]}
        )


def test_a_run_is_a_pure_function_of_its_key_and_scores_r2_against_the_mean():
    key = {"model": "LSTM", "lag": 3, "lr": 0.01, "seed": 4, "split": "test"}
    settings = {"steps": 5, "batch_size": 8, "eval_size": 100}
    first, second = recall.run(**settings, **key), recall.run(**settings, **key)
    first.pop("seconds"), second.pop("seconds")
    assert first == second and first["r2"] < 1


def test_bad_keys_are_refused():
    settings = {"steps": 1, "batch_size": 2, "eval_size": 4}
    with pytest.raises(ConfigError, match="model"):
        recall.run(**settings, model="GRU", lag=1, lr=0.01, seed=0, split="test")
    with pytest.raises(ConfigError, match="split"):
        recall.run(**settings, model="RNN", lag=1, lr=0.01, seed=0, split="train")
