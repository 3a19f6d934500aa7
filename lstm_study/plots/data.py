"""Figures for chapters 8 and 9 (the scraper and the exploratory analysis of prices).

Every helper takes tidy prices or statistics already computed (see :mod:`lstm_study.eda`) and
returns the matplotlib Figure; none fetches data.
"""

from __future__ import annotations

import matplotlib.dates as mdates
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.figure import Figure
from scipy import stats


def plot_growth(prices: pd.DataFrame, column: str = "Adj Close") -> Figure:
    """Plot the growth of one dollar invested at each ticker's first date, on a log scale."""
    table = prices.pivot(index="Date", columns="Ticker", values=column)
    fig, ax = plt.subplots(figsize=(8, 4))
    for ticker in table:
        series = table[ticker].dropna()
        ax.plot(series.index, series / series.iloc[0], label=ticker, linewidth=1)
    ax.set_yscale("log")
    ax.axhline(1.0, color="grey", linewidth=0.8, linestyle="--")
    ax.set_ylabel(f"value of $1 ({column}, log scale)")
    ax.set_xlabel("date")
    ax.set_title("Growth of one dollar from each ticker's first day in the data")
    ax.legend(ncol=4, loc="upper left")
    ax.grid(alpha=0.3, which="both")
    return fig


def plot_close_vs_adjusted(
    prices: pd.DataFrame, ticker: str, start=None, end=None
) -> Figure:
    """Plot one ticker's unadjusted Close and its Adj Close over [start, end]."""
    rows = prices[prices["Ticker"] == ticker].set_index("Date").loc[start:end]
    fig, ax = plt.subplots(figsize=(8, 4))
    ax.plot(
        rows.index,
        rows["Close"],
        label="Close (as traded, unadjusted)",
        color="C3",
        linewidth=1,
    )
    ax.plot(
        rows.index,
        rows["Adj Close"],
        label="Adj Close (splits and dividends)",
        color="C0",
        linewidth=1,
    )
    ax.set_ylabel("price (USD)")
    ax.set_xlabel("date")
    ax.set_title(f"{ticker}: unadjusted and adjusted close")
    ax.legend()
    ax.grid(alpha=0.3)
    return fig


def plot_return_scatter(returns: pd.DataFrame, x: str, y: str) -> Figure:
    """Scatter two tickers' daily log returns, with their correlation in the title."""
    both = returns[[x, y]].dropna()
    fig, ax = plt.subplots(figsize=(5.5, 5))
    ax.scatter(both[x], both[y], s=4, alpha=0.3, color="C0", edgecolor="none")
    limit = float(np.nanquantile(both.abs().to_numpy(), 0.999))
    ax.set_xlim(-limit, limit)
    ax.set_ylim(-limit, limit)
    ax.axhline(0, color="grey", linewidth=0.6)
    ax.axvline(0, color="grey", linewidth=0.6)
    ax.set_xlabel(f"{x} daily log return")
    ax.set_ylabel(f"{y} daily log return")
    ax.set_title(
        f"{x} against {y}: correlation {both[x].corr(both[y]):.2f} ({len(both)} days)"
    )
    ax.set_aspect("equal")
    ax.grid(alpha=0.3)
    return fig


def plot_yearly_boxes(returns: pd.DataFrame) -> Figure:
    """Box plots of daily log returns per calendar year and ticker (whiskers at 1.5 IQR)."""
    long = (
        returns.rename_axis("Date")
        .reset_index()
        .melt(id_vars="Date", var_name="Ticker", value_name="r")
        .dropna()
    )
    long["year"] = long["Date"].dt.year
    fig, ax = plt.subplots(figsize=(10, 4))
    sns.boxplot(
        data=long,
        x="year",
        y="r",
        hue="Ticker",
        hue_order=sorted(returns.columns),
        ax=ax,
        fliersize=1,
        linewidth=0.7,
    )
    ax.set_ylim(-0.15, 0.15)
    ax.set_xlabel("year")
    ax.set_ylabel("daily log return")
    ax.set_title(
        "Daily returns by year: the spread changes more than the centre (a few outliers clipped)"
    )
    ax.legend(ncol=4, loc="upper right", fontsize="small")
    ax.grid(alpha=0.3, axis="y")
    return fig


def plot_log_price_and_returns(
    log_price: pd.Series, returns: pd.Series, name: str
) -> Figure:
    """Two panels: a log price (wanders) above its daily log returns (hover around zero)."""
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(8, 5), sharex=True)
    top.plot(log_price.index, log_price, color="C0", linewidth=1)
    top.set_ylabel("log price")
    top.set_title(f"{name}: the log price wanders; its daily changes do not")
    bottom.plot(returns.index, returns, color="C1", linewidth=0.5)
    bottom.set_ylabel("daily log return")
    bottom.set_xlabel("date")
    for ax in (top, bottom):
        ax.grid(alpha=0.3)
    return fig


