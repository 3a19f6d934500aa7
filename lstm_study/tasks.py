"""Synthetic sequence tasks whose difficulty is set by how far back the answer lies."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from lstm_study.errors import ConfigError, check_int


def delayed_recall(
    batch_size: int,
    lag: int,
    *,
    seq_len: int | None = None,
    generator: torch.Generator | None = None,
) -> tuple[Tensor, Tensor]:
    """Sequences of U(-1, 1) noise; the target is the value ``lag`` steps before the last one.

    Returns ``x`` of shape (batch_size, seq_len, 1) and ``y`` of shape (batch_size, 1) with
    ``y = x[:, seq_len - 1 - lag, 0]``. ``seq_len`` defaults to ``lag + 5``. Predicting 0 (the
    mean) scores MSE 1/3, the variance of U(-1, 1): the baseline a model must beat.
    """
    check_int("batch_size", batch_size)
    check_int("lag", lag, minimum=0)
    seq_len = lag + 5 if seq_len is None else seq_len
    check_int("seq_len", seq_len)
    if lag >= seq_len:
        raise ConfigError(f"lag ({lag}) must be smaller than seq_len ({seq_len})")
    x = torch.rand(batch_size, seq_len, 1, generator=generator) * 2 - 1
    y = x[:, seq_len - 1 - lag, :].clone()
    return x, y


def adding_problem(
    batch_size: int, seq_len: int, *, generator: torch.Generator | None = None
) -> tuple[Tensor, Tensor]:
    """The adding problem: add up the two values that a marker channel points at.

    Returns ``x`` of shape (batch_size, seq_len, 2) and ``y`` of shape (batch_size, 1).
    Channel 0 holds values drawn from U(0, 1); channel 1 is 1 at exactly two positions,
    one in the first half (``t < seq_len // 2``) and one in the second, else 0; ``y`` is the
    sum of the two marked values. Predicting the constant 1 scores MSE 1/6 (about 0.167),
    the variance of a sum of two U(0, 1): the baseline a model must beat.
    """
    check_int("batch_size", batch_size)
    check_int("seq_len", seq_len, minimum=2)
    half = seq_len // 2
    values = torch.rand(batch_size, seq_len, generator=generator)
    first = torch.randint(0, half, (batch_size,), generator=generator)
    second = torch.randint(half, seq_len, (batch_size,), generator=generator)
    markers = torch.zeros(batch_size, seq_len)
    rows = torch.arange(batch_size)
    markers[rows, first] = 1.0
    markers[rows, second] = 1.0
    y = (values[rows, first] + values[rows, second]).unsqueeze(1)
    return torch.stack([values, markers], dim=-1), y


#: label of a position that has nothing to predict; ``torch.nn.functional.cross_entropy`` skips it by default
IGNORE_INDEX = -100


def lookahead_labels(
    batch_size: int,
    lookahead: int,
    *,
    seq_len: int = 16,
    num_symbols: int = 4,
    generator: torch.Generator | None = None,
) -> tuple[Tensor, Tensor]:
    """One-hot random symbols; the label at position ``t`` is the symbol at ``t + lookahead``.

    Returns ``x`` of shape (batch_size, seq_len, num_symbols), float one-hot, and ``y`` of shape
    (batch_size, seq_len), long, with ``y[:, t] = argmax x[:, t + lookahead]`` and
    :data:`IGNORE_INDEX` in the last ``lookahead`` positions, which have no later symbol to name.

    The symbols are independent and uniform, so for ``lookahead >= 1`` the label at ``t`` is
    independent of the symbols at ``0..t``: a model that reads only the past (a unidirectional
    network) is right with probability exactly ``1 / num_symbols``, whatever it learned.
    """
    check_int("batch_size", batch_size)
    check_int("lookahead", lookahead, minimum=0)
    check_int("seq_len", seq_len)
    check_int("num_symbols", num_symbols, minimum=2)
    if lookahead >= seq_len:
        raise ConfigError(
            f"lookahead ({lookahead}) must be smaller than seq_len ({seq_len}), or no position has a label"
        )
    symbols = torch.randint(num_symbols, (batch_size, seq_len), generator=generator)
    x = torch.nn.functional.one_hot(symbols, num_symbols).float()
    y = torch.full_like(symbols, IGNORE_INDEX)
    y[:, : seq_len - lookahead] = symbols[:, lookahead:]
    return x, y


def next_step_windows(series: Tensor, length: int) -> tuple[Tensor, Tensor]:
    """Every window of ``length`` steps of a 1-D series, with the next value as the target at each step.

    Returns ``x`` and ``y``, both (n_windows, length, 1), where window ``i`` holds
    ``x[i, t] = series[i + t]`` and ``y[i, t] = series[i + t + 1]``: the sequence-to-sequence
    layout in which a unidirectional forecaster is trained. Only the last target,
    ``series[i + length]``, lies outside the window's inputs.
    """
    if not isinstance(series, Tensor) or series.dim() != 1:
        raise ConfigError(
            f"series must be a 1-D tensor, got {getattr(series, 'shape', type(series).__name__)}"
        )
    check_int("length", length)
    if series.numel() < length + 1:
        raise ConfigError(
            f"series has {series.numel()} values: too short for one window of {length} inputs and its next value"
        )
    windows = series.unfold(0, length + 1, 1)
    return windows[:, :-1, None].clone(), windows[:, 1:, None].clone()


#: the symbols of the Reber grammar, in the order of the one-hot channels
REBER_SYMBOLS = "BTPSXVE"
#: Reber's automaton: state -> the (symbol, next state) pairs it may emit, each equally likely
_REBER_GRAPH: dict[int, tuple[tuple[str, int], ...]] = {
    0: (("T", 1), ("P", 2)),
    1: (("S", 1), ("X", 3)),
    2: (("T", 2), ("V", 4)),
    3: (("X", 2), ("S", 5)),
    4: (("P", 3), ("V", 5)),
}


def _embedded_reber_string(
    coin: Callable[[], bool],
) -> tuple[list[str], list[str], int]:
    """One embedded Reber string, the symbols allowed after each of its symbols, the hard index.

    The hard index is the position of the inner string's ``E``: the symbol after it must repeat
    the second symbol of the string (T or P), however long the inner string was.
    """
    branch = "T" if coin() else "P"
    symbols, nexts = ["B", branch, "B"], [{"T", "P"}, {"B"}, {"T", "P"}]
    state = 0
    while state != 5:
        symbol, state = _REBER_GRAPH[state][0 if coin() else 1]
        symbols.append(symbol)
        nexts.append({s for s, _ in _REBER_GRAPH[state]} if state != 5 else {"E"})
    symbols.append("E")
    hard = len(symbols) - 1
    nexts.append({branch})
    symbols += [branch, "E"]
    nexts += [{"E"}, {"B"}]
    return symbols, ["".join(sorted(n)) for n in nexts], hard


def continual_reber(
    batch_size: int, seq_len: int, *, generator: torch.Generator | None = None
) -> tuple[Tensor, Tensor, Tensor]:
    """Streams of embedded Reber strings, one after another with no reset (Gers et al., 2000).

    Returns ``x``, one-hot (batch_size, seq_len, 7) over :data:`REBER_SYMBOLS`; ``y``, the
    multi-hot set of symbols the grammar allows next, same shape; and ``hard``, bool
    (batch_size, seq_len), True where the next symbol is the one that repeats the string's
    second symbol: the only prediction that needs a memory reaching back over the whole inner
    string. Each stream starts at the beginning of a string.
    """
    check_int("batch_size", batch_size)
    check_int("seq_len", seq_len)
    draws = iter(torch.rand(batch_size * (seq_len + 40), generator=generator).tolist())

    def coin() -> bool:
        nonlocal draws
        value = next(draws, None)
        if value is None:  # rare: a stream of unusually long strings used up the draws
            draws = iter(torch.rand(1024, generator=generator).tolist())
            value = next(draws)
        return value < 0.5

    index = {symbol: n for n, symbol in enumerate(REBER_SYMBOLS)}
    # the (row, step, symbol) places of the ones, set in one indexing call per tensor at the end
    # (one tensor write per symbol took most of a training run's time)
    x_at: tuple[list[int], list[int], list[int]] = ([], [], [])
    y_at: tuple[list[int], list[int], list[int]] = ([], [], [])
    hard_at: tuple[list[int], list[int]] = ([], [])
    for row in range(batch_size):
        symbols: list[str] = []
        nexts: list[str] = []
        while len(symbols) < seq_len:
            string, allowed, position = _embedded_reber_string(coin)
            if len(symbols) + position < seq_len:
                hard_at[0].append(row)
                hard_at[1].append(len(symbols) + position)
            symbols += string
            nexts += allowed
        for t in range(seq_len):
            for places, symbol in [(x_at, symbols[t])] + [(y_at, s) for s in nexts[t]]:
                places[0].append(row)
                places[1].append(t)
                places[2].append(index[symbol])
    x = torch.zeros(batch_size, seq_len, len(REBER_SYMBOLS))
    y = torch.zeros_like(x)
    hard = torch.zeros(batch_size, seq_len, dtype=torch.bool)
    x[x_at] = 1.0
    y[y_at] = 1.0
    hard[hard_at] = True
    return x, y, hard
