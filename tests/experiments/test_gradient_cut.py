"""``lstm-study sweep gradient-cut``: the backward pass cut k steps back, the forward untouched."""

from __future__ import annotations

import math

import pytest
import torch

from lstm_study.cli import main
from lstm_study.errors import ConfigError
from lstm_study.experiments import adding, gradient_cut
from lstm_study.experiments.ablation import make_model
from lstm_study.experiments.gradient_cut import CutRegressor, marked_values
from lstm_study.experiments.runner import load
from lstm_study.runtime import seed_everything
from lstm_study.tasks import adding_problem

QUICK = dict(adding.SETTINGS, steps=3, eval_size=50, curve_every=1)


def _pair(cut: int) -> tuple[torch.nn.Module, CutRegressor]:
    seed_everything(0)
    plain = make_model("standard", "adding", 1.0)
    return plain, CutRegressor(plain, cut)


@pytest.mark.parametrize("cut", [1, 7, 19, 20, 35])
def test_the_cut_changes_the_backward_pass_only(cut):
    length = 20
    plain, cut_net = _pair(cut)
    x, _ = adding_problem(6, length, generator=torch.Generator().manual_seed(1))
    x_plain, x_cut = x.clone().requires_grad_(), x.clone().requires_grad_()
    out_plain, out_cut = plain(x_plain), cut_net(x_cut)
    assert torch.equal(out_plain, out_cut)  # the forward pass, bit for bit
    out_plain.sum().backward()
    out_cut.sum().backward()
    start = max(0, length - cut)
    # before the cut, exactly nothing; after it, the uncut gradient (to rounding: the
    # input projection's backward multiplies a shorter matrix, in another order)
    assert torch.equal(x_cut.grad[:, :start], torch.zeros_like(x_cut.grad[:, :start]))
    torch.testing.assert_close(
        x_cut.grad[:, start:], x_plain.grad[:, start:], rtol=1e-6, atol=1e-9
    )
    if start > 0:  # and the uncut model's gradient does reach the early steps
        assert x_plain.grad[:, :start].abs().sum() > 0


def test_a_cut_model_learns_only_from_the_last_steps():
    plain, cut_net = _pair(5)
    x, _ = adding_problem(6, 20, generator=torch.Generator().manual_seed(2))
    plain(x).sum().backward()
    whole = [p.grad.clone() for p in plain.parameters()]
    plain.zero_grad()
    cut_net(x).sum().backward()
    # the recurrent weights get a different gradient; the read-out the same one
    assert not torch.equal(plain.recurrent.weight_hh_l0.grad, whole[1])
    assert torch.equal(plain.head.weight.grad, whole[-2])


def test_a_bad_cut_is_refused():
    plain, _ = _pair(5)
    for cut in (0, -1, 2.5, True):
        with pytest.raises(ConfigError, match="cut"):
            CutRegressor(plain, cut)


def test_marked_values_are_the_first_and_the_second():
    x, y = adding_problem(50, 12, generator=torch.Generator().manual_seed(3))
    first, second = marked_values(x)
    assert torch.allclose(first + second, y[:, 0])
    assert torch.equal(first, x[:, :6, 0][x[:, :6, 1] > 0.5])
    bad = x.clone()
    bad[0, :, 1] = 0
    with pytest.raises(ConfigError, match="two markers"):
        marked_values(bad)


def test_the_uncut_run_is_the_adding_sweeps_run():
    settings = dict(QUICK, model="standard", length=10, lr=0.03)
    cut = gradient_cut.run(cut=10, seed=3, **settings)
    plain = adding.run(split="test", seed=3, **settings)
    for name in ("mse", "baseline", "curve", "solved"):
        assert cut[name] == plain[name], name
    assert {"weight_first", "weight_second", "second_only"} <= set(cut)
    assert math.isfinite(cut["weight_first"]) and 0.05 < cut["second_only"] < 0.12


