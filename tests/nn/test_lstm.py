"""lstm_study.nn.LSTM against torch.nn.LSTM: same parameters in, same numbers out."""

from __future__ import annotations

import pytest
import torch

from lstm_study.errors import ConfigError, ShapeError
from lstm_study.nn import LSTM, GateTrace, check_parity

TOLERANCE = {torch.float32: 1e-5, torch.float64: 1e-10}
CONFIGS = [
    dict(num_layers=1, batch_first=False, bidirectional=False),
    dict(num_layers=1, batch_first=True, bidirectional=False),
    dict(num_layers=3, batch_first=True, bidirectional=False),
    dict(num_layers=2, batch_first=False, bidirectional=False),
    dict(num_layers=1, batch_first=True, bidirectional=True),
    dict(num_layers=2, batch_first=False, bidirectional=True),
    dict(num_layers=2, batch_first=True, bidirectional=True),
    dict(num_layers=2, batch_first=False, bidirectional=False, bias=False),
]


def _pair(dtype: torch.dtype, **config) -> tuple[LSTM, torch.nn.LSTM]:
    theirs = torch.nn.LSTM(4, 6, dtype=dtype, **config)
    ours = LSTM(4, 6, dtype=dtype, **config)
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
    state_shape = (config["num_layers"] * directions, 5, 6)
    hx = (
        (torch.randn(state_shape, dtype=dtype), torch.randn(state_shape, dtype=dtype))
        if given_state
        else None
    )
    report = check_parity(
        ours, theirs, x, hx
    )  # outputs, states and every gradient, assert_close
    assert report.worst < TOLERANCE[dtype]


def test_gradient_reaches_the_initial_state_as_in_torch():
    torch.manual_seed(2)
    ours, theirs = _pair(torch.float64, num_layers=2)
    x = torch.randn(6, 3, 4, dtype=torch.float64)
    grads = []
    for module in (ours, theirs):
        h0 = torch.randn(
            2, 3, 6, dtype=torch.float64, generator=torch.Generator().manual_seed(0)
        ).requires_grad_()
        c0 = torch.randn(
            2, 3, 6, dtype=torch.float64, generator=torch.Generator().manual_seed(1)
        ).requires_grad_()
        module(x, (h0, c0))[0].sum().backward()
        grads.append((h0.grad, c0.grad))
    assert _max_diff(grads[0][0], grads[1][0]) < 1e-10
    assert _max_diff(grads[0][1], grads[1][1]) < 1e-10


def test_state_dict_keys_and_shapes_match_torch():
    theirs = torch.nn.LSTM(3, 5, num_layers=2, bidirectional=True)
    ours = LSTM(3, 5, num_layers=2, bidirectional=True)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    assert {k: v.shape for k, v in ours.state_dict().items()} == {
        k: v.shape for k, v in theirs.state_dict().items()
    }
    assert ours.weight_hh_l0.shape == (20, 5)


def test_same_seed_gives_torchs_initialisation():
    torch.manual_seed(3)
    theirs = torch.nn.LSTM(3, 5, num_layers=2, bidirectional=True)
    torch.manual_seed(3)
    ours = LSTM(3, 5, num_layers=2, bidirectional=True)
    for (name, a), (_, b) in zip(
        theirs.state_dict().items(), ours.state_dict().items()
    ):
        assert torch.equal(a, b), name


def test_unbatched_input_matches_torch():
    torch.manual_seed(1)
    ours, theirs = _pair(torch.float64, num_layers=2)
    x = torch.randn(9, 4, dtype=torch.float64)
    hx = (
        torch.randn(2, 6, dtype=torch.float64),
        torch.randn(2, 6, dtype=torch.float64),
    )
    for state in (None, hx):
        (out_a, (h_a, c_a)), (out_b, (h_b, c_b)) = ours(x, state), theirs(x, state)
        assert out_a.shape == out_b.shape == (
            9,
            6,
        ) and h_a.shape == h_b.shape == c_a.shape == (2, 6)
        assert (
            max(_max_diff(out_a, out_b), _max_diff(h_a, h_b), _max_diff(c_a, c_b))
            < 1e-10
        )


