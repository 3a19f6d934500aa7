"""The hand-written BPTT agrees with autograd."""

from __future__ import annotations

import pytest
import torch

from lstm_study.bptt import manual_bptt
from lstm_study.errors import ConfigError, ShapeError
from lstm_study.nn import RNN


@pytest.mark.parametrize("given_state", [False, True])
def test_manual_bptt_matches_autograd(given_state):
    torch.manual_seed(0)
    rnn = RNN(3, 5, dtype=torch.float64)
    x = torch.randn(8, 4, 3, dtype=torch.float64, requires_grad=True)
    h0 = torch.randn(1, 4, 5, dtype=torch.float64) if given_state else None
    grad_output = torch.randn(8, 4, 5, dtype=torch.float64)
    output, _ = rnn(x, h0)
    output.backward(grad_output)
    ours = manual_bptt(rnn, x.detach(), grad_output, h0)
    assert torch.allclose(ours.inputs, x.grad, atol=1e-12)
    for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
        assert torch.allclose(
            getattr(ours, name), getattr(rnn, name + "_l0").grad, atol=1e-12
        ), name


def test_hidden_gradient_of_last_step_is_the_direct_gradient():
    torch.manual_seed(1)
    rnn = RNN(2, 3, dtype=torch.float64)
    x, g = (
        torch.randn(5, 2, 2, dtype=torch.float64),
        torch.randn(5, 2, 3, dtype=torch.float64),
    )
    assert torch.equal(manual_bptt(rnn, x, g).hidden[-1], g[-1])


def test_unsupported_configurations_are_refused():
    with pytest.raises(ConfigError):
        manual_bptt(RNN(2, 3, num_layers=2), torch.randn(4, 1, 2), torch.randn(4, 1, 3))
    with pytest.raises(ShapeError):
        manual_bptt(RNN(2, 3), torch.randn(4, 1, 2), torch.randn(4, 1, 4))
