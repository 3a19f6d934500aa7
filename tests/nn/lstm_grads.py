"""What the LSTM tests compare between two implementations: outputs and every gradient."""

from __future__ import annotations

import torch
from torch import Tensor, nn


def outputs_and_grads(
    module: nn.Module,
    x: Tensor,
    hx: tuple[Tensor, Tensor] | None,
    weights: Tensor | None = None,
) -> tuple[list[Tensor], list[Tensor]]:
    """Outputs, final states and every gradient (input, initial state when given, parameters)
    of one loss that weighs each output element differently (``weights``, by default a ramp
    from -1 to 1), so that a gradient in the wrong place cannot cancel out."""
    x = x.clone().requires_grad_()
    hx = None if hx is None else tuple(s.clone().requires_grad_() for s in hx)
    output, (h_n, c_n) = module(x, hx)
    if weights is None:
        weights = torch.linspace(-1, 1, output.numel(), dtype=x.dtype).view_as(output)
    ((output * weights).sum() + h_n.square().sum() + c_n.sin().sum()).backward()
    grads = (
        [x.grad]
        + ([] if hx is None else [s.grad for s in hx])
        + [p.grad for p in module.parameters()]
    )
    return [output, h_n, c_n], grads
