"""What a bidirectional layer sees: the forward half only the past, the backward half only the future.

Equivalence with torch (outputs, gradients, state_dict keys) is tested per layer in test_rnn.py and
test_lstm.py; these tests pin the property chapter 4 rests on, for both layers.
"""

from __future__ import annotations

import pytest
import torch

from lstm_study.nn import LSTM, RNN

LAYERS = [LSTM, RNN]


def _jacobian_halves(layer_cls, num_layers: int) -> tuple[torch.Tensor, torch.Tensor]:
    """|d output[t, half] / d x[s]| summed over units and features, shape (T, T) per half."""
    torch.manual_seed(0)
    hidden, length = 5, 7
    layer = layer_cls(
        3,
        hidden,
        num_layers=num_layers,
        batch_first=True,
        bidirectional=True,
        dtype=torch.float64,
    )
    x = torch.randn(1, length, 3, dtype=torch.float64)
    jac = torch.autograd.functional.jacobian(
        lambda inp: layer(inp)[0], x
    )  # (1, T, 2H, 1, T, 3)
    jac = jac[0, :, :, 0].abs()
    return jac[:, :hidden].sum((1, 3)), jac[:, hidden:].sum((1, 3))


@pytest.mark.parametrize("layer_cls", LAYERS)
def test_one_layer_forward_half_reads_the_past_and_backward_half_the_future(layer_cls):
    forward, backward = _jacobian_halves(layer_cls, num_layers=1)
    later = torch.triu(torch.ones_like(forward, dtype=torch.bool), diagonal=1)  # s > t
    earlier = torch.tril(
        torch.ones_like(forward, dtype=torch.bool), diagonal=-1
    )  # s < t
    assert (forward[later] == 0).all() and (forward[~later] > 0).all()
    assert (backward[earlier] == 0).all() and (backward[~earlier] > 0).all()


@pytest.mark.parametrize("layer_cls", LAYERS)
def test_stacked_layers_see_the_whole_sequence_in_both_halves(layer_cls):
    forward, backward = _jacobian_halves(layer_cls, num_layers=2)
    assert (forward > 0).all() and (backward > 0).all()


@pytest.mark.parametrize("layer_cls", LAYERS)
@pytest.mark.parametrize("batch_first", [True, False])
def test_final_states_are_the_last_forward_and_the_first_backward_output(
    layer_cls, batch_first
):
    torch.manual_seed(1)
    hidden = 4
    ours = layer_cls(
        3, hidden, num_layers=2, batch_first=batch_first, bidirectional=True
    )
    theirs = getattr(torch.nn, layer_cls.__name__)(
        3, hidden, num_layers=2, batch_first=batch_first, bidirectional=True
    )
    ours.load_state_dict(theirs.state_dict())
    x = torch.randn((2, 6, 3) if batch_first else (6, 2, 3))
    for model in (ours, theirs):
        output, state = model(x)
        h_n = state[0] if isinstance(state, tuple) else state
        time_major = output if not batch_first else output.transpose(0, 1)
        assert h_n.shape == (4, 2, hidden)
        assert torch.allclose(
            h_n[-2], time_major[-1, :, :hidden]
        )  # last layer, forward: end of the sequence
        assert torch.allclose(
            h_n[-1], time_major[0, :, hidden:]
        )  # last layer, backward: its start
