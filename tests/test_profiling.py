"""loops_in_graph names the loop that computed an output, read off its autograd graph."""

from __future__ import annotations

import pytest
import torch

from lstm_study.nn import GRU, LSTM, RNN, compiled
from lstm_study.profiling import loops_in_graph


@pytest.fixture(scope="module")
def built() -> None:
    if not compiled.load():
        pytest.skip(
            f"the compiled loop cannot be built: {compiled.unavailable_reason()}"
        )


@pytest.mark.parametrize(
    "make, expected",
    [
        (lambda: LSTM(3, 8, backend="fused"), {"fused"}),
        (lambda: LSTM(3, 8, backend="readable"), {"readable"}),
        (lambda: GRU(3, 8, reset="before"), {"readable"}),
        (lambda: torch.nn.LSTM(3, 8), {"torch"}),
    ],
)
def test_each_loop_is_named(make, expected: set[str]) -> None:
    x = torch.randn(5, 4, 3)
    assert loops_in_graph(make()(x)[0]) == expected


@pytest.mark.parametrize(
    "layer", [LSTM(3, 8), LSTM(3, 8, variant="peephole"), GRU(3, 8), RNN(3, 8)]
)
def test_the_default_is_the_compiled_loop(built: None, layer: torch.nn.Module) -> None:
    assert loops_in_graph(layer(torch.randn(5, 4, 3))[0]) == {"compiled"}


def test_a_stack_of_two_loops_names_both(built: None) -> None:
    x = torch.randn(5, 4, 3)
    first, second = LSTM(3, 8, backend="fused"), LSTM(8, 8, backend="compiled")
    assert loops_in_graph(second(first(x)[0])[0]) == {"fused", "compiled"}
