"""The fused LSTM loop (lstm_study.nn.fused) against the readable loop and against torch.nn.LSTM."""

from __future__ import annotations

import pytest
import torch

from lstm_study.errors import ConfigError
from lstm_study.nn import LSTM, fused
from lstm_study.nn.fused import (
    CANDIDATE_FORMS,
    ENVIRONMENT,
    FusedLSTMScan,
    fused_lstm_scan,
)
from tests.nn.lstm_grads import outputs_and_grads

TOLERANCE = {torch.float32: 1e-5, torch.float64: 1e-10}
CONFIGS = [
    dict(num_layers=1, batch_first=False, bidirectional=False),
    dict(num_layers=1, batch_first=True, bidirectional=True),
    dict(num_layers=3, batch_first=True, bidirectional=False),
    dict(num_layers=2, batch_first=False, bidirectional=True),
    dict(num_layers=2, batch_first=True, bidirectional=True, bias=False),
]


@pytest.fixture(
    autouse=True, params=CANDIDATE_FORMS, ids=lambda form: f"candidate-{form}"
)
def candidate(request, monkeypatch) -> str:
    """Every test here runs with each way of computing the gates' nonlinearities."""
    monkeypatch.setenv(ENVIRONMENT, request.param)
    return request.param


def _config_id(config: dict) -> str:
    return "-".join(f"{key}={value}" for key, value in config.items())


def _trio(dtype: torch.dtype, **config) -> tuple[LSTM, LSTM, torch.nn.LSTM]:
    """The fused LSTM, the readable one and torch's, all with torch's weights."""
    theirs = torch.nn.LSTM(4, 6, dtype=dtype, **config)
    fused, readable = (
        LSTM(4, 6, dtype=dtype, backend="fused", **config),
        LSTM(4, 6, dtype=dtype, backend="readable", **config),
    )
    fused.load_state_dict(theirs.state_dict())
    readable.load_state_dict(theirs.state_dict())
    return fused, readable, theirs


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=str)
@pytest.mark.parametrize("config", CONFIGS, ids=_config_id)
@pytest.mark.parametrize(
    "given_state", [False, True], ids=["default-state", "given-state"]
)
def test_fused_equals_the_readable_loop_and_torch(dtype, config, given_state):
    torch.manual_seed(0)
    fused, readable, theirs = _trio(dtype, **config)
    directions = 2 if config.get("bidirectional") else 1
    x = torch.randn((5, 7, 4) if config["batch_first"] else (7, 5, 4), dtype=dtype)
    state_shape = (config["num_layers"] * directions, 5, 6)
    hx = (
        (torch.randn(state_shape, dtype=dtype), torch.randn(state_shape, dtype=dtype))
        if given_state
        else None
    )
    weights = torch.randn(x.shape[:-1] + (6 * directions,), dtype=dtype)
    outs, grads = outputs_and_grads(fused, x, hx, weights)
    tol = TOLERANCE[dtype]
    for other in (readable, theirs):
        other_outs, other_grads = outputs_and_grads(other, x, hx, weights)
        for ours, reference in zip(outs + grads, other_outs + other_grads, strict=True):
            assert ours.shape == reference.shape
            assert (ours - reference).abs().max().item() < tol


