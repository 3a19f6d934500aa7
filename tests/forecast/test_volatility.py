"""The variance target: each baseline against a hand computation, QLIKE against its formula, the
variance LSTM's positivity, the walk-forward's no-look-ahead property, and the command end to end."""

from __future__ import annotations

import json
import math
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import chi2

from lstm_study.cli import main
from lstm_study.errors import ConfigError, DataWarning, InputDataError
from lstm_study.forecast.backtest import make_problem, walk_forward
from lstm_study.forecast.features import feature_columns, make_features
from lstm_study.forecast.folds import Fold
from lstm_study.forecast.validate import prepare_prices
from lstm_study.forecast.volatility import (
    BASELINES,
    EWMA,
    GARCH,
    HAR,
    PROXY_FLOOR,
    LogHAR,
    PastMean,
    RangeEWMA,
    evaluate_variance,
    ewma_variance,
    fit_garch,
    fit_log_linear_qlike,
    garch_variance,
    har_regressors,
    mincer_zarnowitz,
    qlike,
    qlike_test,
    variance_calibration,
    variance_walk_forward,
)
from lstm_study.forecast.volatility_model import (
    LSTMVarianceForecaster,
    VarianceScale,
    log_variance_loss,
)
from tests.forecast.conftest import tiny_config

RETURNS = np.array([np.nan, 0.01, -0.02, 0.03, 0.0, -0.01])


def ohlc_table(n: int = 400, seed: int = 0) -> pd.DataFrame:
    """A random-walk price table with High and Low around the close, and volatility that clusters."""
    rng = np.random.default_rng(seed)
    dates = pd.bdate_range("2010-01-04", periods=n)
    sigma = 0.01 * np.exp(np.cumsum(rng.normal(0, 0.1, n)) * 0.3)
    price = 50 * np.exp(np.cumsum(rng.normal(0, 1, n) * sigma))
    spread = np.abs(rng.normal(0, 1, n)) * sigma + 0.001
    return pd.DataFrame(
        {
            "Date": dates,
            "High": price * np.exp(spread),
            "Low": price * np.exp(-spread),
            "Close": price,
            "Adj Close": price,
            "Volume": rng.integers(1_000_000, 2_000_000, n),
        }
    )


def variance_config(**changes):
    return tiny_config(target="variance", **changes)


# --- QLIKE -----------------------------------------------------------------------------------


def test_qlike_is_pattons_formula_and_zero_only_at_a_perfect_forecast():
    proxy = np.array([1e-4, 4e-4, 2.5e-5, 1e-4])
    forecast = np.array([2e-4, 4e-4, 1e-4, 5e-5])
    by_hand = [
        0.5 - math.log(0.5) - 1,
        0.0,
        0.25 - math.log(0.25) - 1,
        2.0 - math.log(2.0) - 1,
    ]
    np.testing.assert_allclose(qlike(proxy, forecast), by_hand, rtol=1e-12, atol=1e-15)
    assert (qlike(proxy, forecast)[[0, 2, 3]] > 0).all()


def test_a_day_without_a_move_is_floored_and_leaves_the_comparison_as_its_limit():
    h1, h2 = 1e-4, 3e-4
    loss = qlike(np.array([0.0, 0.0]), np.array([h1, h2]))
    ratio = PROXY_FLOOR / np.array([h1, h2])
    np.testing.assert_allclose(loss, ratio - np.log(ratio) - 1)
    assert np.isfinite(loss).all()
    # the difference between two forecasts is log(h1 / h2), what it tends to as the proxy -> 0
    assert abs((loss[0] - loss[1]) - math.log(h1 / h2)) < 1e-3


@pytest.mark.parametrize("bad", [-1e-5, np.nan, np.inf])
def test_qlike_refuses_a_negative_or_missing_variance(bad):
    with pytest.raises(InputDataError, match="finite number >= 0"):
        qlike(np.array([1e-4, 1e-4]), np.array([1e-4, bad]))


def test_a_forecast_below_the_floor_is_raised_to_it_with_a_warning_that_counts_it():
    with pytest.warns(DataWarning, match="2 variance forecast"):
        loss = qlike(np.full(3, 1e-4), np.array([0.0, 1e-9, 1e-4]))
    np.testing.assert_allclose(loss[0], loss[1])  # both scored as the floor


