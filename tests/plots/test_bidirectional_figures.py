"""The chapter-4 figures draw from results alone, without error."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from lstm_study.plots import bidirectional as plots  # noqa: E402


def test_every_figure_draws():
    frame = pd.DataFrame(
        {
            "position": [0, 1, 2] * 2,
            "model": ["LSTM"] * 3 + ["BiLSTM"] * 3,
            "accuracy": [0.25] * 3 + [1.0] * 3,
        }
    )
    figures = [
        plots.plot_two_passes(3),
        plots.plot_dependence(np.tril(np.ones((4, 4))), np.triu(np.ones((4, 4)))),
        plots.plot_accuracy_by_position(frame, 0.25, lookahead=1),
        plots.plot_leak_by_position(frame.rename(columns={"accuracy": "relative_mse"})),
    ]
    assert all(len(fig.axes) >= 1 for fig in figures)
    plt.close("all")


def test_two_passes_needs_two_steps():
    with pytest.raises(ValueError):
        plots.plot_two_passes(1)
