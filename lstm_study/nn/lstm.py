"""The LSTM of chapter 3, from scratch: a drop-in for ``torch.nn.LSTM``.

One step, with the four gate blocks stacked in torch's order i, f, g, o:

    i_t = sigmoid(W_ii x_t + b_ii + W_hi h_{t-1} + b_hi)      input gate
    f_t = sigmoid(W_if x_t + b_if + W_hf h_{t-1} + b_hf)      forget gate
    g_t = tanh(W_ig x_t + b_ig + W_hg h_{t-1} + b_hg)         cell candidate
    o_t = sigmoid(W_io x_t + b_io + W_ho h_{t-1} + b_ho)      output gate
    c_t = f_t * c_{t-1} + i_t * g_t
    h_t = o_t * tanh(c_t)

Parameter names, shapes, the initialisation and the ``forward`` contract are torch's,
so ``ours.load_state_dict(torch_lstm.state_dict())`` reproduces torch's outputs and
gradients. To read the gates out for a figure, run the forward pass inside
:meth:`LSTM.recording_gates`.

:meth:`LSTM._scan` is the loop written to be read, and autograd differentiates it. By
default the layer runs its fast equivalent instead, :class:`lstm_study.nn.fused.FusedLSTMScan`
(one sigmoid for all four gates, the backward pass written out by hand); the tests hold
the two to the same outputs and gradients. Set ``lstm.fused = False`` to run the readable
loop (also needed for second derivatives). The fused loop computes the candidate either with
torch's ``tanh`` or as ``2 sigmoid(2a) - 1``, whichever it measured faster on this machine
(``lstm.candidate`` fixes one).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import torch
from torch import Tensor

from lstm_study.errors import ConfigError
from lstm_study.nn.base import RecurrentBase, State, Weights
from lstm_study.nn.fused import fused_lstm_scan


@dataclass(frozen=True)
class GateTrace:
    """The gate activations and cell state of one layer and direction, detached.

    Each tensor has the layer output's layout: (batch, seq_len, hidden_size) with
    ``batch_first=True``, (seq_len, batch, hidden_size) without, (seq_len, hidden_size)
    for unbatched input. Step ``t`` holds the values computed at time ``t``, also for
    the reverse direction.
    """

    i: Tensor
    f: Tensor
    g: Tensor
    o: Tensor
    c: Tensor


class LSTM(RecurrentBase):
    """Multi-layer LSTM written as a Python loop over time, one matrix product per step."""

    gate_count = 4
    state_count = 2
    #: run the hand-fused loop (True) or the readable, autograd-differentiated ``_scan`` (False)
    fused: bool = True
    #: how the fused loop computes the gates' nonlinearities: ``"sigmoid"`` or ``"tanh"``
    #: (:data:`lstm_study.nn.fused.CANDIDATE_FORMS`), or None to let it time both and pick
    candidate: str | None = None

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        proj_size: int = 0,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        if proj_size != 0:
            raise ConfigError(
                f"proj_size={proj_size!r} is not supported: this LSTM has no projection layer; "
                "use proj_size=0, or torch.nn.LSTM if you need projections"
            )
        self.proj_size = 0
        super().__init__(
            input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional, device, dtype
        )
        #: per layer and direction, the gates of the last forward pass run under ``recording_gates``
        self.gate_traces: list[GateTrace] = []
        self._recording = False
        self._raw_traces: list[tuple[Tensor, ...]] = []

    @contextmanager
    def recording_gates(self) -> Iterator[list[GateTrace]]:
        """Record the gates of forward passes run inside the block.

        Yields ``self.gate_traces``, which after a forward pass holds one :class:`GateTrace`
        per layer and direction in torch's order (``l0``, ``l0_reverse``, ``l1``, ...).
        """
        self.gate_traces.clear()
        self._recording = True
        try:
            yield self.gate_traces
        finally:
            self._recording = False

    def _scan(
        self, projected: Tensor, state: State, weight_hh: Tensor, bias_hh: Tensor | None, reverse: bool
    ) -> tuple[Tensor, State]:
        h, c = state
        if bias_hh is not None:
            # b_hh has no time dependency either: add it to every step's input projection once.
            projected = projected + bias_hh
        weight_hh_t = weight_hh.t()
        # unbind, not projected[t]: indexing one step at a time would make backward allocate a
        # full-size gradient per step (quadratic in seq_len); unbind's backward is one stack.
        steps = projected.unbind(0)
        outputs: list[Tensor] = [h] * len(steps)
        trace: list[list[Tensor]] = [[c] * len(steps) for _ in range(5)] if self._recording else []
        for t in self._time_steps(len(steps), reverse):
            gates = torch.addmm(steps[t], h, weight_hh_t)  # all four gates in one product
            i, f, g, o = gates.chunk(4, dim=1)
            i, f, g, o = torch.sigmoid(i), torch.sigmoid(f), torch.tanh(g), torch.sigmoid(o)
            c = torch.addcmul(f * c, i, g)
            h = o * torch.tanh(c)
            outputs[t] = h
            if trace:
                for kept, value in zip(trace, (i, f, g, o, c)):
                    kept[t] = value.detach()
        if trace:
            self._raw_traces.append(tuple(torch.stack(kept) for kept in trace))
        return torch.stack(outputs), (h, c)

    def _direction(self, layer_input: Tensor, weights: Weights, state: State, reverse: bool) -> tuple[Tensor, State]:
        """Run one direction of one layer: the fused loop, or the readable :meth:`_scan` if ``fused`` is off."""
        if not self.fused:
            return super()._direction(layer_input, weights, state, reverse)
        weight_ih, weight_hh, bias_ih, bias_hh = weights
        # Both biases act on every step alike: add them to each other once, not to every step.
        bias = None if bias_ih is None or bias_hh is None else bias_ih + bias_hh
        projected = self._project(layer_input, weight_ih, bias)
        trace: list[Tensor] | None = [] if self._recording else None
        output, h, c = fused_lstm_scan(projected, *state, weight_hh, reverse, trace, self.candidate)
        if trace is not None:
            self._raw_traces.append(tuple(trace))
        return output, (h, c)

    def forward(
        self, input: Tensor, hx: tuple[Tensor, Tensor] | None = None
    ) -> tuple[Tensor, tuple[Tensor, Tensor]]:
        """Run the sequence; return ``(output, (h_n, c_n))`` with torch's shapes."""
        self._raw_traces = []
        output, (h_n, c_n) = self._run(input, hx)
        if self._recording:
            self.gate_traces[:] = [GateTrace(*(self._layout(t, input) for t in raw)) for raw in self._raw_traces]
            self._raw_traces = []
        return output, (h_n, c_n)

    def _layout(self, tensor: Tensor, input: Tensor) -> Tensor:
        """Turn a (seq_len, batch, hidden) tensor into the layout of this call's output."""
        if input.dim() == 2:
            return tensor.squeeze(1)
        return tensor.transpose(0, 1) if self.batch_first else tensor