def test_the_calibration_is_the_bias_ratio_and_the_mincer_zarnowitz_line():
    h = np.array([1e-4, 2e-4, 4e-4, 3e-4])
    proxy = 1e-5 + 1.5 * h
    table = variance_calibration(proxy, {"timid": h, "right": proxy})
    assert table.loc["timid", "bias"] == pytest.approx(h.mean() / proxy.mean())
    assert table.loc["timid", "mz_slope"] == pytest.approx(1.5)
    assert table.loc["timid", "mz_intercept"] == pytest.approx(1e-5)
    assert table.loc["right", "bias"] == pytest.approx(1.0)
    assert table.loc["right", "mz_slope"] == pytest.approx(1.0)


def test_the_mincer_zarnowitz_slope_has_hac_errors_and_a_test_against_one():
    import statsmodels.api as sm

    rng = np.random.default_rng(0)
    h = np.exp(rng.normal(-9, 0.5, 400))
    proxy = h * rng.chisquare(1, 400)  # r^2 = h z^2: right on average, slope 1
    row = mincer_zarnowitz(proxy, h)
    lags = math.ceil(400 ** (1 / 3))
    fit = sm.OLS(proxy, sm.add_constant(h)).fit(
        cov_type="HAC", cov_kwds={"maxlags": lags}
    )
    assert row["mz_slope"] == pytest.approx(fit.params[1])
    assert row["mz_slope_se"] == pytest.approx(fit.bse[1])
    assert row["mz_slope_t"] == pytest.approx((fit.params[1] - 1) / fit.bse[1])
    # the joint test of a = 0, b = 1: the Wald statistic with the same HAC covariance
    gap = fit.params - np.array([0.0, 1.0])
    wald = float(gap @ np.linalg.solve(fit.cov_params(), gap))
    assert row["mz_joint_p"] == pytest.approx(chi2.sf(wald, 2))
    # a right forecast is rejected at 5% about as often as the level says (heavy-tailed
    # proxies make the HAC errors a little small in samples this size)
    rejected = 0
    for seed in range(100):
        rng = np.random.default_rng(seed)
        level = np.exp(rng.normal(-9, 0.5, 1000))
        test = mincer_zarnowitz(level * rng.chisquare(1, 1000), level)
        rejected += test["mz_slope_p"] < 0.05
    assert rejected < 20
    rng = np.random.default_rng(1)
    level = np.exp(rng.normal(-9, 0.5, 5000))
    # the proxy moves 3 times as much as the forecast: slope 3, rejected
    timid = mincer_zarnowitz(3 * level * rng.chisquare(1, 5000), level)
    assert timid["mz_slope"] > 2 and timid["mz_slope_p"] < 0.01
    assert timid["mz_joint_p"] < 0.01
    # a forecast with the right slope but shifted by its mean: only the joint test sees it
    shifted = mincer_zarnowitz(level * rng.chisquare(1, 5000) + level.mean(), level)
    assert shifted["mz_slope_p"] > 0.01 and shifted["mz_joint_p"] < 0.01


def test_evaluate_variance_reports_mse_and_mean_qlike():
    proxy = np.array([1e-4, 4e-4])
    table = evaluate_variance(proxy, {"a": np.array([2e-4, 4e-4]), "b": proxy})
    assert list(table.columns) == ["mse", "qlike"]
    assert table.loc["a", "mse"] == pytest.approx(((1e-4) ** 2) / 2)
    assert table.loc["a", "qlike"] == pytest.approx((0.5 - math.log(0.5) - 1) / 2)
    assert table.loc["b"].tolist() == [0.0, 0.0]


def test_the_diebold_mariano_test_on_qlike_favours_the_true_variance():
    rng = np.random.default_rng(1)
    variance = np.exp(rng.normal(-9, 0.7, 600))
    proxy = variance * rng.standard_normal(600) ** 2
    test = qlike_test(proxy, variance, np.full(600, variance.mean()))
    assert test.statistic < 0 and test.p_value < 0.01


# --- the baselines, by hand -------------------------------------------------------------------


