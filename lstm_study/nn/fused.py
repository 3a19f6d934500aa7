"""The LSTM's time loop with its backward pass written out by hand: the fast form of ``LSTM._scan``.

``lstm_study.nn.LSTM._scan`` is the readable loop: autograd records about a dozen
operations per step and replays each of them backwards. :class:`FusedLSTMScan`
computes the same numbers with fewer, cheaper operations, organised the way cuDNN
and oneDNN organise an LSTM:

- forward: per step, one matrix product for all four gates and three elementwise
  operators for their nonlinearities, in one of two forms (:data:`CANDIDATE_FORMS`):
  ``"sigmoid"`` runs one sigmoid over all four gates and gets the cell candidate from
  ``tanh(a) = 2 sigmoid(2a) - 1`` (doubling is exact in floating point); ``"tanh"`` runs
  a sigmoid over i and f, torch's tanh over g and a sigmoid over o. Which is faster
  depends on the processor (on an AVX2 AMD EPYC torch's tanh cost 2.5 times its
  sigmoid, on an AVX-512 Intel Xeon half of it), so :func:`candidate_form` times both
  on first use and picks one. Results go into buffers allocated once per call; nothing
  is recorded for autograd;
- after the loop, for all steps at once, every factor of the backward that does not
  depend on the incoming gradient (each gate's slope times its partner in the cell
  update), when a backward pass will follow;
- backward: a handful of elementwise operations and one small matrix product per step,
  running back through time; the gradient of ``W_hh``, a sum over steps, is one matrix
  product over all steps after the loop.

Inside, every per-step tensor is kept transposed, (features, batch): the product
``W_hh h`` then yields the four gates as four contiguous blocks one above the other, so
every elementwise operation of a step runs on contiguous memory (on the CPU, strided
views of gate columns cost several times more per operation).

With ``c_t = f_t c_{t-1} + i_t g_t`` and ``h_t = o_t tanh(c_t)``, ``a`` a gate's
pre-activation, and ``dh``, ``dc`` the gradients arriving at ``h_t`` and ``c_t``:

    dc  += dh * o_t (1 - tanh(c_t)^2)
    da_i = dc * g_t       * i_t (1 - i_t)
    da_f = dc * c_{t-1}   * f_t (1 - f_t)
    da_g = dc * i_t       * (1 - g_t^2)
    da_o = dh * tanh(c_t) * o_t (1 - o_t)
    dc_{t-1} = dc * f_t,    dh_{t-1} = W_hh^T da + (gradient from the output at t-1)
    dW_hh = sum_t da_t h_{t-1}^T

It supports first derivatives (training); a second derivative (``create_graph=True``
through the loop) needs the readable loop: set ``lstm.backend = "readable"``.
``tests/nn/test_fused.py`` checks outputs and gradients against the readable loop and
against ``torch.nn.LSTM``.
"""

from __future__ import annotations

import os
import statistics
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor
from torch.utils import benchmark

from lstm_study.errors import ConfigError

#: The two ways the fused loop computes the gates' nonlinearities (see the module docstring).
CANDIDATE_FORMS = ("sigmoid", "tanh")
#: ``"sigmoid"`` is picked only when it is this much faster than ``"tanh"`` (0.1: 10 %), so
#: that two forms of about equal cost do not swap from one run to the next with the noise.
MARGIN = 0.1
#: Environment variable that fixes the form (``sigmoid`` or ``tanh``) instead of timing both.
ENVIRONMENT = "LSTM_STUDY_FUSED_CANDIDATE"


@dataclass(frozen=True)
class CandidateTiming:
    """Median seconds of one step's gate nonlinearities in each form, and the form picked."""

    sigmoid: float
    tanh: float
    choice: str
    rows: int
    batch: int

    @property
    def tanh_over_sigmoid(self) -> float:
        """How many times the ``"sigmoid"`` form's time the ``"tanh"`` form takes."""
        return self.tanh / self.sigmoid


