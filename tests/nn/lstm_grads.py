"""What the recurrent layers' tests compare between two implementations: outputs and every gradient."""

from __future__ import annotations

import torch
from torch import Tensor, nn


def outputs_and_grads(
    module: nn.Module,
    x: Tensor,
    hx: Tensor | tuple[Tensor, ...] | None,
    weights: Tensor | None = None,
) -> tuple[list[Tensor], list[Tensor]]:
    """Outputs, final states and every gradient (input, initial state when given, parameters)
    of one loss that weighs each output element differently (``weights``, by default a ramp
    from -1 to 1), so that a gradient in the wrong place cannot cancel out.

    ``hx`` and the final state are an LSTM's ``(h, c)`` or an RNN's or a GRU's ``h``."""
    x = x.clone().requires_grad_()
    single = isinstance(hx, Tensor)
    states = (
        None
        if hx is None
        else [s.clone().requires_grad_() for s in ([hx] if single else hx)]
    )
    output, final = module(
        x, None if states is None else (states[0] if single else tuple(states))
    )
    finals = [final] if isinstance(final, Tensor) else list(final)
    if weights is None:
        weights = torch.linspace(-1, 1, output.numel(), dtype=x.dtype).view_as(output)
    loss = (output * weights).sum() + finals[0].square().sum()
    for state in finals[1:]:
        loss = loss + state.sin().sum()
    loss.backward()
    grads = (
        [x.grad]
        + ([] if states is None else [s.grad for s in states])
        + [p.grad for p in module.parameters()]
    )
    return [output, *finals], grads