def test_ewma_is_the_riskmetrics_recursion_started_at_the_first_squared_return():
    h = ewma_variance(RETURNS, 0.94)
    expected = [1e-4]  # day 2: r1 ** 2
    for t in range(3, 7):  # h[t] = 0.94 h[t-1] + 0.06 r[t-1] ** 2
        expected.append(0.94 * expected[-1] + 0.06 * RETURNS[t - 1] ** 2)
    assert np.isnan(h[:2]).all() and len(h) == len(RETURNS) + 1
    np.testing.assert_allclose(h[2:], expected, rtol=1e-12)
    assert h[3] == pytest.approx(1.18e-4) and h[4] == pytest.approx(1.6492e-4)


def test_garch_from_given_parameters_is_the_recursion_by_hand():
    omega, alpha, beta, start = 2e-6, 0.1, 0.85, 1.5e-4
    h = garch_variance(RETURNS, omega, alpha, beta, start)
    expected = [start]
    for t in range(2, 7):
        expected.append(omega + alpha * RETURNS[t - 1] ** 2 + beta * expected[-1])
    assert np.isnan(h[0])
    np.testing.assert_allclose(h[1:], expected, rtol=1e-12)


def test_rolling_and_mean_are_the_means_of_past_squared_returns():
    rng = np.random.default_rng(2)
    returns = np.r_[np.nan, rng.normal(0, 0.01, 40)]
    problem = SimpleNamespace(log_returns=returns)
    days = np.array([2, 10, 22, 30, 40])
    rolling = PastMean(21).predict(problem, days)[0, :, 0]
    mean = PastMean().predict(problem, days)[0, :, 0]
    for k, t in enumerate(days):
        assert rolling[k] == pytest.approx(np.mean(returns[max(t - 21, 1) : t] ** 2))
        assert mean[k] == pytest.approx(np.mean(returns[1:t] ** 2))
    assert PastMean(21).name == "rolling" and PastMean().name == "mean"


def simulated_garch(n: int, seed: int = 3) -> np.ndarray:
    """Log returns from a GARCH(1,1) with omega 2e-6, alpha 0.08, beta 0.9 (day 0 is NaN)."""
    rng = np.random.default_rng(seed)
    r, h = np.empty(n), 1e-4
    for t in range(n):
        r[t] = math.sqrt(h) * rng.standard_normal()
        h = 2e-6 + 0.08 * r[t] ** 2 + 0.9 * h
    return np.r_[np.nan, r]


def test_the_recursion_with_archs_fitted_parameters_reproduces_arch():
    from arch import arch_model

    returns = simulated_garch(800)
    fit = fit_garch(returns[1:])
    h = garch_variance(returns, fit.omega, fit.alpha, fit.beta, fit.start)
    result = arch_model(
        100 * returns[1:], mean="Zero", vol="GARCH", p=1, q=1, rescale=False
    ).fit(disp="off")
    arch_variance = np.asarray(result.conditional_volatility) ** 2 / 1e4
    np.testing.assert_allclose(h[1:-1], arch_variance, rtol=1e-8)
    next_day = float(result.forecast(horizon=1).variance.iloc[-1, 0]) / 1e4
    assert h[-1] == pytest.approx(next_day, rel=1e-8)
    assert fit.converged and 0.5 < fit.persistence < 1


def test_garch_is_fitted_on_every_day_before_the_test_fold_and_none_after():
    series = prepare_prices(ohlc_table(400))
    problem = make_problem(series, variance_config())
    fold = Fold(
        0, train=range(30, 300), validation=range(300, 340), test=range(340, 350)
    )
    before = GARCH().fit(problem, fold).fitted
    changed = ohlc_table(400)
    changed.loc[340:, ["High", "Low", "Close", "Adj Close"]] *= np.exp(
        np.random.default_rng(9).normal(0, 0.05, (60, 1)).cumsum(axis=0)
    )
    problem_changed = make_problem(prepare_prices(changed), variance_config())
    model = GARCH().fit(problem_changed, fold)
    assert model.fitted == before  # nothing from the test fold on reached the fit
    assert model.fitted_until == series.dates[339]
    # the validation block is part of the fit: changing it changes the parameters
    moved = ohlc_table(400)
    moved.loc[310:339, ["High", "Low", "Close", "Adj Close"]] *= np.exp(
        np.random.default_rng(3).normal(0, 0.05, (30, 1)).cumsum(axis=0)
    )
    problem_moved = make_problem(prepare_prices(moved), variance_config())
    assert GARCH().fit(problem_moved, fold).fitted != before


