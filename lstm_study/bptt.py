"""Backpropagation through time written out by hand for a one-layer tanh RNN.

Autograd does this for us; chapter 1 writes it once so the reader sees where the
product of Jacobians in the gradient comes from. The result is checked against
autograd in the tests and in the chapter.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from lstm_study.errors import ConfigError, ShapeError
from lstm_study.nn.rnn import RNN


@dataclass
class BPTTResult:
    """Gradients of a loss with respect to the RNN's parameters, inputs and hidden states."""

    weight_ih: Tensor
    weight_hh: Tensor
    bias_ih: Tensor
    bias_hh: Tensor
    inputs: Tensor  #: dL/dx_t, shape (seq_len, batch, input_size)
    hidden: Tensor  #: total dL/dh_t (direct and through later steps), shape (seq_len, batch, hidden)


def manual_bptt(
    rnn: RNN, x: Tensor, grad_output: Tensor, h0: Tensor | None = None
) -> BPTTResult:
    """Run ``rnn`` forward on time-major ``x`` and backpropagate ``grad_output`` = dL/d(output) by hand.

    Only the simplest case is covered: one layer, one direction, tanh, with biases,
    ``batch_first=False``. The backward recursion is

        dL/dh_t = g_t + W_hh^T (dL/da_{t+1}),  dL/da_t = dL/dh_t * (1 - h_t^2)

    where ``g_t`` is the gradient arriving at step t's output and ``a_t`` the pre-activation.
    """
    if (
        rnn.num_layers != 1
        or rnn.bidirectional
        or rnn.nonlinearity != "tanh"
        or not rnn.bias
        or rnn.batch_first
    ):
        raise ConfigError(
            "manual_bptt covers a one-layer, one-direction tanh RNN with biases and batch_first=False"
        )
    if x.dim() != 3 or grad_output.shape != (x.size(0), x.size(1), rnn.hidden_size):
        raise ShapeError(
            f"expected x (seq_len, batch, {rnn.input_size}) and grad_output (seq_len, batch, {rnn.hidden_size}), "
            f"got {tuple(x.shape)} and {tuple(grad_output.shape)}"
        )
    w_ih, w_hh = rnn.weight_ih_l0.detach(), rnn.weight_hh_l0.detach()
    b_ih, b_hh = rnn.bias_ih_l0.detach(), rnn.bias_hh_l0.detach()
    steps, batch = x.size(0), x.size(1)
    h_prev = (
        torch.zeros(batch, rnn.hidden_size, dtype=x.dtype)
        if h0 is None
        else h0.reshape(batch, -1)
    )
    # Forward pass, keeping every hidden state: BPTT needs them all (its memory cost).
    states = [h_prev]
    for t in range(steps):
        states.append(torch.tanh(x[t] @ w_ih.T + b_ih + states[-1] @ w_hh.T + b_hh))
    grads = {
        name: torch.zeros_like(p)
        for name, p in (("w_ih", w_ih), ("w_hh", w_hh), ("b", b_ih))
    }
    d_inputs = torch.zeros_like(x)
    d_hidden = torch.zeros(steps, batch, rnn.hidden_size, dtype=x.dtype)
    carried = torch.zeros(batch, rnn.hidden_size, dtype=x.dtype)  # W_hh^T dL/da_{t+1}
    for t in reversed(range(steps)):
        h_t, h_before = states[t + 1], states[t]
        d_hidden[t] = grad_output[t] + carried
        d_pre = d_hidden[t] * (1 - h_t**2)  # through tanh
        grads["w_ih"] += d_pre.T @ x[t]
        grads["w_hh"] += d_pre.T @ h_before
        grads["b"] += d_pre.sum(0)
        d_inputs[t] = d_pre @ w_ih
        carried = d_pre @ w_hh
    return BPTTResult(
        grads["w_ih"], grads["w_hh"], grads["b"], grads["b"].clone(), d_inputs, d_hidden
    )


def input_sensitivity(model: torch.nn.Module, x: Tensor) -> Tensor:
    """Mean |d prediction / d x_t| over the batch, for each step t of batch-first ``x``.

    How strongly the model's last-step prediction still depends on each input: the
    quantity that BPTT must carry back, and that vanishes with distance in a plain RNN.
    """
    x = x.detach().clone().requires_grad_(True)
    model.eval()
    model(x).sum().backward()
    return x.grad.abs().mean(dim=(0, 2))
