"""The exploratory statistics of chapter 8 give known answers on series built to have them."""

import numpy as np
import pandas as pd
import pytest

from lstm_study import eda
from lstm_study.data import load_prices


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