def test_the_baselines_forecast_each_day_from_the_days_before_it():
    problem = make_problem(prepare_prices(ohlc_table(200)), variance_config())
    days = np.arange(100, 110)
    ewma = EWMA().predict(problem, days)
    assert ewma.shape == (1, 10, 1)
    np.testing.assert_allclose(ewma[0, :, 0], ewma_variance(problem.log_returns)[days])


def test_the_dollar_volume_does_not_jump_at_a_split_where_the_share_volume_does():
    frame = ohlc_table(200)
    split = frame.copy()
    # a 2-for-1 split on day 120: twice the shares, half the unadjusted prices from then on
    split.loc[120:, "Volume"] *= 2
    split.loc[120:, ["High", "Low", "Close"]] /= 2
    plain = make_features(prepare_prices(frame), "variance")
    after = make_features(prepare_prices(split), "variance")
    dollars = "log_dollar_volume_ratio"
    np.testing.assert_allclose(after[dollars], plain[dollars], atol=1e-12)
    jump = after["log_volume_ratio"] - plain["log_volume_ratio"]
    assert jump.iloc[120] == pytest.approx(np.log(2) * 19 / 20)


def test_har_regressors_are_the_means_of_the_1_5_and_22_days_before():
    rp = np.arange(1.0, 41.0)
    x = har_regressors(rp, extra=-rp)
    assert x.shape == (41, 5)
    assert np.isnan(x[:22, 3]).all() and np.isfinite(x[22:]).all()
    t = 30  # row t uses rp[t - k] for k = 1 .. 22 (rp's entry j is day j)
    np.testing.assert_allclose(
        x[t], [1, rp[t - 1], rp[t - 5 : t].mean(), rp[t - 22 : t].mean(), -rp[t - 1]]
    )


def test_har_is_least_squares_on_the_days_before_the_test_block():
    problem = make_problem(prepare_prices(ohlc_table(300)), variance_config())
    fold = Fold(
        0, train=range(30, 200), validation=range(200, 250), test=range(250, 260)
    )
    model = HAR().fit(problem, fold)
    x = model._regressors(problem)
    days = np.arange(22, 250)  # row 22 is the first with a month of ranges before it
    b = np.linalg.lstsq(x[days], problem.targets[days], rcond=None)[0]
    np.testing.assert_allclose(model.coefficients, b)
    forecast = model.predict(problem, np.arange(250, 260))[0, :, 0]
    np.testing.assert_allclose(forecast, np.maximum(x[250:260] @ b, model.floor))


def test_the_log_linear_qlike_fit_recovers_the_coefficients_it_was_simulated_with():
    rng = np.random.default_rng(1)
    x = np.c_[np.ones(20_000), rng.normal(0, 1, (20_000, 2))]
    b = np.array([-9.0, 0.5, -0.3])
    proxy = np.exp(x @ b) * rng.chisquare(1, 20_000)
    np.testing.assert_allclose(fit_log_linear_qlike(x, proxy), b, atol=0.05)


def test_the_log_har_and_the_range_ewma_are_positive_and_refit_on_past_days_only():
    problem = make_problem(prepare_prices(ohlc_table(300)), variance_config())
    fold = Fold(
        0, train=range(30, 200), validation=range(200, 250), test=range(250, 260)
    )
    days = np.arange(250, 260)
    for model in (LogHAR(), LogHAR(volume=True), RangeEWMA()):
        forecast = model.fit(problem, fold).predict(problem, days)
        assert forecast.shape == (1, 10, 1) and (forecast > 0).all()
    ewma = RangeEWMA().fit(problem, fold)
    proxy = np.maximum(problem.targets[np.arange(problem.first_day, 250)], PROXY_FLOOR)
    g = ewma._smoothed(problem, ewma.lam)[problem.first_day : 250]
    assert ewma.scale == pytest.approx(np.mean(proxy / g))  # QLIKE's optimal scale