def test_a_cut_run_is_a_pure_function_of_its_key_and_differs_from_the_uncut():
    settings = dict(QUICK, model="standard", length=10, lr=0.03)
    first, again = (gradient_cut.run(cut=4, seed=1, **settings) for _ in range(2))
    whole = gradient_cut.run(cut=10, seed=1, **settings)
    for run in (first, again, whole):
        run.pop("seconds")
    # the weights are a least-squares fit to the float32 predictions of the test set,
    # whose last bits can move with the memory alignment of a vectorised kernel (seen
    # here: 3e-16 apart): equal to a millionth, everything else to the bit
    weights = ("weight_first", "weight_second")
    for name in weights:
        assert first.pop(name) == pytest.approx(again.pop(name), rel=1e-6)
    assert first == again
    assert first["curve"][0] == whole["curve"][0]  # the same first forward pass
    assert first["curve"][1:] != whole["curve"][1:]  # other updates


@pytest.fixture
def small(monkeypatch):
    monkeypatch.setattr(gradient_cut, "LENGTH", 8)
    monkeypatch.setattr(gradient_cut, "CUTS", (3, 8))
    monkeypatch.setattr(gradient_cut, "SEEDS", (0, 1))


def test_the_sweep_resumes_where_it_stopped(small, tmp_path):
    args = ["sweep", "gradient-cut", "--dir", str(tmp_path), "--quick"]
    assert main([*args, "--limit", "3"]) == 0
    path = tmp_path / "gradient_cut.json"
    partial_runs = load(path)["runs"]
    assert len(partial_runs) == 3
    assert main(args) == 0
    results = load(path)
    assert results["runs"][:3] == partial_runs  # kept, not run again
    assert [r["key"] for r in results["runs"]] == [
        {"cut": c, "seed": s} for c in (8, 3) for s in (0, 1)
    ]
    assert [s["runs"] for s in results["sessions"]] == [3, 1]
    assert results["settings"]["lr"] == gradient_cut.chosen_rate()
    assert results["settings"]["length"] == 8
    assert main(args) == 0  # nothing left: the file stays as it was
    assert load(path) == results


def test_cuts_beyond_the_length_are_refused(small, monkeypatch):
    monkeypatch.setattr(gradient_cut, "CUTS", (3, 9))
    with pytest.raises(ConfigError, match="between 1 and T"):
        gradient_cut.cut_sweep(QUICK, 0.03)


def test_the_chosen_rate_is_the_tuning_stages():
    tuned = load(adding.TUNE_PATH)
    assert gradient_cut.chosen_rate() == adding.chosen_rates(tuned)["standard", 100]


def _fake(model, length, lr, seed, split, mse):
    return {"key": dict(model=model, length=length, lr=lr, seed=seed, split=split),
            "mse": mse}  # fmt: skip


def test_the_control_is_the_adding_sweeps_uncut_run(monkeypatch):
    monkeypatch.setattr(adding, "MODELS", ("standard",))
    monkeypatch.setattr(adding, "LENGTHS", (100,))
    monkeypatch.setattr(adding, "RATES", (0.01, 0.1))
    monkeypatch.setattr(adding, "TUNE_SEEDS", (100,))
    tuned = {"runs": [_fake("standard", 100, 0.01, 100, "valid", 0.2),
                      _fake("standard", 100, 0.1, 100, "valid", 0.1)]}  # fmt: skip
    other = [_fake("standard", 100, 0.01, s, "test", 9.0) for s in range(10)]
    chosen = [_fake("standard", 100, 0.1, s, "test", float(s)) for s in range(10)]
    tested = {"runs": other + chosen, "settings": dict(adding.SETTINGS)}
    runs = gradient_cut.control_runs(tested, tuned)
    assert [r["mse"] for r in runs] == [float(s) for s in range(10)]
    with pytest.raises(ConfigError, match="lacks"):
        gradient_cut.control_runs({**tested, "runs": other + chosen[:9]}, tuned)
    with pytest.raises(ConfigError, match="other settings"):
        gradient_cut.control_runs({**tested, "settings": {"steps": 1}}, tuned)
