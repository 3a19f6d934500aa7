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

:meth:`LSTM._scan` is the loop written to be read, and autograd differentiates it. The
layer runs one of three equivalent loops, chosen by ``backend`` (:data:`BACKENDS`):

- ``"compiled"``: :mod:`lstm_study.nn.compiled`, the loop in C++ with its backward written
  out, built on first use, for every variant; where it cannot be built or run (a GPU tensor,
  half precision, a ``torch.func`` transform or ``torch.compile`` tracing the call) it warns
  once and runs the fused loop (the readable one for a variant or under a transform);
- ``"fused"``: :class:`lstm_study.nn.fused.FusedLSTMScan`, the loop in Python with a few
  fused operators per step and the backward pass written out by hand, for the standard cell
  only (a variant runs the readable loop). It computes the candidate either with torch's
  ``tanh`` or as ``2 sigmoid(2a) - 1``, whichever it measured faster on this machine
  (``lstm.candidate`` fixes one);
- ``"readable"``: :meth:`LSTM._scan` (a variant's own loop), differentiated by autograd.

``"auto"``, the default, runs the compiled loop wherever it can and otherwise, silently,
the fused loop (standard cell) or the readable loop (a variant, or under ``torch.func.vmap``,
``grad`` and the other transforms, whose rules neither hand-written backward has). Second
derivatives: ``backward(create_graph=True)`` through the compiled loop recomputes the layer
with the readable loop and differentiates that, so they are exact on every backend but
``"fused"``, which refuses them (as ``"auto"`` does only where the compiled loop cannot be
built). ``torch.autograd.functional.jacobian(..., vectorize=True)`` (chapter 4) runs on every
backend. Recording gates (:meth:`LSTM.recording_gates`) works on every backend. The tests hold
all of them to the same outputs and gradients.

``variant=`` selects one of the cell changes that Greff et al. (2017) ablated (:data:`VARIANTS`).
Each changes the cell itself: a removed gate has no weights (so ``weight_ih`` has 3 blocks, not 4,
in the remaining order of i, f, g, o), peepholes add a weight per unit and gate; the compiled loop
runs every variant, and the readable loop is written out in ``_variant_scan``. With c_{t-1} the
previous cell and a_x a gate's pre-activation as above:

    no_forget_gate        f_t = 1                          (the LSTM of 1997)
    no_input_gate         i_t = 1
    no_output_gate        o_t = 1
    no_output_activation  h_t = o_t * c_t
    coupled               f_t = 1 - i_t                    (CIFG)
    peephole              i_t = sigmoid(a_i + p_i * c_{t-1}), f_t = sigmoid(a_f + p_f * c_{t-1}),
                          o_t = sigmoid(a_o + p_o * c_t)
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial

import torch
from torch import Tensor

from lstm_study.errors import ConfigError
from lstm_study.nn import compiled
from lstm_study.nn.base import RecurrentBase, State, Weights
from lstm_study.nn.compiled import compiled_layer
from lstm_study.nn.fused import fused_lstm_scan

#: the cell variants of ``LSTM(variant=...)``, each with the change it makes to the standard cell
VARIANTS = {
    "standard": "torch.nn.LSTM's cell",
    "no_forget_gate": "f = 1: the cell only adds (the 1997 LSTM)",
    "no_input_gate": "i = 1: every candidate is written",
    "no_output_gate": "o = 1: the whole cell is shown",
    "no_output_activation": "h = o * c: no tanh on the cell",
    "coupled": "f = 1 - i: one gate decides what to write and what to forget",
    "peephole": "i, f, o also read the cell through a diagonal weight",
}
#: the loops the LSTM can run, the default first (see the module docstring)
BACKENDS = ("auto", "compiled", "fused", "readable")
#: the gate blocks each variant keeps in weight_ih and weight_hh, in torch's order
_BLOCKS = {
    "no_forget_gate": ("i", "g", "o"),
    "no_input_gate": ("f", "g", "o"),
    "no_output_gate": ("i", "f", "g"),
    "coupled": ("i", "g", "o"),
}


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
    backends = BACKENDS
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
        *,
        variant: str = "standard",
        backend: str = "auto",
    ) -> None:
        if variant not in VARIANTS:
            raise ConfigError(
                f"variant must be one of {sorted(VARIANTS)}, got {variant!r}"
            )
        self.variant = variant
        self.backend = backend
        #: the gate blocks stacked in weight_ih and weight_hh, in this order
        self.blocks: tuple[str, ...] = _BLOCKS.get(variant, ("i", "f", "g", "o"))
        self.gate_count = len(self.blocks)
        if proj_size != 0:
            raise ConfigError(
                f"proj_size={proj_size!r} is not supported: this LSTM has no projection layer; "
                "use proj_size=0, or torch.nn.LSTM if you need projections"
            )
        self.proj_size = 0
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
        #: per layer and direction, the gates of the last forward pass run under ``recording_gates``
        self.gate_traces: list[GateTrace] = []
        self._recording = False
        self._raw_traces: list[tuple[Tensor, ...]] = []
        if variant == "peephole":
            bound = 1.0 / hidden_size**0.5
            for layer in range(num_layers):
                for direction in range(self.num_directions):
                    weight = torch.empty(3, hidden_size, device=device, dtype=dtype)
                    name = "weight_peephole" + self._suffix(layer, direction)
                    # rows: p_i, p_f, p_o; drawn like every other weight
                    weight.uniform_(-bound, bound)
                    self.register_parameter(name, torch.nn.Parameter(weight))

    def gate_rows(self, gate: str) -> slice:
        """The rows of ``weight_ih``, ``weight_hh`` and the biases that belong to ``gate``."""
        if gate not in self.blocks:
            raise ConfigError(
                f"the {self.variant!r} LSTM has no {gate!r} block; it has {self.blocks}"
            )
        index = self.blocks.index(gate)
        return slice(index * self.hidden_size, (index + 1) * self.hidden_size)

    def extra_repr(self) -> str:
        text = super().extra_repr()
        if self.variant != "standard":
            text += f", variant={self.variant!r}"
        return text + self._backend_repr()

    def _weights(self, layer: int, direction: int) -> Weights:
        weights = super()._weights(layer, direction)
        if self.variant != "peephole":
            return weights
        peephole = getattr(self, "weight_peephole" + self._suffix(layer, direction))
        return (*weights, peephole)  # type: ignore[return-value]

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
        self,
        projected: Tensor,
        state: State,
        weight_hh: Tensor,
        bias_hh: Tensor | None,
        reverse: bool,
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
        trace: list[list[Tensor]] = (
            [[c] * len(steps) for _ in range(5)] if self._recording else []
        )
        for t in self._time_steps(len(steps), reverse):
            gates = torch.addmm(
                steps[t], h, weight_hh_t
            )  # all four gates in one product
            i, f, g, o = gates.chunk(4, dim=1)
            i, f, g, o = (
                torch.sigmoid(i),
                torch.sigmoid(f),
                torch.tanh(g),
                torch.sigmoid(o),
            )
            c = torch.addcmul(f * c, i, g)
            h = o * torch.tanh(c)
            outputs[t] = h
            if trace:
                for kept, value in zip(trace, (i, f, g, o, c)):
                    kept[t] = value.detach()
        if trace:
            self._raw_traces.append(tuple(torch.stack(kept) for kept in trace))
        return torch.stack(outputs), (h, c)

    def _fallback(self) -> str:
        """The fused loop for the standard cell (outside ``torch.func`` transforms), else the readable one."""
        if self.variant == "standard" and not compiled.transforms_active():
            return "fused"
        return "readable"

    def _direction(
        self, layer_input: Tensor, weights: Weights, state: State, reverse: bool
    ) -> tuple[Tensor, State]:
        """Run one direction of one layer with the loop :meth:`_loop` picks."""
        loop = self._loop(layer_input)
        if loop == "fused" and self.variant != "standard":
            loop = "readable"  # the fused loop has the standard cell only
        weight_ih, weight_hh, bias_ih, bias_hh, *extra = weights
        peephole = extra[0] if extra else None
        # Both biases act on every step alike: add them to each other once, not to every step.
        bias = None if bias_ih is None or bias_hh is None else bias_ih + bias_hh
        if loop == "readable":
            if self.variant == "standard":
                return super()._direction(layer_input, weights, state, reverse)
            return self._variant_scan(
                layer_input, weight_ih, weight_hh, bias, peephole, state, reverse
            )
        trace: list[Tensor] | None = [] if self._recording else None
        if loop == "compiled":
            output, h, c = compiled_layer(
                self.variant, layer_input, weight_ih, weight_hh, bias, peephole, *state,
                reverse, trace, partial(self._readable_layer, reverse=reverse),
            )  # fmt: skip
            if trace is not None:
                self._raw_traces.append(self._gates_of(*trace))
        else:
            projected = self._project(layer_input, weight_ih, bias)
            output, h, c = fused_lstm_scan(
                projected, *state, weight_hh, reverse, trace, self.candidate
            )
            if trace is not None:
                self._raw_traces.append(tuple(trace))
        return output, (h, c)

    def _readable_layer(
        self,
        layer_input: Tensor,
        weight_ih: Tensor,
        weight_hh: Tensor,
        bias: Tensor | None,
        peephole: Tensor | None,
        h0: Tensor,
        c0: Tensor,
        reverse: bool,
    ) -> tuple[Tensor, Tensor, Tensor]:
        """The readable loop on the compiled loop's inputs (its second derivatives come from here)."""
        if self.variant == "standard":
            projected = self._project(layer_input, weight_ih, bias)
            output, (h, c) = self._scan(projected, (h0, c0), weight_hh, None, reverse)
        else:
            output, (h, c) = self._variant_scan(
                layer_input, weight_ih, weight_hh, bias, peephole, (h0, c0), reverse
            )
        return output, h, c

    def _gates_of(self, gates: Tensor, c: Tensor) -> tuple[Tensor, ...]:
        """i, f, g, o and c from the compiled loop's gate blocks (a removed gate is 1)."""
        named = dict(zip(self.blocks, gates.chunk(len(self.blocks), dim=2)))
        ones = torch.ones_like(c)
        i = named.get("i", ones)
        f = named.get("f", 1 - i if self.variant == "coupled" else ones)
        return tuple(
            t.contiguous() for t in (i, f, named["g"], named.get("o", ones), c)
        )

    def _variant_scan(
        self,
        layer_input: Tensor,
        weight_ih: Tensor,
        weight_hh: Tensor,
        bias: Tensor | None,
        peephole: Tensor | None,
        state: State,
        reverse: bool,
    ) -> tuple[Tensor, State]:
        """Run one direction of one layer with this LSTM's variant cell (the readable loop)."""
        steps = self._project(layer_input, weight_ih, bias).unbind(0)
        h, c = state
        weight_hh_t = weight_hh.t()
        outputs: list[Tensor] = [h] * len(steps)
        trace: list[list[Tensor]] = (
            [[c] * len(steps) for _ in range(5)] if self._recording else []
        )
        for t in self._time_steps(len(steps), reverse):
            gates = torch.addmm(steps[t], h, weight_hh_t)  # every block in one product
            a = dict(zip(self.blocks, gates.chunk(len(self.blocks), 1)))
            if peephole is not None:
                a["i"], a["f"] = a["i"] + peephole[0] * c, a["f"] + peephole[1] * c
            i = torch.sigmoid(a["i"]) if "i" in a else torch.ones_like(c)
            if self.variant == "coupled":
                f = 1 - i
            else:
                f = torch.sigmoid(a["f"]) if "f" in a else torch.ones_like(c)
            g = torch.tanh(a["g"])
            c = f * c + i * g
            if peephole is not None:
                a["o"] = a["o"] + peephole[2] * c
            o = torch.sigmoid(a["o"]) if "o" in a else torch.ones_like(c)
            h = o * (c if self.variant == "no_output_activation" else torch.tanh(c))
            outputs[t] = h
            if trace:
                for kept, value in zip(trace, (i, f, g, o, c)):
                    kept[t] = value.detach()
        if trace:
            self._raw_traces.append(tuple(torch.stack(kept) for kept in trace))
        return torch.stack(outputs), (h, c)

    def forward(
        self, input: Tensor, hx: tuple[Tensor, Tensor] | None = None
    ) -> tuple[Tensor, tuple[Tensor, Tensor]]:
        """Run the sequence; return ``(output, (h_n, c_n))`` with torch's shapes."""
        self._raw_traces = []
        output, (h_n, c_n) = self._run(input, hx)
        if self._recording:
            self.gate_traces[:] = [
                GateTrace(*(self._layout(t, input) for t in raw))
                for raw in self._raw_traces
            ]
            self._raw_traces = []
        return output, (h_n, c_n)

    def _layout(self, tensor: Tensor, input: Tensor) -> Tensor:
        """Turn a (seq_len, batch, hidden) tensor into the layout of this call's output."""
        if input.dim() == 2:
            return tensor.squeeze(1)
        return tensor.transpose(0, 1) if self.batch_first else tensor
