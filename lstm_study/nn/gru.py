"""The gated recurrent unit, from scratch: a drop-in for ``torch.nn.GRU``.

One step, with the three gate blocks stacked in torch's order r, z, n:

    r_t = sigmoid(W_ir x_t + b_ir + W_hr h_{t-1} + b_hr)          reset gate
    z_t = sigmoid(W_iz x_t + b_iz + W_hz h_{t-1} + b_hz)          update gate
    n_t = tanh(W_in x_t + b_in + r_t * (W_hn h_{t-1} + b_hn))     candidate
    h_t = (1 - z_t) * n_t + z_t * h_{t-1}

PyTorch (like cuDNN) applies the reset gate *after* the recurrent product. Cho et al. (2014)
apply it before, ``n_t = tanh(W_in x_t + b_in + W_hn (r_t * h_{t-1}) + b_hn)``: pass
``reset="before"`` for that form (same parameters, different function). Parameter names,
shapes, the initialisation and the ``forward`` contract are torch's, so
``ours.load_state_dict(torch_gru.state_dict())`` reproduces torch's outputs and gradients.

``backend`` picks the loop, as for the LSTM: ``"auto"`` (the default) runs the C++ loop of
:mod:`lstm_study.nn.compiled` where it is built and takes the call (the CPU, float32 or float64,
no ``torch.func`` transform or ``torch.compile`` tracing it), else the readable loop
(:meth:`GRU._scan`, differentiated by autograd), silently; ``"compiled"`` does the same but warns
once when it falls back; ``"readable"`` always runs the readable loop. There is no fused loop
(in Python with a hand-written backward): the compiled loop replaces it. ``reset="before"``
always runs the readable loop. A second derivative through the compiled loop recomputes the
layer with the readable loop and differentiates that.
"""

from __future__ import annotations

import torch
from torch import Tensor

from lstm_study.errors import ConfigError
from lstm_study.nn.base import RecurrentBase, State, Weights

#: where the reset gate acts: after the recurrent product (torch, cuDNN) or before it (Cho et al.)
RESET_FORMS = ("after", "before")


class GRU(RecurrentBase):
    """Multi-layer GRU written as a Python loop over time."""

    gate_count = 3
    state_count = 1

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
        *,
        reset: str = "after",
        backend: str = "auto",
    ) -> None:
        if reset not in RESET_FORMS:
            raise ConfigError(f"reset must be one of {RESET_FORMS}, got {reset!r}")
        self.reset = reset
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
        if self.reset != "after":
            text += f", reset={self.reset!r}"
        return text + self._backend_repr()

    def _direction(
        self, layer_input: Tensor, weights: Weights, state: State, reverse: bool
    ) -> tuple[Tensor, State]:
        """Run one direction of one layer: the compiled loop where :meth:`_loop` picks it."""
        if self.reset == "before" or self._loop(layer_input) == "readable":
            return super()._direction(layer_input, weights, state, reverse)
        weight_ih, weight_hh, bias_ih, bias_hh = weights
        (h0,) = state
        size = self.hidden_size
        if bias_ih is None or bias_hh is None:
            bias, bias_hn = None, h0.new_zeros(size)
        else:
            # b_hr and b_hz act like b_ir and b_iz, on every step alike; b_hn stays apart, as r
            # scales it: n = tanh(x_n + b_in + r (W_hn h + b_hn))
            bias = bias_ih + torch.cat((bias_hh[: 2 * size], bias_hh.new_zeros(size)))
            bias_hn = bias_hh[2 * size :]
        return self._compiled_one_state(
            "gru", layer_input, weight_ih, weight_hh, bias, bias_hn, h0, reverse
        )

    def _readable_layer(
        self,
        layer_input: Tensor,
        weight_ih: Tensor,
        weight_hh: Tensor,
        bias: Tensor | None,
        bias_hn: Tensor,
        h0: Tensor,
        c0: Tensor,
        reverse: bool,
    ) -> tuple[Tensor, Tensor, Tensor]:
        """The readable loop on the compiled loop's inputs (its second derivatives come from here)."""
        projected = self._project(layer_input, weight_ih, bias)
        bias_hh = torch.cat((bias_hn.new_zeros(2 * self.hidden_size), bias_hn))
        output, (h,) = self._scan(projected, (h0,), weight_hh, bias_hh, reverse)
        return output, h, c0

    def _scan(
        self,
        projected: Tensor,
        state: State,
        weight_hh: Tensor,
        bias_hh: Tensor | None,
        reverse: bool,
    ) -> tuple[Tensor, State]:
        (h,) = state
        size = self.hidden_size
        weight_hh_t = weight_hh.t()
        # unbind, not projected[t]: indexing step by step makes backward build a full-size
        # gradient per step (quadratic in seq_len); unbind's backward is a single stack.
        steps = projected.unbind(0)
        outputs: list[Tensor] = [h] * len(steps)
        for t in self._time_steps(len(steps), reverse):
            x_r, x_z, x_n = steps[t].chunk(3, dim=1)
            if self.reset == "after":
                recurrent = (
                    h.mm(weight_hh_t)
                    if bias_hh is None
                    else torch.addmm(bias_hh, h, weight_hh_t)
                )
                h_r, h_z, h_n = recurrent.chunk(3, dim=1)
                r, z = torch.sigmoid(x_r + h_r), torch.sigmoid(x_z + h_z)
                n = torch.tanh(x_n + r * h_n)
            else:
                gates = h.mm(weight_hh_t[:, : 2 * size])
                if bias_hh is not None:
                    gates = gates + bias_hh[: 2 * size]
                h_r, h_z = gates.chunk(2, dim=1)
                r, z = torch.sigmoid(x_r + h_r), torch.sigmoid(x_z + h_z)
                h_n = (r * h).mm(weight_hh_t[:, 2 * size :])
                if bias_hh is not None:
                    h_n = h_n + bias_hh[2 * size :]
                n = torch.tanh(x_n + h_n)
            h = n + z * (h - n)  # = (1 - z) n + z h
            outputs[t] = h
        return torch.stack(outputs), (h,)

    def forward(self, input: Tensor, hx: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """Run the sequence; return ``(output, h_n)`` with torch's shapes."""
        output, (h_n,) = self._run(input, hx)
        return output, h_n
