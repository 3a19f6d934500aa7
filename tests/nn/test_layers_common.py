"""Behaviour both recurrent layers share through RecurrentBase: dropout between layers, input checks."""

from __future__ import annotations

import pytest
import torch

from lstm_study.errors import ShapeError
from lstm_study.nn import LSTM, RNN

LAYERS = pytest.mark.parametrize("layer_class", [RNN, LSTM], ids=["RNN", "LSTM"])


@LAYERS
def test_dropout_between_layers_is_active_in_training_only(layer_class):
    torch.manual_seed(0)
    layer = layer_class(4, 6, num_layers=2, dropout=0.5)
    x = torch.randn(7, 3, 4)
    layer.eval()
    assert torch.equal(layer(x)[0], layer(x)[0])
    layer.train()
    assert not torch.equal(layer(x)[0], layer(x)[0])


@LAYERS
@pytest.mark.parametrize(
    "bad, message",
    [
        (torch.randn(7, 3, 5), "input_size=4"),
        (torch.randn(2, 7, 3, 4), "3-D"),
        (torch.randn(4), "3-D"),
        (torch.randn(0, 3, 4), "empty"),
    ],
)
def test_bad_input_raises_a_clear_error(layer_class, bad, message):
    with pytest.raises(ShapeError, match=message):
        layer_class(4, 6)(bad)
