"""``lstm_study.training.train_on_adding``: one run of chapter 3's protocol."""

from __future__ import annotations

from functools import partial

import torch

from lstm_study.models import regressor
from lstm_study.training import train_on_adding


def test_train_on_adding_is_a_pure_function_of_its_arguments():
    settings = dict(length=8, seed=3, steps=5, batch_size=4, lr=0.01, clip_norm=1.0)
    make = partial(regressor, "LSTM", 2, 3, forget_bias=1.0)
    torch.manual_seed(123)  # the global state before the call does not matter
    first, history = train_on_adding(make, **settings)
    torch.manual_seed(456)
    second, again = train_on_adding(make, **settings)
    assert history.loss == again.loss and len(history.loss) == 5
    for a, b in zip(first.parameters(), second.parameters(), strict=True):
        assert torch.equal(a, b)
