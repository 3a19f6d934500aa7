"""Metrics on hand-checked numbers; the Diebold-Mariano test against its textbook formula."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from lstm_study.errors import ShapeError
from lstm_study.forecast import metrics


def test_point_metrics_on_known_values():
    actual = np.array([1.0, -1.0, 2.0, 0.5])
    forecast = np.array([0.0, -2.0, 2.0, -0.5])
    assert metrics.mae(actual, forecast) == pytest.approx(0.75)
    assert metrics.rmse(actual, forecast) == pytest.approx(np.sqrt(3 / 4))
    assert metrics.naive_scale(np.array([1.0, 3.0, 2.0])) == pytest.approx(1.5)
    assert metrics.mase(actual, forecast, 1.5) == pytest.approx(0.5)
    assert metrics.rmse_ratio(actual, forecast, np.zeros(4)) == pytest.approx(
        np.sqrt(3 / 4) / np.sqrt(6.25 / 4)
    )
    # signs: (0 vs +) wrong, (- vs -) right, (+ vs +) right, (- vs +) wrong
    assert metrics.directional_accuracy(
        actual, forecast + 1e-9 * (forecast == 0) * -1
    ) == pytest.approx(0.5)
    assert np.isnan(metrics.directional_accuracy(actual, np.zeros(4)))
    assert metrics.up_share(actual) == 0.75
    with pytest.raises(ShapeError):
        metrics.mae(actual, forecast[:3])


def test_directional_accuracy_of_prices_is_measured_from_yesterday():
    yesterday = np.array([10.0, 10.0, 10.0])
    actual = np.array([11.0, 9.0, 12.0])
    forecast = np.array([10.5, 10.5, 9.5])  # up (right), up (wrong), down (wrong)
    assert metrics.directional_accuracy(actual, forecast, yesterday) == pytest.approx(
        1 / 3
    )


def test_diebold_mariano_matches_the_hln_formula_and_detects_a_better_forecast():
    rng = np.random.default_rng(0)
    actual = rng.normal(size=300)
    good = actual + rng.normal(scale=0.5, size=300)
    bad = actual + rng.normal(scale=1.0, size=300)
    result = metrics.diebold_mariano(actual, good, bad)
    # textbook DM with a Bartlett (Newey-West) long-run variance, then the HLN rescaling and t(T-1)
    d = (actual - good) ** 2 - (actual - bad) ** 2
    t, lags = len(d), result.lags
    centred = d - d.mean()
    gamma = [centred[k:] @ centred[: t - k] / t for k in range(lags + 1)]
    long_run = gamma[0] + 2 * sum(
        (1 - k / (lags + 1)) * gamma[k] for k in range(1, lags + 1)
    )
    statistic = d.mean() / np.sqrt(long_run / t) * np.sqrt((t + 1 - 2 + 0) / t)
    assert result.statistic == pytest.approx(statistic, rel=1e-9)
    assert result.p_value == pytest.approx(
        2 * stats.t.cdf(-abs(statistic), df=t - 1), rel=1e-9
    )
    assert result.statistic < 0 and result.p_value < 1e-6
    assert (
        metrics.diebold_mariano(actual, bad, bad).p_value
        != metrics.diebold_mariano(actual, bad, bad).p_value
    )


def test_a_shifted_copy_peaks_at_lag_one():
    rng = np.random.default_rng(0)
    actual = np.cumsum(rng.normal(size=300))
    persistence = np.r_[actual[0], actual[:-1]]
    xcorr = metrics.lagged_cross_correlation(persistence, actual, max_lag=3)
    assert xcorr.idxmax() == 1 and xcorr[1] == pytest.approx(1.0)
    assert abs(xcorr[0]) < 0.2


def test_evaluate_has_one_row_per_model_and_the_benchmark_ratio_is_one():
    actual = np.array([0.01, -0.02, 0.005])
    table = metrics.evaluate(
        actual, {"random_walk": np.zeros(3), "m": np.full(3, 0.001)}, scale=0.01
    )
    assert list(table.columns) == list(metrics.METRICS)
    assert table.loc["random_walk", "rmse_ratio_vs_random_walk"] == 1.0


def test_directional_skill_is_judged_against_the_better_constant_call():
    from lstm_study.forecast.metrics import directional_test

    actual = np.array(
        [-1.0, -2.0, -0.5, 1.0, -1.0, 0.5, -3.0, -0.1]
    )  # 6 down, 2 up: "always down" scores 0.75
    forecast = -np.ones(8)
    result = directional_test(actual, forecast)
    assert result.constant_call == "down" and result.constant_share == 0.75
    assert (
        result.accuracy == 0.75
    )  # the LSTM that always says down does no better than the constant
    # P(X >= 6) for X ~ Binomial(8, 0.75), by hand
    from math import comb

    expected = sum(comb(8, k) * 0.75**k * 0.25 ** (8 - k) for k in range(6, 9))
    assert result.p_value == pytest.approx(expected)
    assert np.isnan(
        directional_test(actual, np.zeros(8)).p_value
    )  # the random walk calls no direction


def test_holm_adjusts_in_the_given_order_and_is_monotone():
    from lstm_study.forecast.metrics import holm

    adjusted = holm([0.04, 0.01, 0.03, 0.5])
    # sorted 0.01, 0.03, 0.04, 0.5 -> 0.04, 0.09, 0.09 (kept monotone), 0.5
    assert np.allclose(adjusted, [0.09, 0.04, 0.09, 0.5])
    assert np.allclose(holm([0.6, 0.7]), [1.0, 1.0])  # capped at 1
    assert holm([0.2]).tolist() == [0.2]


def test_pesaran_timmermann_finds_information_and_not_its_absence():
    from lstm_study.forecast.metrics import pesaran_timmermann

    rng = np.random.default_rng(3)
    actual = rng.normal(0.001, 0.01, 2000)
    noise = rng.normal(0, 0.01, 2000)
    informed = pesaran_timmermann(actual, actual + 2 * noise)
    assert informed.statistic > 3 and informed.p_value < 0.01
    # calls independent of the moves, but mostly "up": the better constant call is
    # matched by chance, and the test does not reject
    p_values = [
        pesaran_timmermann(actual, rng.normal(0.005, 0.01, 2000)).p_value
        for _ in range(200)
    ]
    assert 0.02 < np.mean(np.array(p_values) < 0.05) < 0.09
    assert np.isnan(pesaran_timmermann(actual, np.full(2000, 0.01)).p_value)
