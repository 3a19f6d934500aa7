"""The one parity harness, lstm_study.nn.check_parity, run on every layer family against torch."""

from __future__ import annotations

import pytest
import torch

from lstm_study.nn import GRU, LSTM, RNN, check_parity

FAMILIES = {
    "RNN": (RNN, torch.nn.RNN),
    "LSTM": (LSTM, torch.nn.LSTM),
    "GRU": (GRU, torch.nn.GRU),
}
CONFIGS = [
    dict(num_layers=1, batch_first=False, bidirectional=False),
    dict(num_layers=3, batch_first=True, bidirectional=False),
    dict(num_layers=2, batch_first=False, bidirectional=True),
    dict(num_layers=2, batch_first=True, bidirectional=True),
    dict(num_layers=2, batch_first=False, bidirectional=False, bias=False),
]


def _name(config: dict) -> str:
    return "-".join(f"{k}={v}" for k, v in config.items())


def _initial_state(family: str, config: dict, dtype: torch.dtype):
    directions = 2 if config.get("bidirectional") else 1
    shape = (config["num_layers"] * directions, 5, 6)
    if family == "LSTM":
        return torch.randn(shape, dtype=dtype), torch.randn(shape, dtype=dtype)
    return torch.randn(shape, dtype=dtype)


@pytest.mark.parametrize("family", list(FAMILIES))
@pytest.mark.parametrize(
    "dtype", [torch.float32, torch.float64], ids=["float32", "float64"]
)
@pytest.mark.parametrize("config", CONFIGS, ids=_name)
@pytest.mark.parametrize(
    "given_state", [False, True], ids=["zero-state", "given-state"]
)
def test_every_family_matches_torch(family, dtype, config, given_state):
    torch.manual_seed(0)
    ours_cls, theirs_cls = FAMILIES[family]
    theirs = theirs_cls(4, 6, dtype=dtype, **config)
    ours = ours_cls(4, 6, dtype=dtype, **config)
    x = torch.randn((5, 7, 4) if config["batch_first"] else (7, 5, 4), dtype=dtype)
    hx = _initial_state(family, config, dtype) if given_state else None
    report = check_parity(ours, theirs, x, hx)
    limit = {torch.float32: 1e-5, torch.float64: 1e-10}[dtype]
    assert report.worst < limit


def test_report_lists_every_difference():
    torch.manual_seed(0)
    report = check_parity(
        GRU(3, 4), torch.nn.GRU(3, 4), torch.randn(5, 2, 3, dtype=torch.float32)
    )
    assert set(report.as_dict()) == {
        "output",
        "state",
        "input grad",
        "state grad",
        "param grad",
    }
    assert report.worst == max(report.as_dict().values())


def test_a_wrong_layer_fails_the_check():
    torch.manual_seed(0)
    theirs = torch.nn.GRU(3, 4, dtype=torch.float64)
    ours = GRU(
        3, 4, dtype=torch.float64, reset="before"
    )  # another function: must be caught
    with pytest.raises(AssertionError, match="output"):
        check_parity(ours, theirs, torch.randn(6, 2, 3, dtype=torch.float64))


def test_parameters_can_be_left_alone():
    torch.manual_seed(0)
    theirs, ours = torch.nn.RNN(3, 4), RNN(3, 4)  # drawn separately: different weights
    with pytest.raises(AssertionError):
        check_parity(ours, theirs, torch.randn(5, 2, 3), copy_parameters=False)
