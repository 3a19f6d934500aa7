"""minLSTM and minGRU (Feng et al. 2024, "Were RNNs All We Needed?"): recurrences that train
in parallel over time.

Both drop the hidden state from the gates: every gate and the candidate are computed from the
input ``x_t`` alone, so the recurrence left is linear in the state,

    h_t = a_t * h_{t-1} + b_t,

with ``a_t`` and ``b_t`` known for every ``t`` before any state is. Such a recurrence is a scan:

    h_t = A_t * (h_0 + sum_{s <= t} b_s / A_s),   A_t = a_1 * ... * a_t,

which :func:`parallel_scan_log` evaluates for all ``t`` at once in log space (Heinsen 2023):
a cumulative sum of ``log a`` and a ``logcumsumexp``. The candidate goes through
:func:`g` (positive), so every ``b_t`` and ``h_t`` is positive and has a logarithm.

- minLSTM: ``f = sigmoid(W_f x)``, ``i = sigmoid(W_i x)``, normalised to ``f' = f / (f + i)``,
  ``i' = i / (f + i)``; ``h_t = f'_t * h_{t-1} + i'_t * g(W_h x_t)``.
- minGRU: ``z = sigmoid(W_z x)``; ``h_t = (1 - z_t) * h_{t-1} + z_t * g(W_h x_t)``.

Each layer runs in the parallel (log-space scan) or the sequential form (one step at a time, in
ordinary space, as a reader would write the recurrence); the two agree (tests/nn/test_minlstm.py).
An initial state ``h0`` lets a stream carry its state across TBPTT windows.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from lstm_study.errors import ConfigError, ShapeError, check_int

FORMS = ("parallel", "sequential")


def g(x: Tensor) -> Tensor:
    """The positive activation of the candidate: ``x + 1/2`` for ``x >= 0``, else sigmoid(x)."""
    return torch.where(x >= 0, x + 0.5, torch.sigmoid(x))


def log_g(x: Tensor) -> Tensor:
    """``log g(x)``, computed without forming ``g(x)`` where it is small."""
    return torch.where(x >= 0, torch.log(F.relu(x) + 0.5), -F.softplus(-x))


def parallel_scan_log(log_a: Tensor, log_b: Tensor, h0: Tensor | None = None) -> Tensor:
    """Every ``h_t = a_t h_{t-1} + b_t`` at once, from ``log a`` and ``log b`` (batch, T, H).

    ``h0`` (batch, H), positive, is the state before the first step (zero when None).
    Returns h_1 .. h_T, shape (batch, T, H).
    """
    log_big_a = torch.cumsum(log_a, dim=1)  # log A_t
    terms = log_b - log_big_a  # log (b_s / A_s)
    if h0 is not None:
        terms = torch.cat([torch.log(h0).unsqueeze(1), terms], dim=1)
        return torch.exp(log_big_a + torch.logcumsumexp(terms, dim=1)[:, 1:])
    return torch.exp(log_big_a + torch.logcumsumexp(terms, dim=1))


class _MinRNN(nn.Module):
    """One layer: gates from the input alone, a linear recurrence in the state."""

    gates = 0  # how many gate pre-activations besides the candidate

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True) -> None:
        super().__init__()
        check_int("input_size", input_size)
        check_int("hidden_size", hidden_size)
        self.input_size, self.hidden_size = input_size, hidden_size
        # one matrix for the gates and the candidate, as torch.nn.LSTM keeps weight_ih
        self.linear = nn.Linear(input_size, (self.gates + 1) * hidden_size, bias=bias)

    def coefficients(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """``log a_t`` and ``log b_t`` of the recurrence, each (batch, T, hidden)."""
        raise NotImplementedError

    def step_coefficients(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """``a_t`` and ``b_t`` in ordinary space, each (batch, T, hidden)."""
        raise NotImplementedError

    def forward(
        self, x: Tensor, h0: Tensor | None = None, form: str = "parallel"
    ) -> tuple[Tensor, Tensor]:
        """Outputs h_1..h_T (batch, T, hidden) and the last state (batch, hidden).

        ``x`` is (batch, T, input_size); ``h0`` (batch, hidden), positive, or None for zero.
        """
        if x.dim() != 3 or x.size(-1) != self.input_size:
            raise ShapeError(
                f"input must be (batch, T, {self.input_size}), got {tuple(x.shape)}"
            )
        if h0 is not None and h0.shape != (x.size(0), self.hidden_size):
            raise ShapeError(
                f"h0 must be ({x.size(0)}, {self.hidden_size}), got {tuple(h0.shape)}"
            )
        if form == "parallel":
            log_a, log_b = self.coefficients(x)
            out = parallel_scan_log(log_a, log_b, h0)
        elif form == "sequential":
            a, b = self.step_coefficients(x)
            h = h0 if h0 is not None else x.new_zeros(x.size(0), self.hidden_size)
            steps = []
            for t in range(x.size(1)):
                h = a[:, t] * h + b[:, t]
                steps.append(h)
            out = torch.stack(steps, dim=1)
        else:
            raise ConfigError(f"form must be one of {FORMS}, got {form!r}")
        return out, out[:, -1]


class MinLSTM(_MinRNN):
    """minLSTM: ``h_t = f'_t h_{t-1} + i'_t g(W_h x_t)``, ``f'`` and ``i'`` normalised to sum 1."""

    gates = 2

    def coefficients(self, x: Tensor) -> tuple[Tensor, Tensor]:
        k_f, k_i, k_h = self.linear(x).chunk(3, dim=-1)
        # log f' = log sigmoid(k_f) - log(sigmoid(k_f) + sigmoid(k_i)) = -softplus(diff)
        diff = F.softplus(-k_f) - F.softplus(-k_i)
        return -F.softplus(diff), -F.softplus(-diff) + log_g(k_h)

    def step_coefficients(self, x: Tensor) -> tuple[Tensor, Tensor]:
        k_f, k_i, k_h = self.linear(x).chunk(3, dim=-1)
        f, i = torch.sigmoid(k_f), torch.sigmoid(k_i)
        return f / (f + i), i / (f + i) * g(k_h)


class MinGRU(_MinRNN):
    """minGRU: ``h_t = (1 - z_t) h_{t-1} + z_t g(W_h x_t)``, ``z_t = sigmoid(W_z x_t)``."""

    gates = 1

    def coefficients(self, x: Tensor) -> tuple[Tensor, Tensor]:
        k_z, k_h = self.linear(x).chunk(2, dim=-1)
        return -F.softplus(k_z), -F.softplus(-k_z) + log_g(k_h)

    def step_coefficients(self, x: Tensor) -> tuple[Tensor, Tensor]:
        k_z, k_h = self.linear(x).chunk(2, dim=-1)
        z = torch.sigmoid(k_z)
        return 1 - z, z * g(k_h)


KINDS = {"minlstm": MinLSTM, "mingru": MinGRU}


class MinBlock(nn.Module):
    """A pre-norm residual block: ``x + W_o minRNN(LN x)``, then ``x + MLP(LN x)``.

    One min-layer is linear in its state: its gates never see it, so stacking bare layers
    would add little. The MLP after each is where the nonlinear mixing happens, and the
    residual path and normalisation keep a deep stack trainable. It is the Transformer's
    block (:mod:`lstm_study.text.transformer`) with the recurrent layer in the place of
    attention, so the two models differ only in the layer that mixes positions.
    """

    def __init__(self, width: int, kind: str = "minlstm", expansion: int = 4) -> None:
        super().__init__()
        if kind not in KINDS:
            raise ConfigError(f"kind must be one of {sorted(KINDS)}, got {kind!r}")
        self.norm1 = nn.LayerNorm(width)
        self.rnn = KINDS[kind](width, width)
        self.proj = nn.Linear(width, width)
        self.norm2 = nn.LayerNorm(width)
        self.mlp = nn.Sequential(
            nn.Linear(width, expansion * width),
            nn.GELU(),
            nn.Linear(expansion * width, width),
        )

    def forward(
        self, x: Tensor, h0: Tensor | None = None, form: str = "parallel"
    ) -> tuple[Tensor, Tensor]:
        """The block's output (batch, T, width) and its recurrent layer's last state."""
        out, h_last = self.rnn(self.norm1(x), h0, form)
        x = x + self.proj(out)
        return x + self.mlp(self.norm2(x)), h_last


class MinStack(nn.Module):
    """``num_layers`` :class:`MinBlock` s; the state is one (batch, width) tensor per layer."""

    def __init__(
        self, width: int, num_layers: int, kind: str = "minlstm", expansion: int = 4
    ) -> None:
        super().__init__()
        check_int("num_layers", num_layers)
        self.blocks = nn.ModuleList(
            MinBlock(width, kind, expansion) for _ in range(num_layers)
        )

    def forward(
        self, x: Tensor, state: Tensor | None = None, form: str = "parallel"
    ) -> tuple[Tensor, Tensor]:
        """Outputs (batch, T, width) and the final state (num_layers, batch, width)."""
        finals = []
        for n, block in enumerate(self.blocks):
            x, h_last = block(x, None if state is None else state[n], form)
            finals.append(h_last)
        return x, torch.stack(finals)
