"""The exploratory statistics of chapter 9 give known answers on series built to have them."""

import numpy as np
import pandas as pd
import pytest

from lstm_study import eda
from lstm_study.data import load_prices
from lstm_study.errors import ConfigError


def tidy(
    closes: dict[str, np.ndarray], adj: dict[str, np.ndarray] | None = None
) -> pd.DataFrame:
    """Return a tidy frame with the given closes (Open=High=Low=Close, volume 1000)."""
    parts = []
    for ticker, close in closes.items():
        parts.append(
            pd.DataFrame(
                {
                    "Date": pd.bdate_range("2001-01-01", periods=len(close)),
                    "Ticker": ticker,
                    "Open": close,
                    "High": close,
                    "Low": close,
                    "Close": close,
                    "Adj Close": close if adj is None else adj[ticker],
                    "Volume": 1000,
                }
            )
        )
    return pd.concat(parts, ignore_index=True)


def test_log_returns_are_log_price_differences_per_ticker():
    frame = tidy(
        {"A": np.array([1.0, 2.0, 4.0, 2.0]), "B": np.array([10.0, 10.0, 5.0, 5.0])}
    )
    returns = eda.log_returns(frame)
    np.testing.assert_allclose(returns["A"], np.log([2, 2, 0.5]))
    np.testing.assert_allclose(returns["B"], np.log([1, 0.5, 1]))
    assert list(returns.columns) == ["A", "B"]


def test_a_late_listing_gets_no_return_across_its_missing_days():
    prices = load_prices(
        ["GOOG", "MSFT"], "2004-08-01", "2004-08-31", source="snapshot"
    )
    returns = eda.log_returns(prices)
    assert returns["GOOG"].first_valid_index() == pd.Timestamp(
        "2004-08-20"
    )  # day after the listing
    assert returns["MSFT"].notna().all()


def test_stationarity_separates_a_random_walk_from_white_noise():
    rng = np.random.default_rng(0)
    noise = pd.Series(rng.normal(size=2000))
    walk = noise.cumsum()
    white, wandering = eda.stationarity(noise), eda.stationarity(walk)
    assert white["adf_p"] < 0.01 and white["kpss_p"] >= 0.05
    assert wandering["adf_p"] > 0.05 and wandering["kpss_p"] <= 0.01


def test_windowed_adf_covers_whole_windows_only():
    rng = np.random.default_rng(1)
    index = pd.bdate_range("2000-01-03", "2005-06-30")
    series = pd.Series(rng.normal(size=len(index)), index=index)
    pvalues = eda.windowed_adf(series, years=2)
    assert list(pvalues.index) == [2000, 2002]  # 2004-2005 has only 1.5 years
    assert (pvalues < 0.01).all()


def test_tail_summary_of_a_normal_sample_looks_normal_and_student_t_does_not():
    rng = np.random.default_rng(2)
    normal = eda.tail_summary(pd.Series(rng.normal(size=200_000)))
    assert abs(normal["excess_kurtosis"]) < 0.1 and normal["tail_ratio"] < 2
    fat = eda.tail_summary(pd.Series(rng.standard_t(df=4, size=200_000)))
    assert (
        fat["excess_kurtosis"] > 3
        and fat["tail_ratio"] > 10
        and fat["jarque_bera_p"] < 1e-10
    )


def test_rolling_volatility_is_annualised():
    returns = pd.Series(np.tile([0.01, -0.01], 50))
    vol = eda.rolling_volatility(returns, window=20).dropna()
    assert vol.iloc[-1] == pytest.approx(returns.iloc[-20:].std() * np.sqrt(252))


def test_autocorrelation_sees_clustering_in_a_garch_like_series():
    rng = np.random.default_rng(3)
    n, sigma, r = 5000, np.empty(5000), np.empty(5000)
    sigma[0] = 0.01
    for t in range(n):
        if t:
            sigma[t] = np.sqrt(1e-6 + 0.1 * r[t - 1] ** 2 + 0.88 * sigma[t - 1] ** 2)
        r[t] = sigma[t] * rng.normal()
    acf = eda.autocorrelation(pd.Series(r), lags=5)
    assert list(acf.index) == [1, 2, 3, 4, 5]
    assert abs(acf.at[1, "r"]) < 0.05 and acf.at[1, "abs_r"] > 0.1
    assert eda.ljung_box(pd.Series(np.abs(r))) < 1e-10
    assert eda.ljung_box(pd.Series(rng.normal(size=5000))) > 0.001


def test_split_days_finds_a_split_and_ignores_a_crash():
    close = np.array([100.0, 102.0, 51.5, 52.0, 26.0, 26.5])
    adjusted = np.array(
        [50.0, 51.0, 51.5, 52.0, 26.0, 26.5]
    )  # the 2:1 split on day 2; day 4 a real crash
    splits = eda.split_days(tidy({"X": close}, {"X": adjusted}))
    assert splits["Date"].tolist() == [pd.Timestamp("2001-01-03")]
    assert splits.at[0, "ratio"] == pytest.approx(2.0, rel=0.02)


def test_dollar_volume_does_not_jump_at_the_msft_split():
    prices = load_prices("MSFT", "2003-02-14", "2003-02-18", source="snapshot")
    value = eda.dollar_volume(prices)["MSFT"]
    shares = eda.wide(prices, "Volume")["MSFT"]
    assert value.iloc[1] / value.iloc[0] == pytest.approx(
        shares.iloc[1] * 24.96 / (shares.iloc[0] * 48.30)
    )


