"""``lstm-study compare-text``: calibration, tuning on validation, seeds on test, resumable."""

from __future__ import annotations

import json

import pytest
import torch

from lstm_study.cli import main
from lstm_study.experiments import after_lstm
from lstm_study.experiments.runner import entries, load
from lstm_study.text.transformer import CharTransformer


@pytest.fixture
def small(monkeypatch):
    """Two rates per model and two seeds, so that the quick sweep runs in seconds."""
    monkeypatch.setattr(
        after_lstm, "RATES", {m: (1e-3, 1e-2) for m in after_lstm.MODELS}
    )
    monkeypatch.setattr(after_lstm, "SEEDS", (0, 1))


def test_the_command_resumes_and_tests_each_model_at_its_chosen_rate(small, tmp_path):
    quick = ["compare-text", "--quick", "--dir", str(tmp_path)]
    assert main([*quick, "--limit", "4"]) == 0
    names = after_lstm.FILES
    assert len(load(tmp_path / names["tune"])["runs"]) == 4
    assert not (tmp_path / names["runs"]).exists()
    calibration = json.loads((tmp_path / names["calibration"]).read_text())
    assert main(quick) == 0
    tuned = load(tmp_path / names["tune"])
    tested = load(tmp_path / names["runs"])
    assert len(tuned["runs"]) == 6 and len(tuned["sessions"]) == 2
    assert {r["key"]["split"] for r in tuned["runs"]} == {"valid"}
    # the calibration is taken once and reused: the steps are part of the runs' settings
    assert json.loads((tmp_path / names["calibration"]).read_text()) == calibration
    assert tested["settings"]["steps"] == after_lstm.run_steps(calibration)
    chosen = after_lstm.chosen_rates(tuned)
    for model in after_lstm.MODELS:
        runs = entries(tested, model=model)
        assert [r["key"]["seed"] for r in runs] == [0, 1]
        assert {r["key"]["lr"] for r in runs} == {chosen[model]}
        best = min(entries(tuned, model=model), key=lambda r: r["valid_bpc"])
        assert best["key"]["lr"] == chosen[model]
        assert all("test_bpc" in r for r in runs)
        read = after_lstm.read_at(calibration)
        assert all(read in r["curve"]["steps"] for r in runs)
    generation = json.loads((tmp_path / names["generation"]).read_text())
    ways = {(r["model"], r["way"]) for r in generation["results"]}
    assert ways == set(after_lstm.WAYS)
    assert main(quick) == 0  # nothing left: the files stay as they were
    assert load(tmp_path / names["runs"]) == tested


def test_a_run_is_a_pure_function_of_its_key():
    settings = {**after_lstm.SETTINGS, **after_lstm.QUICK["settings"]}
    settings.update(sizes=after_lstm.QUICK["sizes"], read_at=4,
                    steps={m: 6 for m in after_lstm.MODELS})  # fmt: skip
    for model in after_lstm.MODELS:
        key = {"model": model, "lr": 3e-3, "seed": 2, "split": "test"}
        first, again = (
            after_lstm.run(**key, **settings),
            after_lstm.run(**key, **settings),
        )
        first.pop("seconds"), again.pop("seconds")
        assert first == again
        assert first["curve"]["steps"] == [4, 5, 6]
        assert first["test_bpc"] > 0


def test_every_model_scores_the_same_characters_and_the_transformer_its_windows():
    torch.manual_seed(0)
    codes = torch.randint(0, 9, (4 * 50,))
    net = CharTransformer(9, d_model=8, num_layers=1, num_heads=2, context=10)
    bits = after_lstm.position_bits(net, "transformer", codes, 4)
    lstm = after_lstm.build("lstm", 9, after_lstm.QUICK["sizes"])
    assert (
        after_lstm.position_bits(lstm, "lstm", codes, 4).shape == bits.shape == (4, 49)
    )
    data = codes.reshape(4, 50)
    with torch.no_grad():
        first = net(data[:, :10])[0]
        last = net(data[:, -11:-1])[0]  # the window that ends at the last character
    loss = torch.nn.functional.cross_entropy
    expected_first = loss(first.transpose(1, 2), data[:, 1:11], reduction="none")
    expected_last = loss(last.transpose(1, 2), data[:, -10:], reduction="none")
    log2 = torch.log(torch.tensor(2.0))
    torch.testing.assert_close(bits[:, :10], expected_first / log2)
    torch.testing.assert_close(bits[:, -3:], expected_last[:, -3:] / log2)
    assert (bits > 0).all()


def test_the_horizon_of_the_transformer_ends_at_its_context():
    torch.manual_seed(0)
    codes = torch.randint(0, 9, (500,))
    sizes = after_lstm.QUICK["sizes"]
    curves = {
        model: after_lstm.horizon(
            after_lstm.build(model, 9, sizes), model, codes, 3, 30
        )
        for model in after_lstm.MODELS
    }
    assert len(curves["transformer"]) == sizes["transformer"]["context"]
    assert len(curves["lstm"]) == len(curves["minlstm"]) == 30
    assert all(v > 0 for curve in curves.values() for v in curve[:5])


def test_the_committed_runs_agree_with_a_rerun_of_their_start():
    """The first checkpoint of a committed entry, re-run: same key, same steps until there."""
    results = load(after_lstm.DEFAULT_DIR / after_lstm.FILES["runs"])
    settings = dict(results["settings"])
    committed = entries(results, model="lstm", seed=0)[0]
    first = settings["eval_every"]
    settings["steps"] = {**settings["steps"], "lstm": first}
    again = after_lstm.run(**{**committed["key"], "split": "valid"}, **settings)
    assert committed["curve"]["steps"][0] == first
    assert again["valid_bpc"] == pytest.approx(
        committed["curve"]["valid_bpc"][0], abs=5e-3
    )
