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
