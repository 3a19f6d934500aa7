"""minLSTM and minGRU: the parallel (log-space scan) form against the sequential recurrence."""

import pytest
import torch

from lstm_study.errors import ConfigError, ShapeError
from lstm_study.nn.minlstm import (
    MinGRU,
    MinLSTM,
    MinStack,
    g,
    log_g,
    parallel_scan_log,
)
from lstm_study.text.minlstm import CharMinLSTM

KINDS = {"minlstm": MinLSTM, "mingru": MinGRU}


def _inputs(seed: int, batch: int = 3, steps: int = 17, size: int = 5) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(batch, steps, size, generator=generator, dtype=torch.float64) * 2


@pytest.mark.parametrize("kind", sorted(KINDS))
@pytest.mark.parametrize("with_h0", [False, True])
def test_parallel_equals_sequential_outputs_state_and_every_gradient(kind, with_h0):
    torch.manual_seed(0)
    layer = KINDS[kind](5, 4).double()
    x = _inputs(1).requires_grad_()
    h0 = (
        (torch.rand(3, 4, dtype=torch.float64) + 0.1).requires_grad_()
        if with_h0
        else None
    )
    weights = torch.randn(3, 17, 4, dtype=torch.float64)
    results = {}
    for form in ("parallel", "sequential"):
        out, last = layer(x, h0, form)
        loss = (out * weights).sum() + last.square().sum()
        inputs = [x, *layer.parameters()] + ([h0] if with_h0 else [])
        results[form] = (out, last, torch.autograd.grad(loss, inputs))
    (p_out, p_last, p_grads), (s_out, s_last, s_grads) = results.values()
    torch.testing.assert_close(p_out, s_out, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(p_last, s_last, rtol=1e-10, atol=1e-12)
    assert len(p_grads) == len(s_grads) >= 3
    for p, s in zip(p_grads, s_grads, strict=True):
        torch.testing.assert_close(p, s, rtol=1e-9, atol=1e-11)


def test_the_recurrence_is_the_published_one():
    torch.manual_seed(0)
    layer = MinLSTM(2, 3).double()
    x = _inputs(2, batch=1, steps=4, size=2)
    out, _ = layer(x)
    k_f, k_i, k_h = layer.linear(x).chunk(3, dim=-1)
    f, i = torch.sigmoid(k_f), torch.sigmoid(k_i)
    h = torch.zeros(1, 3, dtype=torch.float64)
    for t in range(4):
        h = f[:, t] / (f[:, t] + i[:, t]) * h + i[:, t] / (f[:, t] + i[:, t]) * g(
            k_h[:, t]
        )
        torch.testing.assert_close(out[:, t], h)


def test_g_is_positive_and_log_g_its_log():
    x = torch.linspace(-30, 30, 601, dtype=torch.float64)
    assert (g(x) > 0).all()
    torch.testing.assert_close(log_g(x), torch.log(g(x)))


def test_scan_against_a_loop():
    generator = torch.Generator().manual_seed(3)
    a = torch.rand(2, 50, 3, generator=generator, dtype=torch.float64)
    b = torch.rand(2, 50, 3, generator=generator, dtype=torch.float64)
    h0 = torch.rand(2, 3, generator=generator, dtype=torch.float64)
    h, expected = h0, []
    for t in range(50):
        h = a[:, t] * h + b[:, t]
        expected.append(h)
    got = parallel_scan_log(a.log(), b.log(), h0)
    torch.testing.assert_close(got, torch.stack(expected, dim=1))


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_gradcheck_on_a_tiny_case(kind):
    torch.manual_seed(0)
    layer = KINDS[kind](2, 3).double()
    x = _inputs(4, batch=2, steps=5, size=2).requires_grad_()
    h0 = (torch.rand(2, 3, dtype=torch.float64) + 0.1).requires_grad_()
    assert torch.autograd.gradcheck(lambda x, h0: layer(x, h0)[0], (x, h0))


@pytest.mark.parametrize("form", ["parallel", "sequential"])
def test_carrying_the_state_across_two_windows_equals_one_call(form):
    torch.manual_seed(0)
    stack = MinStack(6, 3).double()
    x = _inputs(5, batch=2, steps=20, size=6)
    whole, whole_state = stack(x, form=form)
    first, state = stack(x[:, :8], form=form)
    second, state = stack(x[:, 8:], state, form=form)
    torch.testing.assert_close(torch.cat([first, second], dim=1), whole)
    torch.testing.assert_close(state, whole_state)
    assert whole_state.shape == (3, 2, 6)


def test_char_model_shapes_and_forms_agree():
    torch.manual_seed(0)
    model = CharMinLSTM(11, width=8, num_layers=2).double()
    codes = torch.randint(0, 11, (2, 9))
    logits, state = model(codes)
    seq_logits, seq_state = model(codes, form="sequential")
    assert logits.shape == (2, 9, 11) and state.shape == (2, 2, 8)
    torch.testing.assert_close(logits, seq_logits)
    torch.testing.assert_close(state, seq_state)


def test_bad_inputs_are_refused():
    layer = MinLSTM(3, 4)
    with pytest.raises(ShapeError):
        layer(torch.zeros(2, 5))
    with pytest.raises(ShapeError):
        layer(torch.zeros(2, 5, 3), torch.ones(3, 4))
    with pytest.raises(ConfigError):
        layer(torch.zeros(2, 5, 3), form="diagonal")
    with pytest.raises(ConfigError):
        MinStack(4, 2, kind="mamba")
