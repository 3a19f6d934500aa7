"""recall_by_lag: chapter 1's delayed-recall protocol, reused by chapter 3 for the LSTM."""

from __future__ import annotations

import pandas as pd
import pytest

from lstm_study.models import SequenceRegressor
from lstm_study.nn import LSTM, RNN
from lstm_study.plots.recurrence import plot_recall_by_lag, plot_recall_compared
from lstm_study.training import recall_by_lag


def _rnn() -> SequenceRegressor:
    return SequenceRegressor(RNN(1, 4, batch_first=True))


def test_one_row_per_lag_with_r2_from_the_mse():
    rows = recall_by_lag(_rnn, [1, 3], steps=3, test_size=50)
    assert [row["lag"] for row in rows] == [1, 3]
    for row in rows:
        assert row["r2"] == pytest.approx(1 - row["test MSE"] * 3)


def test_a_validation_seed_adds_a_score_on_other_sequences_and_leaves_the_test_alone():
    plain = recall_by_lag(_rnn, [1, 3], steps=3, test_size=50)
    rows = recall_by_lag(_rnn, [1, 3], steps=3, test_size=50, valid_seed=99)
    for row, before in zip(rows, plain, strict=True):
        assert row["r2"] == before["r2"] and "valid r2" not in before
        assert row["valid r2"] != row["r2"]  # other sequences, another score


def test_the_same_seeds_give_the_same_scores_and_options_reach_train():
    first = recall_by_lag(_rnn, [2], steps=3, test_size=50, clip_norm=1.0)
    again = recall_by_lag(_rnn, [2], steps=3, test_size=50, clip_norm=1.0)
    assert first == again
    lstm = recall_by_lag(
        lambda: SequenceRegressor(LSTM(1, 2, batch_first=True)),
        [2],
        steps=2,
        test_size=20,
    )
    assert len(lstm) == 1
    with pytest.raises(TypeError):
        recall_by_lag(_rnn, [2], steps=1, not_an_option=True)


def test_the_figures_draw_one_line_per_model():
    table = pd.DataFrame({"lag": [1, 2], "r2": [0.9, 0.1]})
    assert (
        len(plot_recall_by_lag(table).axes[0].lines) == 2
    )  # the model and the R² = 0 line
    assert len(plot_recall_compared({"a": table, "b": table}).axes[0].lines) == 3
    banded = table.assign(low=table["r2"] - 0.1, high=table["r2"] + 0.1)
    axes = plot_recall_compared({"a": banded, "b": table}).axes[0]
    assert len(axes.collections) == 1  # one shaded band: only "a" has low and high
