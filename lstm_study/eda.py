"""Exploratory statistics of daily prices (chapter 9): returns, stationarity, tails, volatility, dependence.

Functions take the tidy frame of :func:`lstm_study.data.load_prices` (or a wide frame / series
derived from it) and return numbers or frames; the figures are in :mod:`lstm_study.plots.data`.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
from scipy import stats

from lstm_study.errors import ConfigError

TRADING_DAYS = 252


def wide(prices: pd.DataFrame, column: str = "Adj Close") -> pd.DataFrame:
    """Return one column of a tidy frame as a Date x Ticker table."""
    return prices.pivot(index="Date", columns="Ticker", values=column).rename_axis(
        columns=None
    )


def log_returns(prices: pd.DataFrame, column: str = "Adj Close") -> pd.DataFrame:
    """Return daily log returns ``log(p_t / p_{t-1})`` per ticker (Date x Ticker; NaN before a listing)."""
    table = wide(prices, column)
    # Per column, so a ticker that starts later gets no return across its missing days.
    return table.apply(lambda s: np.log(s.dropna()).diff()).iloc[1:]


#: the deterministic terms ADF and KPSS can include: a constant, or a constant and a linear trend
REGRESSIONS = ("c", "ct")


def _check_regression(regression: str) -> None:
    if regression not in REGRESSIONS:
        raise ConfigError(
            f"regression must be one of {REGRESSIONS} (a constant, or a constant and a "
            f"linear trend), got {regression!r}"
        )


def _adf(values: np.ndarray, lags: int, regression: str = "c") -> tuple:
    """Run a fixed-lag ADF regression; return statsmodels' classic result tuple."""
    from statsmodels.tsa.stattools import adfuller

    # statsmodels >= 0.15 warns unless the result type is chosen
    return adfuller(
        values, maxlag=lags, autolag=None, regression=regression, result_object=False
    )


def stationarity(
    series: pd.Series, lags: int = 5, regression: str = "c"
) -> dict[str, float]:
    """Return the ADF (null: unit root) and KPSS (null: stationary) statistics and p-values.

    ``regression="c"`` tests around a constant level, ``"ct"`` around a linear trend (for ADF,
    the alternative becomes a trend-stationary series; for KPSS, the null does). The ADF lag
    order is fixed (no automatic search): one regression, fast and reproducible. KPSS p-values
    are interpolated in a table bounded to [0.01, 0.1].
    """
    from statsmodels.tsa.stattools import kpss

    _check_regression(regression)
    values = series.dropna().to_numpy()
    adf_stat, adf_p, _, _, critical, *_ = _adf(values, lags, regression)
    with warnings.catch_warnings():
        # InterpolationWarning: the p-value is at a table bound
        warnings.simplefilter("ignore")
        kpss_stat, kpss_p, *_ = kpss(values, regression=regression, nlags="auto")
    return {
        "adf_stat": float(adf_stat),
        "adf_p": float(adf_p),
        "adf_crit_1pct": float(critical["1%"]),
        "kpss_stat": float(kpss_stat),
        "kpss_p": float(kpss_p),
    }


def windowed_adf(
    series: pd.Series, years: int = 2, lags: int = 5, regression: str = "c"
) -> pd.Series:
    """Return the ADF p-value of each calendar ``years``-long window (indexed by its first year).

    Windows with less than 90 % of their trading days (a late listing, the end of the data) are
    skipped. ``regression`` is as in :func:`stationarity`.
    """
    _check_regression(regression)
    series = series.dropna()
    first, last = series.index.year.min(), series.index.year.max()
    pvalues = {}
    for start in range(first, last + 1, years):
        window = series[
            (series.index.year >= start) & (series.index.year < start + years)
        ]
        if (
            len(window) >= 0.9 * TRADING_DAYS * years
        ):  # skip partial windows at either end
            pvalues[start] = float(_adf(window.to_numpy(), lags, regression)[1])
    return pd.Series(pvalues, name="adf_p").rename_axis("first year")