def plot_distribution(returns: pd.Series, name: str) -> Figure:
    """Histogram of standardised returns against the normal density (log scale), and a QQ plot."""
    r = returns.dropna()
    z = (r - r.mean()) / r.std()
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    bins = np.linspace(-10, 10, 121)
    left.hist(
        z.clip(-10, 10),
        bins=bins,
        density=True,
        color="C0",
        alpha=0.7,
        label="observed",
    )
    grid = np.linspace(-10, 10, 400)
    left.plot(grid, stats.norm.pdf(grid), color="C3", label="normal, same mean and std")
    left.set_yscale("log")
    left.set_ylim(1e-5, 1)
    left.set_xlabel("standardised daily log return (clipped at ±10)")
    left.set_ylabel("density (log scale)")
    left.set_title(f"{name}: tails far heavier than a normal")
    left.legend(fontsize="small")
    (theoretical, ordered), _ = stats.probplot(z, dist="norm")
    right.scatter(theoretical, ordered, s=4, color="C0")
    right.plot([-4, 4], [-4, 4], color="C3", label="normal")
    right.set_xlabel("normal quantile")
    right.set_ylabel("observed quantile (standardised)")
    right.set_title("QQ plot: points leave the line in both tails")
    right.legend(fontsize="small")
    for ax in (left, right):
        ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def plot_volatility(volatility: pd.DataFrame, window: int) -> Figure:
    """Plot annualised rolling volatility per ticker."""
    fig, ax = plt.subplots(figsize=(8, 4))
    for ticker in volatility:
        ax.plot(volatility.index, volatility[ticker], label=ticker, linewidth=0.9)
    ax.set_yscale(
        "log"
    )  # AAPL's crash of 2000-09-29 would flatten everything else on a linear axis
    ax.set_ylabel(f"annualised volatility ({window}-day, log scale)")
    ax.set_xlabel("date")
    ax.set_title("Volatility comes in episodes: 2000-2002, 2008-2009")
    ax.legend(ncol=4, loc="upper right")
    ax.grid(alpha=0.3)
    return fig


def plot_acf(acf: pd.DataFrame, n: int, name: str) -> Figure:
    """Bar the ACF of returns and of absolute returns, with the ±1.96/sqrt(n) band of white noise."""
    fig, ax = plt.subplots(figsize=(8, 4))
    width = 0.4
    ax.bar(acf.index - width / 2, acf["r"], width, label="returns r", color="C0")
    ax.bar(
        acf.index + width / 2,
        acf["abs_r"],
        width,
        label="absolute returns |r|",
        color="C1",
    )
    band = 1.96 / np.sqrt(n)
    ax.axhspan(-band, band, color="grey", alpha=0.25, label="95% band for white noise")
    ax.axhline(0, color="black", linewidth=0.6)
    ax.set_xlabel("lag (trading days)")
    ax.set_ylabel("autocorrelation")
    ax.set_title(f"{name}: returns barely correlate with their past; their size does")
    ax.legend()
    ax.grid(alpha=0.3, axis="y")
    return fig


def plot_correlation_heatmap(correlation: pd.DataFrame) -> Figure:
    """Heatmap of the correlation matrix of daily returns, annotated."""
    fig, ax = plt.subplots(figsize=(5.5, 4.5))
    sns.heatmap(
        correlation,
        annot=True,
        fmt=".2f",
        vmin=-1,
        vmax=1,
        cmap="RdBu_r",
        square=True,
        ax=ax,
        cbar_kws={"label": "correlation"},
    )
    ax.set_title("Correlation of daily log returns")
    ax.set_xlabel("")
    ax.set_ylabel("")
    return fig


def plot_volume(shares: pd.DataFrame, value: pd.DataFrame, window: int = 63) -> Figure:
    """Two panels: rolling median volume in shares, and in dollars (Close x Volume), log scale."""
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(8, 5.5), sharex=True)
    for ticker in shares:
        top.plot(
            shares.index,
            shares[ticker].rolling(window).median(),
            label=ticker,
            linewidth=0.9,
        )
        bottom.plot(
            value.index,
            value[ticker].rolling(window).median(),
            label=ticker,
            linewidth=0.9,
        )
    top.set_ylabel("shares per day")
    top.set_title(f"Traded volume ({window}-day rolling median, log scale)")
    bottom.set_ylabel("dollars per day")
    bottom.set_xlabel("date")
    for ax in (top, bottom):
        ax.set_yscale("log")
        ax.grid(alpha=0.3, which="both")
    top.legend(ncol=4, fontsize="small")
    return fig


def plot_split_pitfall(prices: pd.DataFrame, ticker: str, day, start, end) -> Figure:
    """Two panels around a split: unadjusted vs adjusted close, and the daily log returns of each."""
    rows = prices[prices["Ticker"] == ticker].set_index("Date")
    returns = np.log(rows[["Close", "Adj Close"]]).diff().loc[start:end]
    rows = rows.loc[start:end]
    day = pd.Timestamp(day)
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(8, 5.5), sharex=True)
    top.plot(rows.index, rows["Close"], color="C3", label="Close (unadjusted)")
    top.plot(rows.index, rows["Adj Close"], color="C0", label="Adj Close")
    top.set_ylabel("price (USD)")
    top.set_title(f"{ticker} around its split on {day:%Y-%m-%d}")
    top.legend()
    bottom.plot(
        returns.index, returns["Close"], color="C3", label="from Close", linewidth=0.9
    )
    bottom.plot(
        returns.index,
        returns["Adj Close"],
        color="C0",
        label="from Adj Close",
        linewidth=0.9,
    )
    bottom.set_ylabel("daily log return")
    bottom.set_xlabel("date")
    bottom.legend()
    for ax in (top, bottom):
        ax.axvline(day, color="grey", linestyle="--", linewidth=0.8)
        ax.grid(alpha=0.3)
    bottom.xaxis.set_major_formatter(mdates.DateFormatter("%Y-%m"))
    return fig
