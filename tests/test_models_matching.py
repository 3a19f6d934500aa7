"""count_parameters and matching_bidirectional_hidden_size."""

from __future__ import annotations

import pytest
import torch

from lstm_study.models import (
    SequenceRegressor,
    count_parameters,
    matching_bidirectional_hidden_size,
)
from lstm_study.nn import LSTM, RNN


def test_count_parameters_follows_the_lstm_formula():
    # 4 gates x hidden x (input + hidden + 2 biases) per layer and direction, plus the head
    model = SequenceRegressor(LSTM(3, 5, batch_first=True, bidirectional=True), 2)
    assert count_parameters(model) == 2 * 4 * 5 * (3 + 5 + 2) + (2 * 5 * 2 + 2)


def test_count_parameters_skips_frozen_weights():
    model = SequenceRegressor(LSTM(3, 5, batch_first=True), 1)
    model.head.requires_grad_(False)
    assert count_parameters(model) == 4 * 5 * (3 + 5 + 2)


@pytest.mark.parametrize("layer_cls", [LSTM, RNN, torch.nn.LSTM])
@pytest.mark.parametrize("hidden_size", [8, 24, 48])
def test_matched_size_is_the_closest_count(layer_cls, hidden_size):
    def total(size: int, bidirectional: bool) -> int:
        return count_parameters(
            SequenceRegressor(
                layer_cls(4, size, batch_first=True, bidirectional=bidirectional), 4
            )
        )

    size = matching_bidirectional_hidden_size(layer_cls, 4, hidden_size, 4)
    target = total(hidden_size, False)
    gap = abs(total(size, True) - target)
    assert size < hidden_size
    assert gap <= abs(total(size - 1, True) - target) and gap <= abs(
        total(size + 1, True) - target
    )
    assert gap / target < 0.1


def test_matched_size_for_the_chapter_is_within_two_percent():
    size = matching_bidirectional_hidden_size(LSTM, 4, 24, 4)
    uni = count_parameters(SequenceRegressor(LSTM(4, 24, batch_first=True), 4))
    bi = count_parameters(
        SequenceRegressor(LSTM(4, size, batch_first=True, bidirectional=True), 4)
    )
    assert size == 16 and abs(bi - uni) / uni < 0.02
