"""``lstm_study.models.regressor``: the picklable recipe chapter 3 trains in worker processes."""

from __future__ import annotations

import pytest
import torch

from lstm_study.errors import ConfigError
from lstm_study.models import regressor


def test_regressor_raises_only_the_lstm_forget_bias_and_refuses_other_kinds():
    torch.manual_seed(0)
    plain = regressor("LSTM", 2, 4)
    torch.manual_seed(0)
    raised = regressor("LSTM", 2, 4, forget_bias=1.0)
    shift = raised.recurrent.bias_ih_l0 - plain.recurrent.bias_ih_l0
    expected = torch.tensor([0.0] * 4 + [1.0] * 4 + [0.0] * 8)
    torch.testing.assert_close(shift, expected, rtol=0, atol=1e-6)
    assert regressor("RNN", 1, 3).recurrent.hidden_size == 3
    with pytest.raises(ConfigError, match="kind must be"):
        regressor("GRU", 1, 3)
