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


def test_the_probe_figure_has_a_panel_per_measure_and_a_line_per_seed_and_median():
    run = [{"step": 0, "first": 1e-9, "cell_max": 1.0},
           {"step": 50, "first": 1e-3, "cell_max": float("nan")}]  # fmt: skip
    fig = plots.plot_probes(
        {"bias 0": [run, run], "bias +3": [run]},
        measures={"first": "gradient at the first marker", "cell_max": "largest |c|"},
        title="probes",
    )
    assert len(fig.axes) == 2
    assert len(fig.axes[0].lines) == (2 + 1) + (1 + 1)
    assert fig.axes[0].get_yscale() == "log"
    plt.close("all")
