"""Synthetic sequence tasks whose difficulty is set by how far back the answer lies."""

from __future__ import annotations

import torch
from torch import Tensor

from lstm_study.errors import ConfigError


def _positive_int(name: str, value: int, minimum: int = 1) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigError(f"{name} must be an integer >= {minimum}, got {value!r}")


def delayed_recall(
    batch_size: int, lag: int, *, seq_len: int | None = None, generator: torch.Generator | None = None
) -> tuple[Tensor, Tensor]:
    """Sequences of U(-1, 1) noise; the target is the value ``lag`` steps before the last one.

    Returns ``x`` of shape (batch_size, seq_len, 1) and ``y`` of shape (batch_size, 1) with
    ``y = x[:, seq_len - 1 - lag, 0]``. ``seq_len`` defaults to ``lag + 5``. Predicting 0 (the
    mean) scores MSE 1/3, the variance of U(-1, 1): the baseline a model must beat.
    """
    _positive_int("batch_size", batch_size)
    _positive_int("lag", lag, minimum=0)
    seq_len = lag + 5 if seq_len is None else seq_len
    _positive_int("seq_len", seq_len)
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
    _positive_int("batch_size", batch_size)
    _positive_int("seq_len", seq_len, minimum=2)
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