def tail_summary(returns: pd.Series, sigmas: float = 4.0) -> dict[str, float]:
    """Return moments of a return series and how much more often it moves ``sigmas`` than a normal."""
    r = returns.dropna()
    z = (r - r.mean()) / r.std()
    observed = float((z.abs() > sigmas).mean())
    expected = float(2 * stats.norm.sf(sigmas))
    return {
        "mean": float(r.mean()),
        "std": float(r.std()),
        "skew": float(stats.skew(r)),
        "excess_kurtosis": float(stats.kurtosis(r, fisher=True)),
        "jarque_bera_p": float(stats.jarque_bera(r).pvalue),
        "tail_frequency": observed,
        "normal_tail_frequency": expected,
        "tail_ratio": observed / expected,
    }


def extreme_share(returns: pd.Series, fraction: float = 0.01) -> float:
    """Return the share of the sum of squared deviations that the largest ``fraction`` of days carry.

    What a squared-error loss on these returns weighs: with normal returns the largest 1 % of
    days carry about 8.5 % of it.
    """
    if not 0 < fraction <= 1:
        raise ConfigError(f"fraction must be in (0, 1], got {fraction}")
    r = returns.dropna()
    squared = ((r - r.mean()) ** 2).sort_values(ascending=False)
    return float(
        squared.iloc[: math.ceil(fraction * len(squared))].sum() / squared.sum()
    )


def rolling_volatility(
    returns: pd.DataFrame | pd.Series, window: int = 21
) -> pd.DataFrame | pd.Series:
    """Return the annualised rolling standard deviation of daily returns (``window`` trading days)."""
    return returns.rolling(window).std() * np.sqrt(TRADING_DAYS)


def autocorrelation(series: pd.Series, lags: int = 20) -> pd.DataFrame:
    """Return the ACF of returns and of absolute returns at lags 1..``lags`` (columns ``r`` and ``abs_r``)."""
    from statsmodels.tsa.stattools import acf

    r = series.dropna()
    return pd.DataFrame(
        {
            "r": acf(r, nlags=lags, fft=True)[1:],
            "abs_r": acf(r.abs(), nlags=lags, fft=True)[1:],
        },
        index=pd.RangeIndex(1, lags + 1, name="lag"),
    )


def ljung_box(series: pd.Series, lags: int = 10) -> float:
    """Return the Ljung-Box p-value for no autocorrelation up to ``lags`` (small: dependence).

    The test assumes independent, identically distributed values under its null: on returns
    whose variance clusters it rejects too often (see :func:`robust_autocorrelation` and
    :func:`garch_standardised`).
    """
    from statsmodels.stats.diagnostic import acorr_ljungbox

    return float(acorr_ljungbox(series.dropna(), lags=[lags])["lb_pvalue"].iloc[0])


def robust_autocorrelation(series: pd.Series, lags: int = 10) -> float:
    """Return the p-value of a heteroskedasticity-robust test of no autocorrelation up to ``lags``.

    The regression of ``r_t`` on ``r_{t-1}, ..., r_{t-lags}`` by least squares, with White's
    (HC0) standard errors, and the Wald test that all ``lags`` slopes are zero: under the null
    the returns may have any conditional variance (volatility clustering) but no linear
    dependence on their past, where the Ljung-Box test also needs a constant variance.
    """
    import statsmodels.api as sm

    r = series.dropna()
    past = pd.concat({k: r.shift(k) for k in range(1, lags + 1)}, axis=1).dropna()
    fit = sm.OLS(r.loc[past.index], sm.add_constant(past)).fit(cov_type="HC0")
    slopes = np.eye(lags + 1)[1:]  # every coefficient but the constant
    return float(fit.wald_test(slopes, scalar=True).pvalue)