@pytest.mark.parametrize("reverse", [False, True], ids=["forward", "reverse"])
def test_gradcheck_in_double_precision(reverse):
    torch.manual_seed(1)
    projected = torch.randn(4, 3, 8, dtype=torch.float64, requires_grad=True)
    h0, c0 = (
        torch.randn(3, 2, dtype=torch.float64, requires_grad=True) for _ in range(2)
    )
    weight_hh = torch.randn(8, 2, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(
        lambda *args: fused_lstm_scan(*args, reverse=reverse),
        (projected, h0, c0, weight_hh),
    )


@pytest.mark.parametrize("reverse", [False, True], ids=["forward", "reverse"])
def test_one_direction_equals_the_readable_scan(reverse):
    """The function itself, step for step against ``LSTM._scan`` (outputs, final state, all four gradients)."""
    torch.manual_seed(2)
    shapes = ((9, 3, 20), (3, 5), (3, 5), (20, 5))  # projected, h0, c0, weight_hh
    inputs = [
        torch.randn(*shape, dtype=torch.float64, requires_grad=True) for shape in shapes
    ]
    projected, h0, c0, weight_hh = inputs
    lstm = LSTM(1, 5, dtype=torch.float64)
    readable_out, (readable_h, readable_c) = lstm._scan(
        projected, (h0, c0), weight_hh, None, reverse
    )
    fused_out, fused_h, fused_c = fused_lstm_scan(projected, h0, c0, weight_hh, reverse)
    results = []
    for out, h, c in (
        (readable_out, readable_h, readable_c),
        (fused_out, fused_h, fused_c),
    ):
        loss = out.cos().sum() + (h * c).sum()
        results.append([out, h, c, *torch.autograd.grad(loss, inputs)])
    for a, b in zip(*results, strict=True):
        assert (a - b).abs().max().item() < 1e-12


def test_recorded_gates_match_the_readable_loop():
    torch.manual_seed(3)
    fused, readable, _ = _trio(
        torch.float64, num_layers=2, batch_first=True, bidirectional=True
    )
    x = torch.randn(3, 8, 4, dtype=torch.float64)
    traces = []
    for module in (fused, readable):
        with module.recording_gates() as recorded:
            module(x)
        traces.append(list(recorded))
    assert len(traces[0]) == len(traces[1]) == 4
    for a, b in zip(*traces, strict=True):
        for name in ("i", "f", "g", "o", "c"):
            assert getattr(a, name).shape == getattr(b, name).shape == (3, 8, 6)
            assert (getattr(a, name) - getattr(b, name)).abs().max().item() < 1e-12, (
                name
            )


def test_without_gradients_nothing_is_kept_and_outputs_agree():
    torch.manual_seed(4)
    fused, readable, _ = _trio(torch.float32, num_layers=2)
    x = torch.randn(6, 2, 4)
    with torch.no_grad():
        output, (h_n, c_n) = fused(x)
        expected, (h_ref, c_ref) = readable(x)
    assert output.grad_fn is None and not output.requires_grad
    for a, b in ((output, expected), (h_n, h_ref), (c_n, c_ref)):
        assert (a - b).abs().max().item() < 1e-5


def test_the_gradient_reaches_an_input_it_shares_with_later_use():
    """Reusing the output (a residual sum) must add both paths' gradients, as autograd does."""
    torch.manual_seed(5)
    fused, readable, _ = _trio(torch.float64, num_layers=1)
    x = torch.randn(5, 2, 4, dtype=torch.float64)
    grads = []
    for module in (fused, readable):
        x_i = x.clone().requires_grad_()
        output, _ = module(x_i)
        (output + output.detach() * output).sum().backward()
        grads.append(x_i.grad)
    assert (grads[0] - grads[1]).abs().max().item() < 1e-12


def test_second_derivatives_need_the_readable_loop():
    torch.manual_seed(6)
    fused, readable, _ = _trio(torch.float64, num_layers=1)
    x = torch.randn(4, 2, 4, dtype=torch.float64, requires_grad=True)
    (grad,) = torch.autograd.grad(readable(x)[0].sum(), x, create_graph=True)
    grad.sum().backward()  # the readable loop is differentiated by autograd, twice if asked
    assert x.grad is not None
    with pytest.raises(RuntimeError, match=r'backend = "readable"'):
        torch.autograd.grad(fused(x)[0].sum(), x, create_graph=True)


def test_the_layer_runs_the_fused_function_when_asked():
    lstm = LSTM(4, 6, backend="fused")
    output, _ = lstm(torch.randn(3, 2, 4))
    assert output.grad_fn.name() == f"{FusedLSTMScan.__name__}Backward"
    lstm.backend = "readable"
    output, _ = lstm(torch.randn(3, 2, 4))
    assert "FusedLSTMScan" not in output.grad_fn.name()


@pytest.mark.parametrize("vectorize", [False, True], ids=["loop", "vmap"])
def test_jacobian_equals_the_readable_loops(vectorize):
    """jacobian(vectorize=True) runs the hand-written backward under vmap (chapter 4 does)."""
    torch.manual_seed(7)
    fused, readable, _ = _trio(
        torch.float64, num_layers=2, batch_first=True, bidirectional=True
    )
    x = torch.randn(2, 5, 4, dtype=torch.float64)
    jacobians = [
        torch.autograd.functional.jacobian(
            lambda inp, m=module: m(inp)[0], x, vectorize=vectorize
        )
        for module in (fused, readable)
    ]
    assert jacobians[0].shape == (2, 5, 12, 2, 5, 4)
    assert (jacobians[0] - jacobians[1]).abs().max().item() < 1e-12


def test_the_environment_fixes_the_form_and_a_bad_value_is_refused(
    candidate, monkeypatch
):
    assert fused.candidate_form(torch.device("cpu"), torch.float32) == candidate
    monkeypatch.setenv(ENVIRONMENT, "cosh")
    with pytest.raises(ConfigError, match=ENVIRONMENT):
        fused.candidate_form(torch.device("cpu"), torch.float32)
    with pytest.raises(ConfigError, match="form must be"):
        fused_lstm_scan(
            torch.zeros(2, 1, 4),
            torch.zeros(1, 1),
            torch.zeros(1, 1),
            torch.zeros(4, 1),
            form="cosh",
        )


def test_unset_the_form_is_timed_once_per_device_type_and_dtype(monkeypatch):
    monkeypatch.delenv(ENVIRONMENT)
    monkeypatch.setattr(fused, "_chosen", {})
    calls = []

    def timed(device, dtype):
        calls.append((device.type, dtype))
        return fused.CandidateTiming(1.0, 2.0, "sigmoid", 4, 1)

    monkeypatch.setattr(fused, "time_candidate_forms", timed)
    for _ in range(3):
        assert fused.candidate_form(torch.device("cpu"), torch.float32) == "sigmoid"
    fused.candidate_form(torch.device("cpu"), torch.float64)
    assert calls == [("cpu", torch.float32), ("cpu", torch.float64)]
    assert (
        fused.candidate_timing(torch.device("cpu"), torch.float32).tanh == 2.0
    )  # the kept measurement


@pytest.mark.parametrize(
    ("sigmoid", "tanh", "expected"),
    [
        (1.0, 2.5, "sigmoid"),
        (1.0, 0.5, "tanh"),
        (0.95, 1.0, "tanh"),
        (0.85, 1.0, "sigmoid"),
    ],
)
def test_the_one_sigmoid_form_must_win_by_the_margin(
    monkeypatch, sigmoid, tanh, expected
):
    """Two forms of about equal cost keep the plain tanh, so the choice does not flip with the noise."""
    monkeypatch.setattr(
        fused,
        "_interleaved",
        lambda timers, number, rounds: {"sigmoid": sigmoid, "tanh": tanh},
    )
    assert fused.time_candidate_forms(rounds=1, block_time=1e-4).choice == expected


def test_timing_the_forms_measures_both_and_draws_no_random_numbers():
    state = torch.get_rng_state()
    timing = fused.time_candidate_forms(rounds=2, block_time=1e-3)
    assert torch.equal(state, torch.get_rng_state())
    assert timing.sigmoid > 0 and timing.tanh > 0 and timing.choice in CANDIDATE_FORMS
    assert timing.tanh_over_sigmoid == timing.tanh / timing.sigmoid


def test_the_layer_attribute_picks_the_form(candidate):
    torch.manual_seed(8)
    layer = LSTM(3, 4, backend="fused")
    x = torch.randn(5, 2, 3)
    outputs = {}
    for form in CANDIDATE_FORMS:
        layer.candidate = form
        outputs[form] = layer(x)[0]
    assert (outputs["sigmoid"] - outputs["tanh"]).abs().max().item() < 1e-6
    layer.candidate = "cosh"
    with pytest.raises(ConfigError):
        layer(x)
