"""TBPTT windows: streams continue from one window to the next, and every character is a target once."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from lstm_study.errors import ConfigError
from lstm_study.text.batches import streams, tbptt_windows, window_count


@given(length=st.integers(4, 400), batch=st.integers(1, 6), window=st.integers(1, 50))
def test_windows_walk_each_stream_in_order(length, batch, window):
    codes = torch.arange(length)
    if length // batch < 2:
        return
    data = streams(codes, batch)
    windows = list(tbptt_windows(codes, batch, window))
    assert len(windows) == window_count(codes, batch, window)
    inputs = torch.cat([x for x, _ in windows], dim=1)
    targets = torch.cat([y for _, y in windows], dim=1)
    # the windows laid end to end are each stream; targets are inputs shifted by one
    assert torch.equal(inputs, data[:, :-1]) and torch.equal(targets, data[:, 1:])
    assert all(x.shape == y.shape and x.size(1) <= window for x, y in windows)
    # streams are contiguous pieces of the text, side by side
    assert torch.equal(data.reshape(-1), codes[: data.numel()])


def test_too_little_text_is_refused():
    with pytest.raises(ConfigError, match="too few"):
        streams(torch.arange(5), 4)
