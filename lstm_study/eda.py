"""Exploratory statistics of daily prices (chapter 8): returns, stationarity, tails, volatility, dependence.

Functions take the tidy frame of :func:`lstm_study.data.load_prices` (or a wide frame / series
derived from it) and return numbers or frames; the figures are in :mod:`lstm_study.plots.data`.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from scipy import stats

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


def _adf(values: np.ndarray, lags: int) -> tuple:
    """Run a fixed-lag ADF regression; return statsmodels' classic result tuple."""
    from statsmodels.tsa.stattools import adfuller

    # statsmodels >= 0.15 warns unless the result type is chosen
    return adfuller(
        values, maxlag=lags, autolag=None, regression="c", result_object=False
    )


def stationarity(series: pd.Series, lags: int = 5) -> dict[str, float]:
    """Return the ADF (null: unit root) and KPSS (null: stationary) statistics and p-values.

    The ADF lag order is fixed (no automatic search): one regression, fast and reproducible.
    KPSS p-values are interpolated in a table bounded to [0.01, 0.1].
    """
    from statsmodels.tsa.stattools import kpss

    values = series.dropna().to_numpy()
    adf_stat, adf_p, _, _, critical, *_ = _adf(values, lags)
    with warnings.catch_warnings():
        warnings.simplefilter(
            "ignore"
        )  # InterpolationWarning: the p-value is at a table bound
        kpss_stat, kpss_p, *_ = kpss(values, regression="c", nlags="auto")
    return {
        "adf_stat": float(adf_stat),
        "adf_p": float(adf_p),
        "adf_crit_1pct": float(critical["1%"]),
        "kpss_stat": float(kpss_stat),
        "kpss_p": float(kpss_p),
    }


def windowed_adf(series: pd.Series, years: int = 2, lags: int = 5) -> pd.Series:
    """Return the ADF p-value of each calendar ``years``-long window (indexed by its first year).

    Windows with less than 90 % of their trading days (a late listing, the end of the data) are skipped.
    """
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
            pvalues[start] = float(_adf(window.to_numpy(), lags)[1])
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
    """Return the Ljung-Box p-value for no autocorrelation up to ``lags`` (small: dependence)."""
    from statsmodels.stats.diagnostic import acorr_ljungbox

    return float(acorr_ljungbox(series.dropna(), lags=[lags])["lb_pvalue"].iloc[0])


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
