"""lstm_study.nn.RNN against torch.nn.RNN: same parameters in, same numbers out."""

from __future__ import annotations

import pytest
import torch

from lstm_study.errors import ConfigError, ShapeError
from lstm_study.nn import RNN, check_parity

TOLERANCE = {torch.float32: 1e-5, torch.float64: 1e-10}
CONFIGS = [
    dict(num_layers=1, batch_first=False, bidirectional=False),
    dict(num_layers=3, batch_first=True, bidirectional=False),
    dict(num_layers=2, batch_first=False, bidirectional=True),
    dict(num_layers=2, batch_first=True, bidirectional=True),
    dict(num_layers=1, batch_first=True, bidirectional=False, nonlinearity="relu"),
    dict(num_layers=2, batch_first=False, bidirectional=False, bias=False),
]


def _pair(dtype: torch.dtype, **config) -> tuple[RNN, torch.nn.RNN]:
    theirs = torch.nn.RNN(4, 6, dtype=dtype, **config)
    ours = RNN(4, 6, dtype=dtype, **config)
    ours.load_state_dict(theirs.state_dict())
    return ours, theirs


def _max_diff(a: torch.Tensor, b: torch.Tensor) -> float:
    return (a - b).abs().max().item()


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize(
    "config", CONFIGS, ids=lambda c: "-".join(f"{k}={v}" for k, v in c.items())
)
@pytest.mark.parametrize("given_state", [False, True])
def test_outputs_and_gradients_match_torch(dtype, config, given_state):
    torch.manual_seed(0)
    ours, theirs = _pair(dtype, **config)
    directions = 2 if config.get("bidirectional") else 1
    shape = (5, 7, 4) if config["batch_first"] else (7, 5, 4)
    x = torch.randn(shape, dtype=dtype)
    h0 = (
        torch.randn(config["num_layers"] * directions, 5, 6, dtype=dtype)
        if given_state
        else None
    )
    report = check_parity(
        ours, theirs, x, h0
    )  # outputs, states and every gradient, assert_close
    assert report.worst < TOLERANCE[dtype]


def test_state_dict_keys_and_shapes_match_torch():
    theirs = torch.nn.RNN(3, 5, num_layers=2, bidirectional=True)
    ours = RNN(3, 5, num_layers=2, bidirectional=True)
    assert {k: v.shape for k, v in ours.state_dict().items()} == {
        k: v.shape for k, v in theirs.state_dict().items()
    }
    assert list(ours.state_dict()) == list(theirs.state_dict())


def test_same_seed_gives_torchs_initialisation():
    torch.manual_seed(3)
    theirs = torch.nn.RNN(3, 5, num_layers=2)
    torch.manual_seed(3)
    ours = RNN(3, 5, num_layers=2)
    for (name, a), (_, b) in zip(
        theirs.state_dict().items(), ours.state_dict().items()
    ):
        assert torch.equal(a, b), name


def test_unbatched_input_matches_torch():
    torch.manual_seed(1)
    ours, theirs = _pair(torch.float64, num_layers=2)
    x = torch.randn(9, 4, dtype=torch.float64)
    h0 = torch.randn(2, 6, dtype=torch.float64)
    for hx in (None, h0):
        (out_a, h_a), (out_b, h_b) = ours(x, hx), theirs(x, hx)
        assert out_a.shape == out_b.shape == (9, 6) and h_a.shape == h_b.shape == (2, 6)
        assert _max_diff(out_a, out_b) < 1e-10 and _max_diff(h_a, h_b) < 1e-10


def test_bad_state_raises_a_clear_error():
    rnn = RNN(4, 6, num_layers=2)
    with pytest.raises(ShapeError, match=r"expected hidden state of shape \(2, 3, 6\)"):
        rnn(torch.randn(7, 3, 4), torch.randn(1, 3, 6))
    with pytest.raises(ShapeError, match="a tensor h_0"):
        rnn(torch.randn(7, 3, 4), (torch.randn(2, 3, 6), torch.randn(2, 3, 6)))


def test_shape_error_is_also_a_value_error():
    with pytest.raises(ValueError):
        RNN(4, 6)(torch.randn(7, 3, 5))


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(input_size=0),
        dict(hidden_size=-1),
        dict(num_layers=1.5),
        dict(dropout=2.0),
        dict(nonlinearity="gelu"),
    ],
)
def test_bad_constructor_arguments_raise(kwargs):
    args = dict(input_size=4, hidden_size=6) | kwargs
    with pytest.raises(ConfigError):
        RNN(**args)


def test_packed_sequence_is_refused_with_advice():
    packed = torch.nn.utils.rnn.pack_padded_sequence(torch.randn(5, 2, 4), [5, 3])
    with pytest.raises(TypeError, match="pad_packed_sequence"):
        RNN(4, 6)(packed)


def test_repr_matches_torch():
    assert repr(RNN(3, 5, num_layers=2, batch_first=True)) == repr(
        torch.nn.RNN(3, 5, num_layers=2, batch_first=True)
    )
