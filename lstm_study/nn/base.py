"""What every recurrent layer here shares with ``torch.nn.RNNBase``.

Parameters, their names and initialisation, input and state checking, stacking
layers, running the reverse direction, and dropout between layers live here. A
subclass says how many gate blocks it has, how many state tensors it carries
(``h`` for an RNN, ``h`` and ``c`` for an LSTM) and how one direction of one
layer runs over time (:meth:`RecurrentBase._scan`). Nothing in this file calls
``torch.nn.RNN`` or ``torch.nn.LSTM``.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterator
from functools import partial

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from lstm_study.errors import ConfigError, ShapeError, check_int
from lstm_study.nn import compiled

State = tuple[Tensor, ...]
#: one layer and direction's (weight_ih, weight_hh, bias_ih, bias_hh); the biases are None without bias
Weights = tuple[Tensor, Tensor, Tensor | None, Tensor | None]


class RecurrentBase(nn.Module):
    """A stack of recurrent layers laid out exactly as ``torch.nn.RNNBase`` lays them out."""

    #: gate blocks stacked in ``weight_ih``: 1 for a plain RNN, 4 (i, f, g, o) for an LSTM
    gate_count: int = 1
    #: state tensors carried between steps: 1 (h) for a plain RNN, 2 (h, c) for an LSTM
    state_count: int = 1
    #: the loops a family can run, the default first: ``"auto"`` (the compiled loop where it
    #: can run, else the fastest that can: see :meth:`_loop`), ``"compiled"`` (the C++ loop,
    #: :mod:`lstm_study.nn.compiled`), ``"readable"`` (``_scan``, differentiated by autograd);
    #: the LSTM adds ``"fused"``
    backends: tuple[str, ...] = ("auto", "compiled", "readable")
    _backend: str = "auto"

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
    ) -> None:
        super().__init__()
        for name, value in (
            ("input_size", input_size),
            ("hidden_size", hidden_size),
            ("num_layers", num_layers),
        ):
            check_int(name, value)
        if (
            isinstance(dropout, bool)
            or not isinstance(dropout, (int, float))
            or not 0 <= dropout <= 1
        ):
            raise ConfigError(f"dropout must be a number in [0, 1], got {dropout!r}")
        if dropout > 0 and num_layers == 1:
            warnings.warn(
                "dropout acts between stacked layers only, so with num_layers=1 it does nothing "
                f"(got dropout={dropout}, num_layers={num_layers})",
                UserWarning,
                stacklevel=2,
            )
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.bias = bias
        self.batch_first = batch_first
        self.dropout = float(dropout)
        self.bidirectional = bidirectional
        factory = {"device": device, "dtype": dtype}
        gates = self.gate_count * hidden_size
        self._flat_weights_names: list[str] = []
        # Registration order matches torch (layer, direction, then w_ih, w_hh, b_ih, b_hh),
        # so that reset_parameters() under the same seed draws the same numbers.
        for layer in range(num_layers):
            layer_input = (
                input_size if layer == 0 else hidden_size * self.num_directions
            )
            for direction in range(self.num_directions):
                suffix = self._suffix(layer, direction)
                shapes = [
                    ("weight_ih", (gates, layer_input)),
                    ("weight_hh", (gates, hidden_size)),
                ]
                if bias:
                    shapes += [("bias_ih", (gates,)), ("bias_hh", (gates,))]
                for stem, shape in shapes:
                    name = stem + suffix
                    self.register_parameter(
                        name, nn.Parameter(torch.empty(shape, **factory))
                    )
                    self._flat_weights_names.append(name)
        self.reset_parameters()

    @property
    def backend(self) -> str:
        """Which loop runs the layer: one of :attr:`backends` (see :meth:`_loop`)."""
        return self._backend

    @backend.setter
    def backend(self, value: str) -> None:
        if value not in self.backends:
            raise ConfigError(
                f"{type(self).__name__}: backend must be one of {self.backends}, got {value!r}"
            )
        self._backend = value

    def _loop(self, x: Tensor) -> str:
        """The loop this call runs: ``"compiled"``, ``"fused"`` or ``"readable"``.

        ``"auto"`` and ``"compiled"`` run the compiled loop where it is built and takes the
        call (the CPU, float32 or float64, no ``torch.func`` transform or ``torch.compile``
        tracing it), else :meth:`_fallback`; only ``"compiled"``, asked for by name, warns
        (once) when it falls back.
        """
        if self.backend not in ("auto", "compiled"):
            return self.backend
        fallback = self._fallback()
        family = type(self).__name__
        warn = self.backend == "compiled"
        if compiled.can_run(x, family, f"the {fallback} loop", warn):
            return "compiled"
        return fallback

    def _fallback(self) -> str:
        """What runs where the compiled loop cannot: here the readable loop."""
        return "readable"

    def _compiled_one_state(
        self,
        cell: str,
        layer_input: Tensor,
        weight_ih: Tensor,
        weight_hh: Tensor,
        bias: Tensor | None,
        cell_weight: Tensor | None,
        h0: Tensor,
        reverse: bool,
    ) -> tuple[Tensor, State]:
        """One direction of a one-state layer (RNN, GRU) through the compiled loop.

        The loop carries a cell state for the LSTM; here it is zeros and unused. Second
        derivatives come from the family's ``_readable_layer`` on the same inputs.
        """
        output, h, _ = compiled.compiled_layer(
            cell, layer_input, weight_ih, weight_hh, bias, cell_weight, h0,
            torch.zeros_like(h0), reverse, None,
            partial(self._readable_layer, reverse=reverse),  # type: ignore[attr-defined]
        )  # fmt: skip
        return output, (h,)

    def _backend_repr(self) -> str:
        """``, backend='...'`` for :meth:`extra_repr` where it is not the default."""
        return "" if self.backend == "auto" else f", backend={self.backend!r}"

    @property
    def num_directions(self) -> int:
        """2 when bidirectional, else 1."""
        return 2 if self.bidirectional else 1

    @staticmethod
    def _suffix(layer: int, direction: int) -> str:
        return f"_l{layer}" + ("_reverse" if direction == 1 else "")

    def reset_parameters(self) -> None:
        """Draw every weight and bias from U(-1/sqrt(hidden_size), 1/sqrt(hidden_size)), as torch does."""
        bound = 1.0 / math.sqrt(self.hidden_size)
        for weight in self.parameters():
            nn.init.uniform_(weight, -bound, bound)

    @property
    def all_weights(self) -> list[list[nn.Parameter]]:
        """Parameters grouped per layer and direction, in torch's order."""
        per_group = 4 if self.bias else 2
        flat = [getattr(self, name) for name in self._flat_weights_names]
        return [flat[i : i + per_group] for i in range(0, len(flat), per_group)]

    def _weights(self, layer: int, direction: int) -> Weights:
        suffix = self._suffix(layer, direction)
        if self.bias:
            return (
                getattr(self, "weight_ih" + suffix),
                getattr(self, "weight_hh" + suffix),
                getattr(self, "bias_ih" + suffix),
                getattr(self, "bias_hh" + suffix),
            )
        return (
            getattr(self, "weight_ih" + suffix),
            getattr(self, "weight_hh" + suffix),
            None,
            None,
        )

    def extra_repr(self) -> str:
        text = f"{self.input_size}, {self.hidden_size}"
        if self.num_layers != 1:
            text += f", num_layers={self.num_layers}"
        if self.bias is not True:
            text += f", bias={self.bias}"
        if self.batch_first is not False:
            text += f", batch_first={self.batch_first}"
        if self.dropout != 0:
            text += f", dropout={self.dropout}"
        if self.bidirectional is not False:
            text += f", bidirectional={self.bidirectional}"
        return text

    # -- checking what comes in -------------------------------------------------------------

    def _check_input(self, input: Tensor) -> tuple[Tensor, bool]:
        """Return the input as (seq_len, batch, features) and whether it had a batch axis."""
        if isinstance(input, nn.utils.rnn.PackedSequence):
            raise TypeError(
                f"{type(self).__name__} does not take a PackedSequence; pad the batch to one length "
                "(torch.nn.utils.rnn.pad_packed_sequence) and pass the padded tensor"
            )
        if not isinstance(input, Tensor):
            raise TypeError(f"input must be a torch.Tensor, got {type(input).__name__}")
        if input.dim() not in (2, 3):
            layout = (
                "(batch, seq_len, input_size)"
                if self.batch_first
                else "(seq_len, batch, input_size)"
            )
            raise ShapeError(
                f"{type(self).__name__}: input must be 3-D {layout} or 2-D (seq_len, input_size), "
                f"got {input.dim()}-D of shape {tuple(input.shape)}"
            )
        if input.size(-1) != self.input_size:
            raise ShapeError(
                f"{type(self).__name__}: input.size(-1) must equal input_size={self.input_size}, "
                f"got {input.size(-1)} (input shape {tuple(input.shape)})"
            )
        batched = input.dim() == 3
        if not batched:
            input = input.unsqueeze(1)
        elif self.batch_first:
            input = input.transpose(0, 1)
        if input.size(0) == 0:
            raise ShapeError(
                f"{type(self).__name__}: the input sequence is empty (seq_len 0)"
            )
        return input, batched

    def _initial_state(
        self, hx: Tensor | tuple[Tensor, ...] | None, x: Tensor, batched: bool
    ) -> State:
        """Return the state tensors, each (num_layers * num_directions, batch, hidden_size)."""
        shape = (self.num_layers * self.num_directions, x.size(1), self.hidden_size)
        if hx is None:
            zeros = torch.zeros(shape, dtype=x.dtype, device=x.device)
            return (zeros,) * self.state_count
        tensors = (hx,) if isinstance(hx, Tensor) else tuple(hx)
        if len(tensors) != self.state_count:
            expected = "a tensor h_0" if self.state_count == 1 else "a tuple (h_0, c_0)"
            raise ShapeError(
                f"{type(self).__name__}: hx must be {expected}, got {len(tensors)} tensor(s)"
            )
        state = []
        for tensor in tensors:
            if not isinstance(tensor, Tensor):
                raise TypeError(
                    f"hx must hold torch.Tensor, got {type(tensor).__name__}"
                )
            if not batched:
                if tensor.dim() != 2:
                    raise ShapeError(
                        f"{type(self).__name__}: for unbatched 2-D input, hx must be 2-D, "
                        f"got {tensor.dim()}-D of shape {tuple(tensor.shape)}"
                    )
                tensor = tensor.unsqueeze(1)
            if tuple(tensor.shape) != shape:
                raise ShapeError(
                    f"{type(self).__name__}: expected hidden state of shape {shape}, got {tuple(tensor.shape)}"
                )
            state.append(tensor)
        return tuple(state)

    # -- running ------------------------------------------------------------------------------

    def _scan(
        self,
        projected: Tensor,
        state: State,
        weight_hh: Tensor,
        bias_hh: Tensor | None,
        reverse: bool,
    ) -> tuple[Tensor, State]:
        """Run one direction of one layer.

        ``projected`` is ``x_t W_ih^T + b_ih`` for every step at once, shape
        (seq_len, batch, gate_count * hidden_size); return the outputs
        (seq_len, batch, hidden_size) in time order and the final state.
        """
        raise NotImplementedError

    def _direction(
        self, layer_input: Tensor, weights: Weights, state: State, reverse: bool
    ) -> tuple[Tensor, State]:
        """Run one direction of one layer over its whole input; a subclass may run a faster equivalent."""
        weight_ih, weight_hh, bias_ih, bias_hh = weights
        # The input projection has no time dependency: one matrix product for all steps.
        projected = self._project(layer_input, weight_ih, bias_ih)
        return self._scan(projected, state, weight_hh, bias_hh, reverse)

    @staticmethod
    def _project(layer_input: Tensor, weight: Tensor, bias: Tensor | None) -> Tensor:
        """Return ``x_t W^T + b`` for every step at once, (seq_len, batch, gates), as one matrix product."""
        flat = layer_input.reshape(-1, layer_input.size(-1))
        # F.linear(x, W, b) computes the same, but its backward forms dW^T as grad^T x, a product that
        # runs several times slower on the CPU than x^T grad when the input is narrow (5 features in
        # the predictor). With W^T made contiguous, the backward of this mm takes the fast form.
        weight_t = weight.t().contiguous()
        product = (
            flat.mm(weight_t) if bias is None else torch.addmm(bias, flat, weight_t)
        )
        return product.view(*layer_input.shape[:-1], weight.size(0))

    def _layers(self, x: Tensor, state: State) -> tuple[Tensor, State]:
        finals: list[list[Tensor]] = [[] for _ in range(self.state_count)]
        layer_input = x
        for layer in range(self.num_layers):
            outputs = []
            for direction in range(self.num_directions):
                index = layer * self.num_directions + direction
                out, last = self._direction(
                    layer_input,
                    self._weights(layer, direction),
                    tuple(s[index] for s in state),
                    direction == 1,
                )
                outputs.append(out)
                for kept, tensor in zip(finals, last):
                    kept.append(tensor)
            layer_input = (
                outputs[0] if len(outputs) == 1 else torch.cat(outputs, dim=-1)
            )
            if self.dropout > 0 and self.training and layer < self.num_layers - 1:
                layer_input = F.dropout(layer_input, p=self.dropout, training=True)
        return layer_input, tuple(torch.stack(kept) for kept in finals)

    def _run(
        self, input: Tensor, hx: Tensor | tuple[Tensor, ...] | None
    ) -> tuple[Tensor, State]:
        """Check, run every layer and direction, and restore the caller's layout."""
        x, batched = self._check_input(input)
        state = self._initial_state(hx, x, batched)
        output, final = self._layers(x, state)
        if not batched:
            return output.squeeze(1), tuple(s.squeeze(1) for s in final)
        if self.batch_first:
            output = output.transpose(0, 1)
        return output, final

    @staticmethod
    def _time_steps(length: int, reverse: bool) -> Iterator[int]:
        return reversed(range(length)) if reverse else iter(range(length))
