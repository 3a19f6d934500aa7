"""The Elman RNN of chapter 1, from scratch: a drop-in for ``torch.nn.RNN``.

One step is

    h_t = tanh(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh)

(``nonlinearity='relu'`` swaps tanh for ReLU). Parameter names, shapes, the
initialisation and the ``forward`` contract are torch's, so
``ours.load_state_dict(torch_rnn.state_dict())`` reproduces torch's outputs and
gradients.

``backend`` picks the loop, as for the LSTM: ``"auto"`` (the default) runs the C++ loop of
:mod:`lstm_study.nn.compiled` where it is built and takes the call (the CPU, float32 or float64,
no ``torch.func`` transform or ``torch.compile`` tracing it), else the readable loop
(:meth:`RNN._scan`, differentiated by autograd), silently; ``"compiled"`` does the same but warns
once when it falls back; ``"readable"`` always runs the readable loop. There is no fused loop: the
compiled loop replaces it. A second derivative through the compiled loop recomputes the layer
with the readable loop and differentiates that.
"""

from __future__ import annotations

import torch
from torch import Tensor
from torch.nn import functional as F

from lstm_study.errors import ConfigError
from lstm_study.nn.base import RecurrentBase, State, Weights


class RNN(RecurrentBase):
    """Multi-layer Elman RNN with tanh or ReLU, written as a Python loop over time."""

    gate_count = 1
    state_count = 1

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        nonlinearity: str = "tanh",
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
        *,
        backend: str = "auto",
    ) -> None:
        if nonlinearity not in ("tanh", "relu"):
            raise ConfigError(
                f"nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}"
            )
        self.nonlinearity = nonlinearity
        self.backend = backend
        super().__init__(
            input_size,
            hidden_size,
            num_layers,
            bias,
            batch_first,
            dropout,
            bidirectional,
            device,
            dtype,
        )

    def extra_repr(self) -> str:
        text = super().extra_repr()
        if self.nonlinearity != "tanh":
            text += f", nonlinearity={self.nonlinearity!r}"
        return text + self._backend_repr()

    def _direction(
        self, layer_input: Tensor, weights: Weights, state: State, reverse: bool
    ) -> tuple[Tensor, State]:
        """Run one direction of one layer: the compiled loop where :meth:`_loop` picks it."""
        if self._loop(layer_input) == "readable":
            return super()._direction(layer_input, weights, state, reverse)
        weight_ih, weight_hh, bias_ih, bias_hh = weights
        (h0,) = state
        # both biases act on every step alike: one bias for the input projection
        bias = None if bias_ih is None or bias_hh is None else bias_ih + bias_hh
        cell = f"rnn_{self.nonlinearity}"
        return self._compiled_one_state(
            cell, layer_input, weight_ih, weight_hh, bias, None, h0, reverse
        )

    def _readable_layer(
        self,
        layer_input: Tensor,
        weight_ih: Tensor,
        weight_hh: Tensor,
        bias: Tensor | None,
        cell_weight: None,
        h0: Tensor,
        c0: Tensor,
        reverse: bool,
    ) -> tuple[Tensor, Tensor, Tensor]:
        """The readable loop on the compiled loop's inputs (its second derivatives come from here)."""
        projected = self._project(layer_input, weight_ih, bias)
        output, (h,) = self._scan(projected, (h0,), weight_hh, None, reverse)
        return output, h, c0

    def _scan(
        self,
        projected: Tensor,
        state: State,
        weight_hh: Tensor,
        bias_hh: Tensor | None,
        reverse: bool,
    ) -> tuple[Tensor, State]:
        activation = torch.tanh if self.nonlinearity == "tanh" else torch.relu
        (h,) = state
        # unbind, not projected[t]: indexing step by step makes backward build a full-size
        # gradient per step (quadratic in seq_len); unbind's backward is a single stack.
        steps = projected.unbind(0)
        outputs: list[Tensor] = [h] * len(steps)
        for t in self._time_steps(len(steps), reverse):
            h = activation(steps[t] + F.linear(h, weight_hh, bias_hh))
            outputs[t] = h
        return torch.stack(outputs), (h,)

    def forward(self, input: Tensor, hx: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """Run the sequence; return ``(output, h_n)`` with torch's shapes."""
        output, (h_n,) = self._run(input, hx)
        return output, h_n