#: what :func:`candidate_timing` measured, per (device type, dtype)
_chosen: dict[tuple[str, torch.dtype], CandidateTiming] = {}


def time_candidate_forms(
    device: torch.device | str = "cpu",
    dtype: torch.dtype = torch.float32,
    hidden: int = 64,
    batch: int = 64,
    rounds: int = 7,
    block_time: float = 0.01,
) -> CandidateTiming:
    """Time both forms' per-step nonlinearities on one (4 hidden, batch) block; pick the faster.

    The two are timed alternately, ``rounds`` blocks each, so that load from elsewhere
    hits both alike; ``"sigmoid"`` wins only if faster by :data:`MARGIN`. Draws no random
    numbers (the caller's seeded generators are untouched) and uses the current thread count.
    """
    device = torch.device(device)
    acts = torch.linspace(-3, 3, 4 * hidden * batch, device=device, dtype=dtype).view(
        4 * hidden, batch
    )
    gates = acts.view(4, hidden, batch)
    first_two, g, o = acts[: 2 * hidden], gates[2], gates[3]
    two, minus_one = acts.new_full((), 2.0), acts.new_full((), -1.0)

    def one_sigmoid() -> None:
        g.mul_(two)
        acts.sigmoid_()
        torch.addcmul(minus_one, g, two, out=g)

    def sigmoid_and_tanh() -> None:
        first_two.sigmoid_()
        g.tanh_()
        o.sigmoid_()

    forms = {"sigmoid": one_sigmoid, "tanh": sigmoid_and_tanh}
    threads = torch.get_num_threads()
    timers = {
        name: benchmark.Timer("run()", globals={"run": run}, num_threads=threads)
        for name, run in forms.items()
    }
    number = {
        name: max(1, round(block_time / max(timer.timeit(3).median, 1e-9)))
        for name, timer in timers.items()
    }
    medians = _interleaved(timers, number, rounds)
    choice = (
        "sigmoid" if medians["sigmoid"] < (1 - MARGIN) * medians["tanh"] else "tanh"
    )
    return CandidateTiming(
        medians["sigmoid"], medians["tanh"], choice, 4 * hidden, batch
    )


def _interleaved(
    timers: dict[str, benchmark.Timer], number: dict[str, int], rounds: int
) -> dict[str, float]:
    """Median seconds per call of each timer over ``rounds`` blocks, run in turn."""
    seconds: dict[str, list[float]] = {name: [] for name in timers}
    for _ in range(rounds):
        for name, timer in timers.items():
            seconds[name].append(timer.timeit(number[name]).median)
    return {name: statistics.median(values) for name, values in seconds.items()}


def candidate_timing(device: torch.device, dtype: torch.dtype) -> CandidateTiming:
    """The timing of both forms on this device type and dtype, measured on first use and then kept."""
    key = (device.type, dtype)
    if key not in _chosen:
        _chosen[key] = time_candidate_forms(device, dtype)
    return _chosen[key]


def candidate_form(device: torch.device, dtype: torch.dtype) -> str:
    """The form the fused loop uses on this device type and dtype: fixed by the environment, or timed once."""
    fixed = os.environ.get(ENVIRONMENT, "").strip()
    if fixed:
        if fixed not in CANDIDATE_FORMS:
            raise ConfigError(
                f"{ENVIRONMENT}={fixed!r}: use one of {', '.join(CANDIDATE_FORMS)} or leave it unset"
            )
        return fixed
    if (device.type, dtype) not in _chosen and torch.compiler.is_compiling():
        return CANDIDATE_FORMS[0]  # no timing inside a graph being traced
    return candidate_timing(device, dtype).choice