def test_gate_order_is_i_f_g_o():
    # With every weight zero only the biases act: a large forget-gate bias must give f = 1.
    lstm = LSTM(2, 3, batch_first=True)
    with torch.no_grad():
        for param in lstm.parameters():
            param.zero_()
        lstm.bias_ih_l0[3:6] = 20.0
    with lstm.recording_gates() as traces:
        lstm(torch.randn(1, 4, 2))
    assert torch.allclose(traces[0].f, torch.ones(1, 4, 3))
    assert torch.allclose(traces[0].i, torch.full((1, 4, 3), 0.5))
    assert torch.allclose(traces[0].g, torch.zeros(1, 4, 3))


@pytest.mark.parametrize("batch_first", [False, True])
def test_recorded_gates_reproduce_the_outputs(batch_first):
    torch.manual_seed(0)
    lstm = LSTM(4, 6, num_layers=2, batch_first=batch_first, bidirectional=True)
    x = torch.randn(5, 7, 4)
    plain, _ = lstm(x)
    with lstm.recording_gates() as traces:
        output, (h_n, c_n) = lstm(x)
    assert torch.equal(output, plain)
    assert len(traces) == 4 and all(isinstance(trace, GateTrace) for trace in traces)
    layer0, layer0_reverse = traces[0], traces[1]
    assert layer0.i.shape == output[..., :6].shape
    for trace in traces:
        for gate in (trace.i, trace.f, trace.o):
            assert gate.min() >= 0 and gate.max() <= 1
        assert trace.g.min() >= -1 and trace.g.max() <= 1
        assert not trace.c.requires_grad
    top = traces[2]
    # (the compiled loop's tanh is its own: equal to torch's to a few units in the last place)
    assert torch.allclose(
        top.o * torch.tanh(top.c), output[..., :6].detach(), rtol=1e-5, atol=1e-6
    )
    time_axis = 1 if batch_first else 0
    last = layer0.c.select(time_axis, -1)
    first_reverse = layer0_reverse.c.select(time_axis, 0)
    assert torch.equal(last, c_n[0]) and torch.equal(first_reverse, c_n[1])
    # outside the block nothing is recorded and the traces are left alone
    lstm(x)
    assert len(lstm.gate_traces) == 4


def test_recording_unbatched_input_drops_the_batch_axis():
    lstm = LSTM(4, 6)
    with lstm.recording_gates() as traces:
        lstm(torch.randn(9, 4))
    assert traces[0].f.shape == (9, 6)


def test_bad_state_raises_a_clear_error():
    lstm = LSTM(4, 6, num_layers=2)
    x = torch.randn(7, 3, 4)
    with pytest.raises(ShapeError, match=r"a tuple \(h_0, c_0\)"):
        lstm(x, torch.randn(2, 3, 6))
    with pytest.raises(ShapeError, match=r"expected hidden state of shape \(2, 3, 6\)"):
        lstm(x, (torch.randn(2, 3, 6), torch.randn(1, 3, 6)))


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(input_size=0),
        dict(hidden_size=-1),
        dict(num_layers=1.5),
        dict(dropout=2.0),
        dict(proj_size=3),
    ],
)
def test_bad_constructor_arguments_raise(kwargs):
    args = dict(input_size=4, hidden_size=6) | kwargs
    with pytest.raises(ConfigError):
        LSTM(**args)


def test_proj_size_error_says_what_to_do():
    with pytest.raises(ConfigError, match="proj_size=0"):
        LSTM(4, 6, proj_size=2)


def test_constructor_takes_torchs_positional_order():
    ours = LSTM(4, 6, 2, False, True, 0.0, True)
    theirs = torch.nn.LSTM(4, 6, 2, False, True, 0.0, True)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    assert (ours.batch_first, ours.bidirectional, ours.bias) == (True, True, False)


def test_packed_sequence_is_refused_with_advice():
    packed = torch.nn.utils.rnn.pack_padded_sequence(torch.randn(5, 2, 4), [5, 3])
    with pytest.raises(TypeError, match="pad_packed_sequence"):
        LSTM(4, 6)(packed)


def test_repr_matches_torch():
    assert repr(LSTM(3, 5, num_layers=2, batch_first=True)) == repr(
        torch.nn.LSTM(3, 5, num_layers=2, batch_first=True)
    )
