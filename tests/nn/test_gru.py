"""lstm_study.nn.GRU against torch.nn.GRU, and the reset gate placed where Cho et al. put it."""

from __future__ import annotations

import pytest
import torch

from lstm_study.errors import ConfigError, ShapeError
from lstm_study.nn import GRU, check_parity

CONFIGS = [
    dict(num_layers=1, batch_first=False, bidirectional=False),
    dict(num_layers=1, batch_first=True, bidirectional=False),
    dict(num_layers=3, batch_first=True, bidirectional=False),
    dict(num_layers=1, batch_first=True, bidirectional=True),
    dict(num_layers=2, batch_first=False, bidirectional=True),
    dict(num_layers=2, batch_first=False, bidirectional=False, bias=False),
]


def _name(config: dict) -> str:
    return "-".join(f"{k}={v}" for k, v in config.items())


@pytest.mark.parametrize(
    "dtype", [torch.float32, torch.float64], ids=["float32", "float64"]
)
@pytest.mark.parametrize("config", CONFIGS, ids=_name)
@pytest.mark.parametrize(
    "given_state", [False, True], ids=["zero-state", "given-state"]
)
def test_outputs_states_and_gradients_match_torch(dtype, config, given_state):
    torch.manual_seed(0)
    theirs = torch.nn.GRU(4, 6, dtype=dtype, **config)
    ours = GRU(4, 6, dtype=dtype, **config)
    directions = 2 if config["bidirectional"] else 1
    x = torch.randn((5, 7, 4) if config["batch_first"] else (7, 5, 4), dtype=dtype)
    h0 = (
        torch.randn(config["num_layers"] * directions, 5, 6, dtype=dtype)
        if given_state
        else None
    )
    report = check_parity(ours, theirs, x, h0)
    assert report.worst < {torch.float32: 1e-5, torch.float64: 1e-10}[dtype]


def test_unbatched_input_matches_torch():
    torch.manual_seed(1)
    theirs = torch.nn.GRU(4, 6, num_layers=2, dtype=torch.float64)
    x, h0 = (
        torch.randn(9, 4, dtype=torch.float64),
        torch.randn(2, 6, dtype=torch.float64),
    )
    assert (
        check_parity(GRU(4, 6, num_layers=2, dtype=torch.float64), theirs, x, h0).worst
        < 1e-10
    )


def test_state_dict_keys_shapes_and_initialisation_match_torch():
    torch.manual_seed(3)
    theirs = torch.nn.GRU(3, 5, num_layers=2, bidirectional=True)
    torch.manual_seed(3)
    ours = GRU(3, 5, num_layers=2, bidirectional=True)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    for (name, a), (_, b) in zip(
        theirs.state_dict().items(), ours.state_dict().items()
    ):
        assert a.shape == b.shape and torch.equal(a, b), name
    assert ours.weight_hh_l0.shape == (15, 5)


def test_gate_order_is_r_z_n():
    # All weights zero, update-gate bias large: z = 1, so h never moves from h_0.
    gru = GRU(2, 3, dtype=torch.float64)
    with torch.no_grad():
        for param in gru.parameters():
            param.zero_()
        gru.bias_ih_l0[3:6] = 50.0
    h0 = torch.randn(1, 4, 3, dtype=torch.float64)
    _, h_n = gru(torch.randn(6, 4, 2, dtype=torch.float64), h0)
    assert torch.allclose(h_n, h0)


def _cho_step(x, h, w_ih, w_hh, b_ih, b_hh):
    """One step of Cho et al. (2014): the reset gate scales h before the recurrent product."""
    size = h.size(-1)
    a = x @ w_ih.T + b_ih
    r = torch.sigmoid(a[:, :size] + h @ w_hh[:size].T + b_hh[:size])
    z = torch.sigmoid(
        a[:, size : 2 * size] + h @ w_hh[size : 2 * size].T + b_hh[size : 2 * size]
    )
    n = torch.tanh(a[:, 2 * size :] + (r * h) @ w_hh[2 * size :].T + b_hh[2 * size :])
    return (1 - z) * n + z * h


def test_reset_before_is_the_cho_cell_and_differs_from_torchs():
    torch.manual_seed(0)
    gru = GRU(3, 4, reset="before", dtype=torch.float64)
    after = GRU(3, 4, dtype=torch.float64)
    after.load_state_dict(gru.state_dict())
    x, h = (
        torch.randn(5, 2, 3, dtype=torch.float64),
        torch.zeros(2, 4, dtype=torch.float64),
    )
    output, _ = gru(x)
    for t in range(5):
        h = _cho_step(
            x[t], h, gru.weight_ih_l0, gru.weight_hh_l0, gru.bias_ih_l0, gru.bias_hh_l0
        )
        assert torch.allclose(output[t], h, atol=1e-12)
    assert (output - after(x)[0]).abs().max() > 1e-3


def test_reset_forms_agree_when_the_reset_gate_is_open():
    # r = 1 makes r * (W h + b) = W (r * h) + b: the two forms coincide.
    torch.manual_seed(0)
    before = GRU(3, 4, reset="before", dtype=torch.float64)
    with torch.no_grad():
        before.weight_ih_l0[:4] = 0
        before.weight_hh_l0[:4] = 0
        before.bias_ih_l0[:4] = 50.0
    after = GRU(3, 4, dtype=torch.float64)
    after.load_state_dict(before.state_dict())
    x = torch.randn(6, 2, 3, dtype=torch.float64)
    assert torch.allclose(before(x)[0], after(x)[0], atol=1e-12)


def test_bad_arguments_raise_clear_errors():
    with pytest.raises(ConfigError, match="reset"):
        GRU(3, 4, reset="middle")
    with pytest.raises(ShapeError, match="a tensor h_0"):
        GRU(3, 4)(torch.randn(5, 2, 3), (torch.zeros(1, 2, 4), torch.zeros(1, 2, 4)))
    with pytest.raises(ShapeError, match="input_size=3"):
        GRU(3, 4)(torch.randn(5, 2, 2))


def test_repr_matches_torch():
    assert repr(GRU(3, 5, num_layers=2, batch_first=True)) == repr(
        torch.nn.GRU(3, 5, num_layers=2, batch_first=True)
    )
    assert "reset='before'" in repr(GRU(3, 5, reset="before"))