class FusedLSTMScan(torch.autograd.Function):
    """One direction of one LSTM layer: ``(projected, h_0, c_0, W_hh, ...) -> (output, h_n, c_n)``.

    ``projected`` is (seq_len, batch, 4 * hidden): ``W_ih x_t + b_ih + b_hh`` for every
    step, gates in torch's order i, f, g, o. ``h_0``, ``c_0`` are (batch, hidden). Call it
    through :func:`fused_lstm_scan`.
    """

    @staticmethod
    def forward(
        ctx: Any,
        projected: Tensor,
        h0: Tensor,
        c0: Tensor,
        weight_hh: Tensor,
        reverse: bool,
        keep_for_backward: bool,
        trace: list[Tensor] | None,
        form: str = CANDIDATE_FORMS[0],
    ) -> tuple[Tensor, Tensor, Tensor]:
        steps, batch, width = projected.shape
        hidden = width // 4
        # 0-d tensors made by a fill on the device (no host-to-device copy, so CUDA graphs can capture it)
        two, minus_one = projected.new_full((), 2.0), projected.new_full((), -1.0)
        acts = projected.new_empty(
            steps, width, batch
        )  # i, f, g, o after their nonlinearity
        # States in time order, one slot more than steps: the forward pass reads slot t and writes
        # t + 1 (slot 0 holds h_0); the reverse pass reads t + 1 and writes t (slot T holds h_0).
        hs = projected.new_empty(steps + 1, hidden, batch)
        cs = projected.new_empty(steps + 1, hidden, batch)
        tanh_cs = projected.new_empty(steps, hidden, batch)
        first, read, write = (steps, 1, 0) if reverse else (0, 0, 1)
        hs[first], cs[first] = h0.t(), c0.t()
        # Views made once, so that the loop only computes.
        x_t = projected.transpose(1, 2).unbind(0)
        act_t, h_t, c_t, tanh_c_t = (x.unbind(0) for x in (acts, hs, cs, tanh_cs))
        gates = acts.view(steps, 4, hidden, batch)
        i_t, f_t, g_t, o_t = (x.unbind(0) for x in gates.unbind(1))
        if_t = acts[:, : 2 * hidden].unbind(
            0
        )  # the input and forget gates, one contiguous block
        one_sigmoid = form == "sigmoid"
        for t in reversed(range(steps)) if reverse else range(steps):
            h, c, h_new, c_new = (
                h_t[t + read],
                c_t[t + read],
                h_t[t + write],
                c_t[t + write],
            )
            torch.addmm(
                x_t[t], weight_hh, h, out=act_t[t]
            )  # all four gates in one product
            if (
                one_sigmoid
            ):  # one sigmoid for all four gates: tanh(a) = 2 sigmoid(2a) - 1
                g_t[t].mul_(two)
                act_t[t].sigmoid_()
                torch.addcmul(minus_one, g_t[t], two, out=g_t[t])
            else:  # each gate its own nonlinearity
                if_t[t].sigmoid_()
                g_t[t].tanh_()
                o_t[t].sigmoid_()
            torch.mul(f_t[t], c, out=c_new).addcmul_(i_t[t], g_t[t])
            torch.mul(o_t[t], torch.tanh(c_new, out=tanh_c_t[t]), out=h_new)
        new, old = (
            (slice(0, steps), slice(1, None))
            if reverse
            else (slice(1, None), slice(0, steps))
        )
        if trace is not None:
            trace.extend(
                x.transpose(1, 2).contiguous() for x in (*gates.unbind(1), cs[new])
            )
        if keep_for_backward:
            # Everything the backward needs that does not depend on the incoming gradient, for
            # all steps at once: each gate's slope times its partner in c_t = f c + i g or in h_t.
            i, f, g, o = gates.unbind(1)
            partner = torch.addcmul(
                gates, gates, gates, value=-1
            )  # s (1 - s): the sigmoids' slope
            torch.addcmul(
                torch.ones_like(g), g, g, value=-1, out=partner[:, 2]
            )  # 1 - g^2: tanh's
            for j, factor in enumerate((g, cs[old], i, tanh_cs)):
                partner[:, j].mul_(factor)
            # d h_t / d c_t = o (1 - tanh(c)^2) = o - h tanh(c), written over tanh(c)
            c_slope = torch.addcmul(o, hs[new], tanh_cs, value=-1, out=tanh_cs)
            ctx.save_for_backward(partner, c_slope, acts, hs[old], weight_hh)
            ctx.reverse = reverse
        output = hs[new].transpose(1, 2).contiguous()
        last = 0 if reverse else steps
        return output, hs[last].t().contiguous(), cs[last].t().contiguous()

    @staticmethod
    def backward(ctx: Any, d_output: Tensor, d_h_n: Tensor, d_c_n: Tensor):
        if torch.is_grad_enabled():
            # create_graph=True: these hand-written products are not themselves differentiable, and
            # returning them as constants would make every second derivative silently wrong.
            raise RuntimeError(
                "the fused LSTM loop has no second derivative (backward ran with create_graph=True); "
                'set lstm.backend = "readable" to run the readable loop, which autograd '
                "differentiates twice"
            )
        partner, c_slope, acts, h_prev, weight_hh = ctx.saved_tensors
        steps, _, hidden, batch = partner.shape
        # Out-of-place operations only: autograd.functional.jacobian(vectorize=True) runs this
        # backward under vmap, where writing batched values into plain buffers is impossible.
        part_t, f_t = (
            partner.unbind(0),
            acts.view(steps, 4, hidden, batch)[:, 1].unbind(0),
        )
        slope_t, d_out_t = c_slope.unbind(0), d_output.transpose(1, 2).unbind(0)
        order = (
            range(steps) if ctx.reverse else range(steps - 1, -1, -1)
        )  # back through time
        weight_t = weight_hh.t()
        dh = d_h_n.t() + d_out_t[order[0]]
        dc = d_c_n.t()
        d_gates: list[Tensor] = [
            dh
        ] * steps  # step t's (4 hidden, batch) gradient, transposed
        for n, t in enumerate(order):
            dc = torch.addcmul(dc, dh, slope_t[t])
            d_gate = (part_t[t] * torch.stack((dc, dc, dc, dh))).view(4 * hidden, batch)
            d_gates[t] = d_gate.t()
            dc = dc * f_t[t]
            dh = (
                torch.addmm(d_out_t[order[n + 1]], weight_t, d_gate)
                if n + 1 < steps
                else weight_t.mm(d_gate)
            )
        d_projected = torch.stack(
            d_gates
        )  # (steps, batch, 4 hidden), the caller's layout
        d_weight = None
        if ctx.needs_input_grad[3]:
            # dW_hh = sum over steps of da_t h_{t-1}^T: one product over all steps at once, which
            # runs about twice as fast as one small product per step
            h_rows = h_prev.transpose(1, 2).reshape(steps * batch, hidden)
            d_weight = d_projected.reshape(steps * batch, 4 * hidden).t().mm(h_rows)
        return d_projected, dh.t(), dc.t(), d_weight, None, None, None, None


