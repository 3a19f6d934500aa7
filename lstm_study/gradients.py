"""Measuring gradient flow through time: how much of a loss at the end reaches each step's state.

The measurement runs a recurrent module one step at a time through its public
``forward(input, hx)``, keeps every intermediate state, and asks autograd for
``dL/dh_t`` for all of them at once. Because it uses only torch's interface it works
alike for ``lstm_study.nn.RNN``, ``lstm_study.nn.LSTM`` and their ``torch.nn``
namesakes, and it gives the total derivative: every path from ``h_t`` to the loss
counts, including, in an LSTM, the path through the cell state.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn

from lstm_study.errors import ConfigError, ShapeError

Loss = Callable[[Tensor], Tensor]


def _sum(h_last: Tensor) -> Tensor:
    return h_last.sum()


def hidden_gradient_norms(
    module: nn.Module,
    x: Tensor,
    *,
    hx: Tensor | tuple[Tensor, Tensor] | None = None,
    loss_fn: Loss = _sum,
    state: str = "h",
    layer: int = -1,
) -> Tensor:
    """Return ``||dL/dh_t||`` for t = 1..T, where ``L = loss_fn(h_T)``.

    ``module`` is a unidirectional recurrent layer with torch's interface (``RNN``, ``LSTM``),
    ``x`` a batched input in its layout. ``h_t`` is the hidden state of layer ``layer`` after
    step ``t`` (``state="c"``: the LSTM cell state instead); the loss is ``loss_fn`` applied to
    that layer's final hidden state, of shape (batch, hidden_size), by default its sum. The
    norm is taken over the whole (batch, hidden_size) gradient. The derivative is taken with
    respect to the state as carried into step ``t + 1``, so with ``state="c"`` the last entry is 0
    (the loss reads ``h_T``, which step ``T`` computed before handing ``c_T`` on). Returns a float64 tensor of
    length T in time order: entry ``k`` lies ``T - 1 - k`` steps before the loss.
    """
    if getattr(module, "bidirectional", False):
        raise ConfigError(
            "hidden_gradient_norms steps through time forwards, so it needs a unidirectional module; "
            "measure each direction as its own unidirectional layer"
        )
    if x.dim() != 3:
        raise ShapeError(
            f"x must be a batched 3-D tensor in the module's layout, got shape {tuple(x.shape)}"
        )
    if state not in ("h", "c"):
        raise ConfigError(f"state must be 'h' or 'c', got {state!r}")
    time_axis = 1 if getattr(module, "batch_first", False) else 0
    carried: Tensor | tuple[Tensor, ...] | None = hx
    kept: list[Tensor] = []
    for x_t in x.split(1, dim=time_axis):
        _, carried = module(x_t, carried)
        tensors = (carried,) if isinstance(carried, Tensor) else tuple(carried)
        if state == "c" and len(tensors) < 2:
            raise ConfigError(
                f"state='c' needs a module with a cell state (an LSTM), got {type(module).__name__}"
            )
        kept.append(tensors[0 if state == "h" else 1])
    final_h = (carried if isinstance(carried, Tensor) else carried[0])[layer]
    loss = loss_fn(final_h)
    if loss.dim() != 0:
        raise ShapeError(f"loss_fn must return a scalar, got shape {tuple(loss.shape)}")
    grads = torch.autograd.grad(loss, kept, allow_unused=True)
    norms = [0.0 if g is None else g[layer].double().norm().item() for g in grads]
    return torch.tensor(norms, dtype=torch.float64)