# --- the variance LSTM ------------------------------------------------------------------------


def test_the_training_loss_is_qlike_less_a_term_the_forecast_does_not_change():
    y = torch.tensor([0.5, 2.0, 1.3], dtype=torch.float64)
    s = torch.tensor([0.1, -0.4, 0.9], dtype=torch.float64)
    ratio = (y / torch.exp(s)).numpy()
    by_qlike = np.mean(ratio - np.log(ratio) - 1 + np.log(y.numpy()) + 1)
    assert float(log_variance_loss(s, y)) == pytest.approx(by_qlike, rel=1e-12)
    assert math.isfinite(float(log_variance_loss(s, torch.zeros(3))))  # r = 0 is fine


def test_the_variance_scale_divides_by_the_training_mean_and_exponentiates_back():
    rows = pd.DataFrame(
        {"target": [1e-4, 3e-4]}, index=pd.bdate_range("2020-01-01", periods=2)
    )
    scale = VarianceScale().fit(rows)
    assert scale.transform(np.array([2e-4]))[0] == pytest.approx(1.0)
    assert scale.inverse_transform(
        np.array([0.0, math.log(2)])
    ).tolist() == pytest.approx([2e-4, 4e-4])
    assert scale.fitted_until == rows.index[-1]


def test_the_lstms_variance_is_positive_whatever_its_weights():
    problem = make_problem(prepare_prices(ohlc_table(200)), variance_config())
    fold = Fold(
        0, train=range(30, 150), validation=range(150, 180), test=range(180, 200)
    )
    model = LSTMVarianceForecaster(variance_config().train, seeds=2).fit(problem, fold)
    days = np.array(fold.test)
    forecast = model.predict(problem, days)
    assert forecast.shape == (2, 20, 1) and (forecast > 0).all()
    for bias in (
        -60.0,
        60.0,
    ):  # a head pushed far either way still gives a positive variance
        with torch.no_grad():
            model.models[0].head.bias.fill_(bias)
        value = model.predict(problem, days)[0]
        assert (value > 0).all() if bias < 0 else np.isfinite(value).all()


# --- features, walk-forward, command ----------------------------------------------------------


def test_the_variance_features_are_returns_sizes_range_and_volume_and_the_target_r2():
    series = prepare_prices(ohlc_table(60))
    table = make_features(series, "variance")
    assert feature_columns("variance", True) == [
        "log_return",
        "abs_return",
        "log_range",
        "log_dollar_volume_ratio",
    ]
    assert "log_volume_ratio" in table  # the share volume's, for an ablation
    np.testing.assert_allclose(table["target"], table["log_return"] ** 2)
    np.testing.assert_allclose(table["log_range"], np.log(series.high / series.low))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda f: f.drop(columns=["High", "Low"]), "needs 'High' and 'Low'"),
        (lambda f: f.drop(columns="Low"), "needs 'High' and 'Low'"),
        (lambda f: f.assign(High=f["Low"] * 0.99), "'High' is below 'Low'"),
        (
            lambda f: f.assign(Low=f["Low"].where(f.index != 5)),
            "missing or not a positive",
        ),
    ],
)
def test_bad_high_and_low_are_refused_in_one_line(change, message):
    with pytest.raises(InputDataError, match=message):
        variance_walk_forward(
            change(ohlc_table(200)), variance_config(), progress=False
        )


def test_the_variance_walk_forward_forecasts_every_test_day_with_every_model():
    result = variance_walk_forward(ohlc_table(200), variance_config(), progress=False)
    forecasts = result.forecasts
    assert list(forecasts) == ["lstm", *BASELINES]
    assert all(len(v) == 12 and (v > 0).all() for v in forecasts.values())
    assert list(result.metrics().columns) == ["mse", "qlike"]
    assert len(result.garch_fits) == len(result.folds) == 3
    for fold in result.folds:
        assert fold.scaler_fitted_until < fold.validation_start <= fold.test_start
    test = result.diebold_mariano()
    assert np.isfinite(test.statistic) and 0 <= test.p_value <= 1