def test_trend_case_separates_a_trend_stationary_series_from_a_random_walk():
    rng = np.random.default_rng(4)
    n, noise = 2000, np.empty(2000)
    noise[0] = 0.0
    for t in range(1, n):  # AR(1) around the trend: shocks fade
        noise[t] = 0.8 * noise[t - 1] + rng.normal()
    trending = pd.Series(0.01 * np.arange(n) + noise)
    level, trend = (eda.stationarity(trending, regression=r) for r in ("c", "ct"))
    # around a constant the trend looks like a unit root and like non-stationarity ...
    assert level["adf_p"] > 0.05 and level["kpss_p"] <= 0.01
    # ... around a line both tests see the stationary deviations
    assert trend["adf_p"] < 0.01 and trend["kpss_p"] >= 0.05
    walk = pd.Series(0.01 * np.arange(n) + rng.normal(size=n).cumsum())
    drifting = eda.stationarity(walk, regression="ct")
    assert drifting["adf_p"] > 0.05 and drifting["kpss_p"] <= 0.01


def test_an_unknown_regression_is_refused():
    series = pd.Series(np.random.default_rng(5).normal(size=300))
    with pytest.raises(ConfigError, match="regression must be one of"):
        eda.stationarity(series, regression="ctt")
    with pytest.raises(ConfigError, match="regression must be one of"):
        eda.windowed_adf(series, regression="n")


def garch_returns(n: int, seed: int, phi: float = 0.0) -> pd.Series:
    """Returns with GARCH(1,1) variance (strong clustering) and an AR(1) mean of slope phi."""
    rng = np.random.default_rng(seed)
    sigma2, shock, r = 1e-4, 0.0, np.empty(n)
    for t in range(n):
        sigma2 = 2e-6 + 0.12 * shock**2 + 0.86 * sigma2
        shock = np.sqrt(sigma2) * rng.standard_t(5) / np.sqrt(5 / 3)
        r[t] = (phi * r[t - 1] if t else 0.0) + shock
    return pd.Series(r)


def test_robust_tests_keep_their_level_under_clustering_where_ljung_box_does_not():
    # 20 series with no linear dependence but strong clustering and fat tails
    series = [garch_returns(2000, seed) for seed in range(20)]
    rejections = {
        "Ljung-Box": sum(eda.ljung_box(r) < 0.05 for r in series),
        "robust": sum(eda.robust_autocorrelation(r) < 0.05 for r in series),
        "standardised": sum(
            eda.ljung_box(eda.garch_standardised(r)) < 0.05 for r in series
        ),
    }
    # about 1 in 20 at the 5 % level, as a test's level should be; Ljung-Box far more often
    assert rejections["robust"] <= 3 and rejections["standardised"] <= 3, rejections
    assert rejections["Ljung-Box"] >= 10, rejections


def test_robust_tests_find_real_dependence():
    dependent = garch_returns(3000, 7, phi=0.15)  # a lag-1 slope of 0.15
    assert eda.robust_autocorrelation(dependent) < 1e-3
    assert eda.ljung_box(eda.garch_standardised(dependent)) < 1e-3


def test_garch_standardising_removes_the_clustering():
    returns = garch_returns(3000, 8)
    z = eda.garch_standardised(returns)
    assert len(z) == len(returns) and z.std() == pytest.approx(1, abs=0.1)
    assert eda.ljung_box(returns.abs()) < 1e-10
    assert eda.ljung_box(z.abs()) > 0.01


def test_extreme_share_of_a_normal_sample_and_of_fat_tails():
    rng = np.random.default_rng(9)
    normal = eda.extreme_share(pd.Series(rng.normal(size=200_000)))
    assert normal == pytest.approx(0.085, abs=0.005)
    fat = eda.extreme_share(pd.Series(rng.standard_t(3, size=200_000)))
    assert fat > 0.25
    assert eda.extreme_share(pd.Series([1.0, -1.0, 1.0, -1.0]), 1.0) == 1.0
    with pytest.raises(ConfigError, match="fraction"):
        eda.extreme_share(pd.Series([1.0, 2.0]), 0)


def test_simulated_garch_paths_cluster_without_autocorrelation():
    parameters = {"mu": 0.05, "omega": 0.05, "alpha": 0.1, "beta": 0.85}
    paths = eda.simulate_garch(parameters, 4000, 3, np.random.default_rng(10))
    assert paths.shape == (3, 4000)
    for path in paths:
        r = pd.Series(path)
        assert r.mean() == pytest.approx(0.05, abs=0.1)
        assert r.var() == pytest.approx(0.05 / 0.05, rel=0.3)  # omega / (1 - a - b)
        acf = eda.autocorrelation(r, lags=1)
        assert abs(acf.at[1, "r"]) < 0.05 and acf.at[1, "abs_r"] > 0.05
    fitted = eda.garch_parameters(pd.Series(paths[0] / 100))
    assert fitted["alpha"] + fitted["beta"] == pytest.approx(0.95, abs=0.05)


def test_simulate_garch_refuses_an_explosive_variance():
    with pytest.raises(ConfigError, match="alpha \\+ beta < 1"):
        eda.simulate_garch(
            {"mu": 0, "omega": 0.1, "alpha": 0.3, "beta": 0.8},
            10,
            1,
            np.random.default_rng(0),
        )