def fused_lstm_scan(
    projected: Tensor,
    h0: Tensor,
    c0: Tensor,
    weight_hh: Tensor,
    reverse: bool = False,
    trace: list[Tensor] | None = None,
    form: str | None = None,
) -> tuple[Tensor, Tensor, Tensor]:
    """Run one LSTM direction over ``projected`` (seq_len, batch, 4 * hidden); return output, h_n, c_n.

    ``projected`` holds ``W_ih x_t + b_ih + b_hh`` for every step, the gates in torch's order
    i, f, g, o; ``h0``, ``c0`` are (batch, hidden). With ``trace`` a list, the gates i, f, g, o
    and the cell state c, each (seq_len, batch, hidden) in time order, are appended to it.
    ``form`` is one of :data:`CANDIDATE_FORMS`; by default :func:`candidate_form` picks it.
    """
    if form is None:
        form = candidate_form(projected.device, projected.dtype)
    elif form not in CANDIDATE_FORMS:
        raise ConfigError(f"form must be one of {CANDIDATE_FORMS}, got {form!r}")
    keep = torch.is_grad_enabled() and any(
        t.requires_grad for t in (projected, h0, c0, weight_hh)
    )
    return FusedLSTMScan.apply(projected, h0, c0, weight_hh, reverse, keep, trace, form)
