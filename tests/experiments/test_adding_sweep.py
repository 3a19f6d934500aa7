"""``lstm-study sweep adding``: rates chosen on validation, then test seeds at the chosen rate."""

from __future__ import annotations

import pytest

from lstm_study.cli import main
from lstm_study.errors import ConfigError
from lstm_study.experiments import adding
from lstm_study.experiments.runner import entries, load


@pytest.fixture
def small(monkeypatch):
    """A two-model, one-length, two-rate grid, so that the whole sweep runs in seconds."""
    monkeypatch.setattr(adding, "MODELS", ("RNN", "standard"))
    monkeypatch.setattr(adding, "LENGTHS", (5,))
    monkeypatch.setattr(adding, "RATES", (0.01, 0.1))
    monkeypatch.setattr(adding, "TUNE_SEEDS", (100, 101))
    monkeypatch.setattr(adding, "TEST_SEEDS", (0, 1, 2))


def test_the_sweep_tunes_on_validation_then_tests_at_the_chosen_rate(small, tmp_path):
    assert (
        main(["sweep", "adding", "--dir", str(tmp_path), "--quick", "--limit", "3"])
        == 0
    )
    tuned = load(tmp_path / "adding_tune.json")
    assert len(tuned["runs"]) == 3 and not (tmp_path / "adding_test.json").exists()
    assert main(["sweep", "adding", "--dir", str(tmp_path), "--quick"]) == 0
    tuned = load(tmp_path / "adding_tune.json")
    tested = load(tmp_path / "adding_test.json")
    assert len(tuned["runs"]) == 8 and {r["key"]["split"] for r in tuned["runs"]} == {
        "valid"
    }
    assert len(tested["runs"]) == 6
    chosen = adding.chosen_rates(tuned)
    for model in ("RNN", "standard"):
        runs = entries(tested, model=model)
        assert {r["key"]["lr"] for r in runs} == {chosen[model, 5]}
        assert [r["key"]["seed"] for r in runs] == [0, 1, 2]
        assert all(r["key"]["split"] == "test" for r in runs)
    assert len(tuned["sessions"]) == 2 and tuned["sessions"][0]["runs"] == 3


def test_a_run_is_a_pure_function_of_its_key(small):
    settings = dict(adding.SETTINGS, steps=3, eval_size=50, curve_every=1)
    key = dict(model="GRU", length=5, lr=0.01, seed=4, split="test")
    first, again = adding.run(**key, **settings), adding.run(**key, **settings)
    first.pop("seconds"), again.pop("seconds")
    assert first == again and len(first["curve"]) == 3
    assert adding.evaluation_set("test", 5, 50)[1].shape == (50, 1)
    assert not adding.evaluation_set("valid", 5, 50)[0].equal(
        adding.evaluation_set("test", 5, 50)[0]
    )


def test_rates_are_not_chosen_from_an_unfinished_tuning(small, tmp_path):
    main(["sweep", "adding", "--dir", str(tmp_path), "--quick", "--limit", "2"])
    with pytest.raises(ConfigError, match="unfinished"):
        adding.chosen_rates(load(tmp_path / "adding_tune.json"))
    assert main(["sweep", "adding", "--dir", str(tmp_path), "--limit", "0"]) == 1