def _garch_fit(series: pd.Series):
    """Fit a constant mean and a GARCH(1,1) variance with normal innovations (returns in %)."""
    from arch import arch_model

    r = series.dropna()
    return arch_model(100 * r, mean="Constant", vol="GARCH", p=1, q=1).fit(disp="off")


def garch_standardised(series: pd.Series) -> pd.Series:
    """Return returns divided by their GARCH(1,1) conditional standard deviation.

    A constant mean and a GARCH(1,1) variance with normal innovations are fitted by maximum
    likelihood (the ``arch`` package, on returns in percent); the standardised residuals are
    what is left once the clustering of the variance is taken out, and a Ljung-Box test on
    them is no longer misled by it (its p-value ignores the estimated parameters: approximate).
    """
    return _garch_fit(series).std_resid.dropna().rename(series.name)


def garch_parameters(series: pd.Series) -> dict[str, float]:
    """Return the fitted GARCH(1,1) of :func:`garch_standardised`: mu, omega, alpha, beta (in %)."""
    params = _garch_fit(series).params
    return {
        "mu": float(params["mu"]),
        "omega": float(params["omega"]),
        "alpha": float(params["alpha[1]"]),
        "beta": float(params["beta[1]"]),
    }


def simulate_garch(
    parameters: dict[str, float],
    days: int,
    series: int,
    generator: np.random.Generator,
    burn: int = 500,
) -> np.ndarray:
    """Return ``series`` GARCH(1,1) return paths of ``days`` days each, shape (series, days).

    ``r_t = mu + e_t``, ``e_t = sigma_t z_t`` with standard normal ``z_t``, and
    ``sigma_t^2 = omega + alpha e_{t-1}^2 + beta sigma_{t-1}^2``, in the units of
    :func:`garch_parameters` (percent). The paths have volatility clustering and, by
    construction, no autocorrelation: what a test of autocorrelation should not reject.
    """
    mu, omega = parameters["mu"], parameters["omega"]
    alpha, beta = parameters["alpha"], parameters["beta"]
    if not (omega > 0 and alpha >= 0 and beta >= 0 and alpha + beta < 1):
        raise ConfigError(
            f"GARCH(1,1) needs omega > 0, alpha, beta >= 0 and alpha + beta < 1, got "
            f"omega={omega}, alpha={alpha}, beta={beta}"
        )
    variance = np.full(series, omega / (1 - alpha - beta))  # the unconditional variance
    paths = np.empty((series, burn + days))
    for t in range(burn + days):
        shock = np.sqrt(variance) * generator.standard_normal(series)
        paths[:, t] = mu + shock
        variance = omega + alpha * shock**2 + beta * variance
    return paths[:, burn:]


def split_days(prices: pd.DataFrame, factor: float = 1.5) -> pd.DataFrame:
    """Return the days where Close falls by ``factor`` or more relative to Adj Close: stock splits.

    Columns: Ticker, Date, the close before and on the day, and the implied split ratio.
    """
    rows = []
    for ticker, group in prices.groupby("Ticker"):
        ratio = (group["Adj Close"].pct_change() + 1) / (
            group["Close"].pct_change() + 1
        )
        for index in group.index[ratio >= factor]:
            rows.append(
                {
                    "Ticker": ticker,
                    "Date": prices.at[index, "Date"],
                    "close_before": prices.at[index - 1, "Close"],
                    "close": prices.at[index, "Close"],
                    "ratio": float(ratio[index]),
                }
            )
    return pd.DataFrame(
        rows, columns=["Ticker", "Date", "close_before", "close", "ratio"]
    )


def dollar_volume(prices: pd.DataFrame) -> pd.DataFrame:
    """Return Close x Volume per ticker (Date x Ticker): traded value, unchanged by a split."""
    frame = prices.assign(value=prices["Close"] * prices["Volume"])
    return frame.pivot(index="Date", columns="Ticker", values="value").rename_axis(
        columns=None
    )
