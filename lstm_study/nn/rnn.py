"""The Elman RNN of chapter 1, from scratch: a drop-in for ``torch.nn.RNN``.

One step is

    h_t = tanh(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh)

(``nonlinearity='relu'`` swaps tanh for ReLU). Parameter names, shapes, the
initialisation and the ``forward`` contract are torch's, so
``ours.load_state_dict(torch_rnn.state_dict())`` reproduces torch's outputs and
gradients.
"""

from __future__ import annotations

import torch
from torch import Tensor
from torch.nn import functional as F

from lstm_study.errors import ConfigError
from lstm_study.nn.base import RecurrentBase, State


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
    ) -> None:
        if nonlinearity not in ("tanh", "relu"):
            raise ConfigError(
                f"nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}"
            )
        self.nonlinearity = nonlinearity
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
        return (
            text
            if self.nonlinearity == "tanh"
            else text + f", nonlinearity={self.nonlinearity!r}"
        )

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
