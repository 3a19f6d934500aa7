"""One check for every layer family: our layer and torch's, same parameters in, same numbers out.

:func:`check_parity` runs both layers on the same input (and initial state, if given), compares
outputs, final states and the gradients of the input, the initial state and every parameter with
``torch.testing.assert_close``, and returns the largest differences so a chapter can print them.
The RNN, LSTM and GRU tests all call it.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

#: the default absolute tolerance per floating-point type
TOLERANCE = {torch.float32: 1e-5, torch.float64: 1e-10}


@dataclass(frozen=True)
class ParityReport:
    """Largest absolute differences between two layers' outputs, final states and gradients."""

    output: float
    state: float
    input_grad: float
    state_grad: float
    param_grad: float

    @property
    def worst(self) -> float:
        """The largest of all the differences."""
        return max(
            self.output, self.state, self.input_grad, self.state_grad, self.param_grad
        )

    def as_dict(self) -> dict[str, float]:
        """The differences by name, for a table."""
        return {
            "output": self.output,
            "state": self.state,
            "input grad": self.input_grad,
            "state grad": self.state_grad,
            "param grad": self.param_grad,
        }


def _states(state: Tensor | tuple[Tensor, ...]) -> tuple[Tensor, ...]:
    return (state,) if isinstance(state, Tensor) else tuple(state)


def _max_diff(a: Tensor | None, b: Tensor | None) -> float:
    if a is None and b is None:
        return 0.0
    if a is None or b is None:
        raise AssertionError(
            "one layer produced a gradient where the other produced none"
        )
    return (a - b).abs().max().item() if a.numel() else 0.0


def check_parity(
    ours: nn.Module,
    theirs: nn.Module,
    input: Tensor,
    hx: Tensor | tuple[Tensor, ...] | None = None,
    *,
    atol: float | None = None,
    rtol: float = 0.0,
    copy_parameters: bool = True,
    seed: int = 0,
) -> ParityReport:
    """Assert that ``ours`` reproduces ``theirs`` (outputs, states, gradients); return the gaps.

    With ``copy_parameters`` (the default) ``theirs.state_dict()`` is loaded into ``ours`` first.
    ``atol`` defaults to :data:`TOLERANCE` for the input's dtype. The loss that is differentiated
    weights every output with a fixed random number and adds the squares of the final states,
    so that no gradient is trivially zero.
    """
    if copy_parameters:
        ours.load_state_dict(theirs.state_dict())
    tolerance = TOLERANCE.get(input.dtype, 1e-5) if atol is None else atol
    given = None if hx is None else _states(hx)
    results = []
    for module in (ours, theirs):
        module.zero_grad(set_to_none=True)
        x = input.detach().clone().requires_grad_(True)
        states = None
        if given is not None:
            states = tuple(s.detach().clone().requires_grad_(True) for s in given)
        state_arg = (
            None
            if states is None
            else (states[0] if isinstance(hx, Tensor) else states)
        )
        output, final = module(x, state_arg)
        final = _states(final)
        weights = torch.randn(
            output.shape,
            dtype=output.dtype,
            generator=torch.Generator().manual_seed(seed),
        )
        loss = (output * weights).sum() + sum(s.square().sum() for s in final)
        loss.backward()
        params = {name: p.grad for name, p in module.named_parameters()}
        state_grads = None if states is None else [s.grad for s in states]
        results.append((output, final, x.grad, state_grads, params))
    (out_a, fin_a, xg_a, sg_a, pg_a), (out_b, fin_b, xg_b, sg_b, pg_b) = results

    def close(a: Tensor | None, b: Tensor | None, what: str) -> None:
        torch.testing.assert_close(
            a, b, atol=tolerance, rtol=rtol, msg=lambda m: f"{what}: {m}"
        )

    close(out_a, out_b, "output")
    if len(fin_a) != len(fin_b):
        raise AssertionError(f"final state: {len(fin_a)} tensors against {len(fin_b)}")
    for n, (a, b) in enumerate(zip(fin_a, fin_b)):
        close(a, b, f"final state {n}")
    close(xg_a, xg_b, "input gradient")
    state_grad = 0.0
    if sg_a is not None:
        for n, (a, b) in enumerate(zip(sg_a, sg_b)):
            close(a, b, f"initial state {n} gradient")
            state_grad = max(state_grad, _max_diff(a, b))
    if list(pg_a) != list(pg_b):
        raise AssertionError(
            f"parameter names differ: {list(pg_a)} against {list(pg_b)}"
        )
    for name in pg_a:
        close(pg_a[name], pg_b[name], f"gradient of {name}")
    return ParityReport(
        output=_max_diff(out_a, out_b),
        state=max(_max_diff(a, b) for a, b in zip(fin_a, fin_b)),
        input_grad=_max_diff(xg_a, xg_b),
        state_grad=state_grad,
        param_grad=max(
            (_max_diff(pg_a[name], pg_b[name]) for name in pg_a), default=0.0
        ),
    )