def test_each_target_has_its_own_walk_forward():
    with pytest.raises(ConfigError, match="variance_walk_forward"):
        walk_forward(ohlc_table(200), variance_config(), progress=False)
    with pytest.raises(ConfigError, match="target='variance'"):
        variance_walk_forward(ohlc_table(200), tiny_config(), progress=False)
    with pytest.raises(ConfigError, match="one day ahead"):
        variance_config(horizon=2)
    with pytest.raises(ConfigError, match="features must be some of"):
        variance_walk_forward(ohlc_table(200), variance_config(), features=["price"])


@settings(max_examples=5, deadline=None, derandomize=True)
@given(cut=st.integers(min_value=175, max_value=195), seed=st.integers(0, 1000))
def test_data_after_t_changes_no_variance_forecast_dated_at_or_before_t_plus_1(
    cut, seed
):
    frame = ohlc_table(200)
    changed = frame.copy()
    rng = np.random.default_rng(seed)
    factor = np.exp(rng.normal(0, 0.05, len(frame) - cut - 1).cumsum())[:, None]
    columns = ["High", "Low", "Close", "Adj Close"]
    changed.loc[cut + 1 :, columns] = (
        changed.loc[cut + 1 :, columns].to_numpy() * factor
    )
    changed.loc[cut + 1 :, "Volume"] = rng.integers(1, 10**7, len(frame) - cut - 1)
    before = variance_walk_forward(frame, variance_config(), progress=False)
    after = variance_walk_forward(changed, variance_config(), progress=False)
    known = before.dates <= frame["Date"][cut + 1]
    for name in before.forecasts:
        np.testing.assert_array_equal(
            before.forecasts[name][known], after.forecasts[name][known]
        )


FAST = ["--lookback", "3", "--retrain-every", "100", "--seeds", "1", "--epochs", "1"]


def variance_backtest(tmp_path, *args: str) -> int:
    return main(
        [
            "backtest",
            "--target",
            "variance",
            *args,
            "--json",
            str(tmp_path / "v.json"),
            "--predictions",
            str(tmp_path / "v.csv"),
        ]
    )


def test_the_command_writes_mse_qlike_and_the_test_against_garch(tmp_path, capsys):
    path = tmp_path / "p.csv"
    ohlc_table(700).to_csv(path, index=False)
    assert (
        variance_backtest(tmp_path, "--csv", str(path), "--device", "cpu", *FAST) == 0
    )
    info = json.loads((tmp_path / "v.json").read_text())
    assert info["target"] == "variance" and info["n_test"] == 252
    assert set(info["models"]) == {"lstm", *BASELINES}
    assert all(set(row) == {"mse", "qlike"} for row in info["models"].values())
    dm = info["diebold_mariano"]
    assert (
        dm["benchmark"] == "garch" and dm["loss"] == "QLIKE" and 0 <= dm["p_value"] <= 1
    )
    csv = pd.read_csv(tmp_path / "v.csv")
    assert list(csv.columns) == ["Date", "squared_return", "lstm", *BASELINES]
    assert len(csv) == 252 and (csv.iloc[:, 2:] > 0).all().all()
    # the CSV is on the variance scale: the proxy is the squared log return
    returns = np.diff(np.log(ohlc_table(700)["Adj Close"].to_numpy()))[-252:]
    np.testing.assert_allclose(csv["squared_return"], returns**2, rtol=1e-8)
    assert "LSTM vs GARCH on QLIKE" in capsys.readouterr().out


def test_the_command_runs_from_the_bundled_snapshot(tmp_path, capsys):
    argv = ["--ticker", "IBM", "--source", "snapshot", "--test-start", "2013-01-02"]
    assert variance_backtest(tmp_path, *argv, "--device", "cpu", *FAST) == 0
    info = json.loads((tmp_path / "v.json").read_text())
    assert info["ticker"] == "IBM" and info["price_column"] == "Adj Close"
    assert "log_range" in info["features"]


