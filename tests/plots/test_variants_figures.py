"""The figures of the chapter on LSTM variants draw from results alone, without error."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from lstm_study.plots import variants as plots  # noqa: E402


def test_every_figure_draws():
    scores = pd.DataFrame(
        {
            "task": ["adding"] * 4 + ["reber"] * 4,
            "model": ["standard", "standard", "GRU", "GRU"] * 2,
            "seed": [0, 1] * 4,
            "score": [0.01, 0.02, 0.001, 0.0, 0.0, 0.1, 0.5, 0.4],
        }
    )
    figures = [
        plots.plot_ablation(scores, baselines={"adding": 1 / 6, "reber": 1.0}),
        plots.plot_cell_drift(
            {"standard": [1.0, 2.0, 2.0], "no forget gate": [1.0, 10.0, 100.0]}
        ),
        plots.plot_bias_curves(
            {"0": [[0.2, 0.1], [0.2, 0.05]], "+1": [[0.2, 0.01], [0.1, 0.01]]},
            every=25,
            baseline=1 / 6,
        ),
    ]
    assert all(len(fig.axes) >= 1 for fig in figures)
    plt.close("all")
