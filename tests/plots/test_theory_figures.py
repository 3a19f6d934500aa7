"""The chapter-2 and chapter-3 figures draw from results alone, and refuse inputs they cannot draw."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from lstm_study.plots import theory  # noqa: E402

VALUES = np.linspace(0, 0.9, 10)
MARKERS = np.array([0, 1, 0, 0, 0, 0, 1, 0, 0, 0])


def test_every_theory_figure_draws():
    figures = [
        theory.plot_gradient_norms(
            {"a": [1e-3, 1e-2, 1.0], "b": [1.0, 1.0, 1.0]}, dashed=["b"]
        ),
        theory.plot_losses({"run": [0.2, 0.1, 0.05, 0.01]}, baseline=0.167, smooth=2),
        theory.plot_lstm_gates(
            VALUES, MARKERS, {"i": np.random.rand(10, 3), "c": np.random.randn(10, 3)}
        ),
        theory.plot_lstm_unit(
            VALUES, MARKERS, {"i": np.random.rand(10), "c": np.random.randn(10)}
        ),
    ]
    assert all(len(fig.axes) >= 1 for fig in figures)
    plt.close("all")


def test_lstm_unit_draws_one_panel_per_trace_and_marks_the_markers():
    gate, cell = np.random.rand(10), 5 * np.random.randn(10)
    fig = theory.plot_lstm_unit(VALUES, MARKERS, {"input gate": gate, "cell": cell})
    input_ax, gate_ax, cell_ax = fig.axes
    assert gate_ax.get_ylabel() == "input gate" and cell_ax.get_ylabel() == "cell"
    assert gate_ax.get_ylim() == (
        -0.05,
        1.05,
    )  # a trace in [0, 1] is drawn on the gate range
    np.testing.assert_allclose(gate_ax.lines[0].get_ydata(), gate)
    np.testing.assert_allclose(cell_ax.lines[0].get_ydata(), cell)
    assert (
        cell_ax.get_ylim()[1] > 1 or cell.max() <= 1
    )  # a cell trace keeps its own range
    dotted = [line.get_xdata()[0] for line in cell_ax.lines[1:]]
    assert dotted == [1, 6]  # one dotted line per marked step
    plt.close("all")


def test_lstm_unit_refuses_mismatched_or_missing_traces():
    with pytest.raises(ValueError, match="expected"):
        theory.plot_lstm_unit(VALUES, MARKERS, {"i": np.zeros(9)})
    with pytest.raises(ValueError, match="empty"):
        theory.plot_lstm_unit(VALUES, MARKERS, {})
    plt.close("all")