@pytest.mark.parametrize(
    ("change", "extra", "message"),
    [
        (
            lambda f: f.drop(columns=["High", "Low"]),
            [],
            "needs 'High' and 'Low' columns",
        ),
        (lambda f: f.assign(High=f["Low"] / 2), [], "'High' is below 'Low'"),
        (lambda f: f, ["--horizon", "2"], "forecasts one day ahead"),
    ],
)
def test_bad_input_exits_1_with_one_clear_line(
    tmp_path, capsys, change, extra, message
):
    path = tmp_path / "p.csv"
    change(ohlc_table(700)).to_csv(path, index=False)
    assert variance_backtest(tmp_path, "--csv", str(path), *FAST, *extra) == 1
    err = capsys.readouterr().err
    assert err.startswith("lstm-study backtest: error: ") and message in err
    assert err.count("\n") == 1
    assert not (tmp_path / "v.json").exists()


def test_an_ablation_chooses_the_lstms_inputs_and_leaves_the_baselines_alone():
    inputs = ["log_return", "abs_return"]
    full = variance_walk_forward(ohlc_table(200), variance_config(), progress=False)
    fewer = variance_walk_forward(
        ohlc_table(200), variance_config(), progress=False, features=inputs
    )
    assert fewer.features == inputs and "log_range" in full.features
    for name in BASELINES:
        np.testing.assert_array_equal(fewer.forecasts[name], full.forecasts[name])
    assert not np.array_equal(fewer.forecasts["lstm"], full.forecasts["lstm"])


# The chapter (book/11_volatility.ipynb) prints IBM's rows from the committed sweep
# (lstm_study/experiments/volatility_results.json); its text says this command gives them.
@pytest.mark.slow
def test_the_command_in_the_chapter_gives_the_committed_ibm_rows(tmp_path):
    from lstm_study.experiments import volatility as sweep

    meta, arrays = sweep.load_results()
    kept = sweep.committed_result(meta, arrays, "IBM")
    argv = ["--ticker", "IBM", "--source", "snapshot", "--lookback", "21"]
    argv += ["--retrain-every", "63", "--test-start", "2008-01-02", "--seeds", "10"]
    assert variance_backtest(tmp_path, *argv, "--device", "cpu") == 0
    info = json.loads((tmp_path / "v.json").read_text())
    metrics = kept.metrics()
    assert set(info["models"]) == set(metrics.index)
    for name, row in info["models"].items():
        # half a unit in the third decimal the chapter prints
        assert row["qlike"] == pytest.approx(metrics.loc[name, "qlike"], abs=5e-4)
        assert 1e6 * row["mse"] == pytest.approx(
            1e6 * metrics.loc[name, "mse"], abs=5e-4
        )
    dm, test = info["diebold_mariano"], kept.diebold_mariano()
    assert dm["statistic"] == pytest.approx(test.statistic, abs=5e-3)
    assert dm["lags"] == test.lags


def test_the_seed_tests_pair_seeds_and_count_the_seeds_noise_in_the_pooled_test():
    from lstm_study.forecast.volatility import seed_tests

    rng = np.random.default_rng(0)
    h = np.exp(rng.normal(-9, 0.3, 800))
    proxy = h * rng.chisquare(1, 800)
    # ten "seeds": the truth times a per-seed level error, small or large
    for spread, expect_more in ((0.01, False), (0.5, True)):
        levels = np.exp(rng.normal(0, spread, (10, 1)))
        forecast = h * levels
        tests = seed_tests(proxy, forecast, 1.3 * h)
        assert len(tests.seeds) == 10
        assert tests.seeds[3].statistic == pytest.approx(
            qlike_test(proxy, forecast[3], 1.3 * h).statistic
        )
        averaged = qlike_test(proxy, forecast.mean(axis=0), 1.3 * h)
        assert tests.averaged.statistic == pytest.approx(averaged.statistic)
        # the seeds' spread widens the pooled test's standard error
        wider = abs(tests.across_seeds.statistic) < 0.8 * abs(averaged.statistic)
        assert wider == expect_more
    paired = seed_tests(proxy, forecast, forecast[::-1])
    assert paired.seeds[0].statistic == pytest.approx(
        qlike_test(proxy, forecast[0], forecast[9]).statistic
    )
    with pytest.raises(Exception, match="must match"):
        seed_tests(proxy, forecast, forecast[:3])
