"""sequence_cross_entropy and accuracy_by_position."""

from __future__ import annotations

import math

import torch
from torch import nn

from lstm_study.tasks import IGNORE_INDEX
from lstm_study.training import accuracy_by_position, sequence_cross_entropy


class _Fixed(nn.Module):
    """Returns the logits it was built with, whatever the input."""

    def __init__(self, logits: torch.Tensor) -> None:
        super().__init__()
        self.logits = nn.Parameter(logits)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.logits


def test_sequence_cross_entropy_averages_labelled_positions_only():
    logits = torch.randn(2, 3, 4)
    targets = torch.tensor([[1, 2, IGNORE_INDEX], [0, IGNORE_INDEX, IGNORE_INDEX]])
    expected = -torch.stack(
        [
            logits[0, 0].log_softmax(-1)[1],
            logits[0, 1].log_softmax(-1)[2],
            logits[1, 0].log_softmax(-1)[0],
        ]
    ).mean()
    assert torch.allclose(sequence_cross_entropy(logits, targets), expected)


def test_accuracy_by_position_counts_per_position_and_marks_unlabelled_nan():
    # predictions (arg-max): position 0 -> class 1, position 1 -> class 0, position 2 -> class 2
    logits = torch.zeros(2, 3, 3)
    logits[:, 0, 1] = logits[:, 1, 0] = logits[:, 2, 2] = 1.0
    targets = torch.tensor([[1, 0, IGNORE_INDEX], [1, 2, IGNORE_INDEX]])
    accuracy = accuracy_by_position(_Fixed(logits), torch.zeros(2, 3, 1), targets)
    assert accuracy[:2].tolist() == [1.0, 0.5]
    assert math.isnan(accuracy[2].item())
