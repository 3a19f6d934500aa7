"""Batches for truncated backpropagation through time (TBPTT).

The encoded text is cut into ``B`` equal streams laid side by side; window ``k`` holds characters
``k T .. (k + 1) T`` of every stream as input and the next character of each as target. Window
``k + 1`` continues each stream exactly where window ``k`` stopped, so a model may carry its state
from one window to the next (detached: the gradient stops at the window's edge).
"""

from __future__ import annotations

from collections.abc import Iterator

from torch import Tensor

from lstm_study.errors import ConfigError, check_int


def streams(codes: Tensor, batch_size: int) -> Tensor:
    """``codes`` cut into ``batch_size`` contiguous streams, shape (batch_size, len // batch_size)."""
    check_int("batch_size", batch_size)
    length = codes.numel() // batch_size
    if length < 2:
        raise ConfigError(
            f"{codes.numel():,} characters are too few for {batch_size} streams of at least 2"
        )
    return codes[: length * batch_size].reshape(batch_size, length)


def tbptt_windows(
    codes: Tensor, batch_size: int, window: int
) -> Iterator[tuple[Tensor, Tensor]]:
    """Yield (inputs, targets), each (batch_size, <= window), that walk the streams in order.

    Targets are the inputs shifted by one character; the last window may be shorter. Every
    character of every stream but the first is a target exactly once.
    """
    check_int("window", window)
    data = streams(codes, batch_size)
    for start in range(0, data.size(1) - 1, window):
        stop = min(start + window, data.size(1) - 1)
        yield data[:, start:stop], data[:, start + 1 : stop + 1]


def window_count(codes: Tensor, batch_size: int, window: int) -> int:
    """How many windows :func:`tbptt_windows` yields."""
    return -(-(codes.numel() // batch_size - 1) // window)
