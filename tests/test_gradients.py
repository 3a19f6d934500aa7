"""hidden_gradient_norms on cases whose answer is known."""

from __future__ import annotations

import pytest
import torch

from lstm_study.errors import ConfigError, ShapeError
from lstm_study.gradients import hidden_gradient_norms
from lstm_study.nn import LSTM, RNN


def _linear_rnn(a: float, hidden: int = 3) -> RNN:
    """A ReLU RNN with W_hh = a*I, positive input weights and no bias: on positive inputs every
    state is positive, so ReLU is the identity and h_t = a h_{t-1} + W_ih x_t exactly."""
    rnn = RNN(2, hidden, nonlinearity="relu", bias=False, dtype=torch.float64)
    with torch.no_grad():
        rnn.weight_hh_l0.copy_(a * torch.eye(hidden, dtype=torch.float64))
        rnn.weight_ih_l0.uniform_(0.1, 1.0)
    return rnn


@pytest.mark.parametrize("a", [0.5, 0.9, 1.0, 1.3])
def test_linear_recurrence_gives_powers_of_a(a):
    seq_len = 12
    rnn = _linear_rnn(a)
    x = torch.rand(seq_len, 4, 2, dtype=torch.float64) + 0.1
    norms = hidden_gradient_norms(rnn, x)
    assert norms.shape == (seq_len,) and norms.dtype == torch.float64
    distance = torch.arange(seq_len - 1, -1, -1, dtype=torch.float64)
    # L = sum(h_T), so dL/dh_T is all ones: its norm is sqrt(batch * hidden)
    expected = a**distance * (4 * 3) ** 0.5
    torch.testing.assert_close(norms, expected, rtol=1e-12, atol=0)


def test_batch_first_gives_the_same_norms():
    rnn = _linear_rnn(0.8)
    x = torch.rand(10, 4, 2, dtype=torch.float64) + 0.1
    time_major = hidden_gradient_norms(rnn, x)
    rnn.batch_first = True
    torch.testing.assert_close(
        hidden_gradient_norms(rnn, x.transpose(0, 1)), time_major
    )


@pytest.mark.parametrize(
    "ours_cls, theirs_cls", [(RNN, torch.nn.RNN), (LSTM, torch.nn.LSTM)]
)
@pytest.mark.parametrize("num_layers", [1, 2])
def test_our_modules_and_torchs_give_the_same_norms(ours_cls, theirs_cls, num_layers):
    torch.manual_seed(0)
    theirs = theirs_cls(3, 5, num_layers=num_layers, dtype=torch.float64)
    ours = ours_cls(3, 5, num_layers=num_layers, dtype=torch.float64)
    ours.load_state_dict(theirs.state_dict())
    x = torch.randn(15, 2, 3, dtype=torch.float64)
    norms_ours, norms_theirs = (
        hidden_gradient_norms(ours, x),
        hidden_gradient_norms(theirs, x),
    )
    torch.testing.assert_close(norms_ours, norms_theirs, rtol=1e-9, atol=1e-12)
    assert (norms_ours > 0).all()


def test_last_step_norm_is_the_direct_gradient_and_earlier_ones_follow_the_chain_rule():
    torch.manual_seed(1)
    rnn = RNN(3, 4, dtype=torch.float64)
    x = torch.randn(6, 2, 3, dtype=torch.float64)
    weights = torch.randn(2, 4, dtype=torch.float64)
    norms = hidden_gradient_norms(rnn, x, loss_fn=lambda h: (h * weights).sum())
    assert norms[-1].item() == pytest.approx(weights.norm().item(), rel=1e-12)
    # one step back: dL/dh_{T-1} = W_hh^T diag(1 - h_T^2) dL/dh_T
    output, _ = rnn(x)
    h_last = output[-1]
    expected = ((weights * (1 - h_last**2)) @ rnn.weight_hh_l0).norm().item()
    assert norms[-2].item() == pytest.approx(expected, rel=1e-10)


@pytest.mark.parametrize("forget_bias, carousel", [(50.0, True), (-50.0, False)])
def test_cell_state_gradient_is_carried_unchanged_by_an_open_forget_gate(
    forget_bias, carousel
):
    # With W_hh = 0 and f = 1, c_t reaches the loss only through c_{t+1} = c_t + i g: the
    # constant error carousel. With f = 0 nothing older than one step reaches it.
    torch.manual_seed(0)
    lstm = LSTM(2, 3, dtype=torch.float64)
    with torch.no_grad():
        lstm.weight_hh_l0.zero_()
        lstm.bias_ih_l0[3:6] = forget_bias
    x = torch.randn(8, 2, 2, dtype=torch.float64)
    norms = hidden_gradient_norms(lstm, x, state="c")
    assert norms[-1] == 0  # the loss reads h_T, which the carried c_T no longer feeds
    if carousel:
        assert norms[0] > 0
        torch.testing.assert_close(norms[:-1], norms[0].expand(7), rtol=1e-12, atol=0)
    else:
        assert norms[:-1].max() < 1e-15


def test_refuses_bad_calls():
    with pytest.raises(ConfigError, match="unidirectional"):
        hidden_gradient_norms(LSTM(2, 3, bidirectional=True), torch.randn(5, 1, 2))
    with pytest.raises(ShapeError, match="3-D"):
        hidden_gradient_norms(LSTM(2, 3), torch.randn(5, 2))
    with pytest.raises(ConfigError, match="cell state"):
        hidden_gradient_norms(RNN(2, 3), torch.randn(5, 1, 2), state="c")
    with pytest.raises(ConfigError, match="'h' or 'c'"):
        hidden_gradient_norms(RNN(2, 3), torch.randn(5, 1, 2), state="x")
    with pytest.raises(ShapeError, match="scalar"):
        hidden_gradient_norms(RNN(2, 3), torch.randn(5, 1, 2), loss_fn=lambda h: h)
