"""The LSTM variants of Greff et al. (2017): each a different cell, the one its equations say."""

from __future__ import annotations

import pytest
import torch

from lstm_study.errors import ConfigError
from lstm_study.nn import LSTM, VARIANTS, check_parity

DOUBLE = torch.float64
OTHERS = [name for name in VARIANTS if name != "standard"]


def _reference(
    variant: str, x: torch.Tensor, lstm: LSTM
) -> tuple[torch.Tensor, torch.Tensor]:
    """The variant's equations, written out step by step for one layer: outputs and cells."""
    size = lstm.hidden_size
    h = torch.zeros(x.size(1), size, dtype=x.dtype)
    c = torch.zeros_like(h)
    rows = {gate: lstm.gate_rows(gate) for gate in lstm.blocks}
    w_ih, w_hh = lstm.weight_ih_l0, lstm.weight_hh_l0
    bias = lstm.bias_ih_l0 + lstm.bias_hh_l0
    p = getattr(lstm, "weight_peephole_l0", torch.zeros(3, size, dtype=x.dtype))
    outputs, cells = [], []
    for x_t in x:
        a = {g: x_t @ w_ih[r].T + h @ w_hh[r].T + bias[r] for g, r in rows.items()}
        one = torch.ones_like(c)
        i = torch.sigmoid(a["i"] + p[0] * c) if "i" in a else one
        f = (
            1 - i
            if variant == "coupled"
            else torch.sigmoid(a["f"] + p[1] * c)
            if "f" in a
            else one
        )
        c = f * c + i * torch.tanh(a["g"])
        o = torch.sigmoid(a["o"] + p[2] * c) if "o" in a else one
        h = o * (c if variant == "no_output_activation" else torch.tanh(c))
        outputs.append(h)
        cells.append(c)
    return torch.stack(outputs), torch.stack(cells)


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_each_variant_computes_its_equations(variant):
    torch.manual_seed(0)
    lstm = LSTM(3, 4, variant=variant, dtype=DOUBLE)
    x = torch.randn(8, 2, 3, dtype=DOUBLE)
    with lstm.recording_gates() as traces:
        output, (h_n, c_n) = lstm(x)
    expected, cells = _reference(variant, x, lstm)
    assert torch.allclose(output, expected, atol=1e-12)
    assert torch.allclose(traces[0].c, cells, atol=1e-12)
    assert torch.allclose(c_n[0], cells[-1], atol=1e-12)


@pytest.mark.parametrize(
    "variant, blocks, extra",
    [
        ("standard", 4, 0),
        ("no_forget_gate", 3, 0),
        ("no_input_gate", 3, 0),
        ("no_output_gate", 3, 0),
        ("no_output_activation", 4, 0),
        ("coupled", 3, 0),
        ("peephole", 4, 3),
    ],
)
def test_a_removed_gate_has_no_weights_and_peepholes_add_some(variant, blocks, extra):
    lstm = LSTM(3, 5, num_layers=2, bidirectional=True, variant=variant)
    assert lstm.weight_ih_l0.shape == (blocks * 5, 3)
    assert lstm.weight_hh_l1_reverse.shape == (blocks * 5, 5)
    per_direction = blocks * 5 * (3 + 5 + 2) + extra * 5
    first_layer = [p for n, p in lstm.named_parameters() if n.endswith("_l0")]
    assert sum(p.numel() for p in first_layer) == per_direction


@pytest.mark.parametrize("variant", OTHERS)
def test_every_parameter_gets_a_gradient(variant):
    torch.manual_seed(0)
    lstm = LSTM(
        3, 4, num_layers=2, batch_first=True, bidirectional=True, variant=variant
    )
    output, (h_n, c_n) = lstm(torch.randn(2, 6, 3))
    (output.sum() + c_n.sum()).backward()
    for name, param in lstm.named_parameters():
        assert param.grad is not None and param.grad.abs().sum() > 0, name


@pytest.mark.parametrize(
    "gate, variant",
    [("f", "no_forget_gate"), ("i", "no_input_gate"), ("o", "no_output_gate")],
)
def test_a_removed_gate_is_the_standard_cell_with_that_gate_stuck_open(gate, variant):
    torch.manual_seed(0)
    standard = LSTM(3, 4, dtype=DOUBLE, variant="standard")
    rows = standard.gate_rows(gate)
    with torch.no_grad():
        for param in (
            standard.weight_ih_l0,
            standard.weight_hh_l0,
            standard.bias_hh_l0,
        ):
            param[rows] = 0
        standard.bias_ih_l0[rows] = 60.0  # sigmoid(60) is 1.0 in double precision
    variant_lstm = LSTM(3, 4, dtype=DOUBLE, variant=variant)
    keep = [standard.gate_rows(g) for g in variant_lstm.blocks]
    with torch.no_grad():
        for name, param in variant_lstm.named_parameters():
            param.copy_(torch.cat([getattr(standard, name)[r] for r in keep]))
    x = torch.randn(7, 2, 3, dtype=DOUBLE)
    (out_a, (_, c_a)), (out_b, (_, c_b)) = standard(x), variant_lstm(x)
    assert torch.allclose(out_a, out_b, atol=1e-12) and torch.allclose(
        c_a, c_b, atol=1e-12
    )


def test_peephole_with_zero_peepholes_is_torchs_lstm():
    torch.manual_seed(0)
    theirs = torch.nn.LSTM(3, 4, num_layers=2, dtype=DOUBLE)
    ours = LSTM(3, 4, num_layers=2, dtype=DOUBLE, variant="peephole")
    ours.load_state_dict(theirs.state_dict(), strict=False)
    with torch.no_grad():
        ours.weight_peephole_l0.zero_()
        ours.weight_peephole_l1.zero_()
    x = torch.randn(6, 2, 3, dtype=DOUBLE)
    assert torch.allclose(ours(x)[0], theirs(x)[0], atol=1e-12)


def test_recorded_gates_show_each_variants_constraint():
    torch.manual_seed(0)
    x = torch.randn(2, 9, 3)
    traces = {}
    for variant in ("no_forget_gate", "coupled", "no_output_gate", "no_input_gate"):
        lstm = LSTM(3, 4, batch_first=True, variant=variant)
        with lstm.recording_gates() as recorded:
            lstm(x)
        traces[variant] = recorded[0]
    assert torch.equal(traces["no_forget_gate"].f, torch.ones(2, 9, 4))
    assert torch.allclose(
        traces["coupled"].f + traces["coupled"].i, torch.ones(2, 9, 4)
    )
    assert torch.equal(traces["no_output_gate"].o, torch.ones(2, 9, 4))
    assert torch.equal(traces["no_input_gate"].i, torch.ones(2, 9, 4))


def test_the_standard_variant_stays_torch_exact():
    torch.manual_seed(0)
    ours = LSTM(4, 6, num_layers=2, bidirectional=True)
    assert ours.variant == "standard" and ours.backend == "auto"
    theirs = torch.nn.LSTM(4, 6, num_layers=2, bidirectional=True)
    report = check_parity(ours, theirs, torch.randn(7, 5, 4))
    assert report.worst < 1e-5


def test_bad_variant_and_missing_gate_raise_clear_errors():
    with pytest.raises(ConfigError, match="variant must be one of"):
        LSTM(3, 4, variant="no_gates")
    with pytest.raises(ConfigError, match="no 'f' block"):
        LSTM(3, 4, variant="coupled").gate_rows("f")
    assert "variant='coupled'" in repr(LSTM(3, 4, variant="coupled"))
