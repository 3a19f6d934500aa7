"""Forecast accuracy the way a forecaster reports it: scale-free, against a benchmark, with a test.

MAE and RMSE are in the target's units; MASE divides the MAE by the in-sample MAE of the naive
forecast (Hyndman and Koehler, 2006); the RMSE ratio to the random walk says at a glance who wins
(above 1, the model loses); directional accuracy is only impressive above the share of up days;
the Diebold-Mariano test with the Harvey-Leybourne-Newbold correction says whether a difference
in squared error is larger than luck.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats
from statsmodels.tsa.stattools import diebold_mariano_test

from lstm_study.errors import ConfigError, ShapeError

METRICS = ("mae", "rmse", "mase", "rmse_ratio_vs_random_walk", "directional_accuracy")


def _pair(actual: np.ndarray, forecast: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return both arrays as 1-D floats of equal, non-zero length."""
    a = np.asarray(actual, dtype=float).ravel()
    f = np.asarray(forecast, dtype=float).ravel()
    if a.shape != f.shape or a.size == 0:
        raise ShapeError(
            f"actual and forecast need the same non-zero length, got {a.size} and {f.size}"
        )
    return a, f


def mae(actual: np.ndarray, forecast: np.ndarray) -> float:
    """Mean absolute error."""
    a, f = _pair(actual, forecast)
    return float(np.mean(np.abs(a - f)))


def rmse(actual: np.ndarray, forecast: np.ndarray) -> float:
    """Root mean squared error."""
    a, f = _pair(actual, forecast)
    return float(np.sqrt(np.mean((a - f) ** 2)))


def naive_scale(in_sample: np.ndarray) -> float:
    """In-sample MAE of the one-step naive forecast of the series itself: mean |y[t] - y[t-1]|."""
    y = np.asarray(in_sample, dtype=float)
    y = y[np.isfinite(y)]
    if y.size < 2:
        raise ShapeError("the MASE scale needs at least two in-sample values")
    return float(np.mean(np.abs(np.diff(y))))


def mase(actual: np.ndarray, forecast: np.ndarray, scale: float) -> float:
    """Mean absolute scaled error: the MAE divided by the in-sample naive MAE ``scale``."""
    if not scale > 0:
        raise ConfigError(f"the MASE scale must be positive, got {scale}")
    return mae(actual, forecast) / scale


def rmse_ratio(
    actual: np.ndarray, forecast: np.ndarray, benchmark: np.ndarray
) -> float:
    """RMSE of ``forecast`` over RMSE of ``benchmark``: above 1, the forecast loses.

    A benchmark without error (a flat price series and the random walk) gives NaN when the
    forecast is exact too, and infinity when it is not.
    """
    numerator, denominator = rmse(actual, forecast), rmse(actual, benchmark)
    if denominator == 0:
        return float("nan") if numerator == 0 else float("inf")
    return numerator / denominator


def directional_accuracy(
    actual: np.ndarray, forecast: np.ndarray, reference: np.ndarray | float = 0.0
) -> float:
    """Share of days whose forecast move from ``reference`` has the sign of the actual move.

    ``reference`` is 0 for returns and yesterday's price for prices. A forecast that never
    calls a direction (the random walk) has no directional accuracy: NaN.
    """
    a, f = _pair(actual, forecast)
    forecast_move = f - reference
    if np.all(forecast_move == 0):
        return float("nan")
    return float(np.mean(np.sign(forecast_move) == np.sign(a - reference)))


@dataclass(frozen=True)
class DirectionalTest:
    """Directional accuracy against the better constant call ("always up" or "always down")."""

    accuracy: float
    constant_call: str
    constant_share: float
    days: int
    p_value: float


def directional_test(
    actual: np.ndarray, forecast: np.ndarray, reference: np.ndarray | float = 0.0
) -> DirectionalTest:
    """Test whether ``forecast`` calls the direction more often than the better constant call.

    A forecaster that always says "up" scores the share of up days, one that always says "down"
    the share of down days; the better of the two is the reference a directional forecast must
    beat. The p-value is the one-sided binomial probability of at least as many right calls if
    each day were right with that constant call's share (scipy.stats.binomtest).
    """
    a, f = _pair(actual, forecast)
    move = a - reference
    up, down = float(np.mean(move > 0)), float(np.mean(move < 0))
    call, share = ("up", up) if up >= down else ("down", down)
    accuracy = directional_accuracy(a, f, reference)
    if np.isnan(accuracy):
        return DirectionalTest(accuracy, call, share, len(a), float("nan"))
    right = int(round(accuracy * len(a)))
    p_value = float(stats.binomtest(right, len(a), share, alternative="greater").pvalue)
    return DirectionalTest(accuracy, call, share, len(a), p_value)


@dataclass(frozen=True)
class PesaranTimmermann:
    """The Pesaran-Timmermann test: do the forecast's signs carry information about the actual's?"""

    accuracy: float
    expected: (
        float  # the accuracy calls independent of the outcome would have on average
    )
    statistic: float
    p_value: float  # one-sided: more right calls than independence gives


def pesaran_timmermann(
    actual: np.ndarray, forecast: np.ndarray, reference: np.ndarray | float = 0.0
) -> PesaranTimmermann:
    """Test whether the forecast's up/down calls and the actual moves are independent.

    Pesaran and Timmermann (1992): with ``p_y`` the share of up moves, ``p_x`` the share of up
    calls and ``P`` the share of right calls, independence predicts
    ``P* = p_y p_x + (1 - p_y)(1 - p_x)``; the statistic ``(P - P*) / sqrt(var P - var P*)`` is
    standard normal under it. Unlike a binomial test against the better constant call, it
    estimates both shares from the data. A day without a move counts as "not up", as does a
    forecast of no move. Like the original, it assumes independent days. A forecast that calls
    one direction every day, or a period that moves one way only, leaves it undefined (NaN).
    """
    a, f = _pair(actual, forecast)
    y, x = (a - reference) > 0, (f - reference) > 0
    n = a.size
    right = float(np.mean(x == y))
    p_y, p_x = float(np.mean(y)), float(np.mean(x))
    expected = p_y * p_x + (1 - p_y) * (1 - p_x)
    var_right = expected * (1 - expected) / n
    var_expected = (
        (2 * p_y - 1) ** 2 * p_x * (1 - p_x) / n
        + (2 * p_x - 1) ** 2 * p_y * (1 - p_y) / n
        + 4 * p_y * p_x * (1 - p_y) * (1 - p_x) / n**2
    )
    spread = var_right - var_expected
    if not spread > 0:
        return PesaranTimmermann(right, expected, float("nan"), float("nan"))
    statistic = (right - expected) / np.sqrt(spread)
    return PesaranTimmermann(
        right, expected, float(statistic), float(stats.norm.sf(statistic))
    )


def up_share(actual: np.ndarray, reference: np.ndarray | float = 0.0) -> float:
    """Share of days on which the actual value rose above ``reference``: what 'always up' scores."""
    a = np.asarray(actual, dtype=float)
    return float(np.mean(a - reference > 0))


@dataclass(frozen=True)
class DieboldMariano:
    """A Diebold-Mariano test result; a negative statistic means the model's loss is lower."""

    statistic: float
    p_value: float
    lags: int


def diebold_mariano(
    actual: np.ndarray,
    forecast: np.ndarray,
    benchmark: np.ndarray,
    horizon: int = 1,
    loss: str | Callable[[np.ndarray, np.ndarray], np.ndarray] = "mse",
) -> DieboldMariano:
    """Test equal accuracy of ``forecast`` and ``benchmark`` (two-sided), by squared error or ``loss``.

    Uses ``statsmodels.tsa.stattools.diebold_mariano_test`` with the Harvey, Leybourne and Newbold
    (1997) small-sample correction (Student t with T - 1 degrees of freedom) and its default
    Newey-West bandwidth, ``ceil(T ** (1/3))`` lags, because squared errors of daily returns are
    autocorrelated (volatility clusters). ``loss`` may be a function of (actual, forecast) that
    returns one loss per day, such as QLIKE (:func:`lstm_study.forecast.volatility.qlike`).
    """
    a, f = _pair(actual, forecast)
    _, b = _pair(actual, benchmark)
    if np.array_equal(f, b):
        return DieboldMariano(float("nan"), float("nan"), 0)
    result = diebold_mariano_test(
        a, f, b, criterion=loss, harvey_adj=True, horizon=horizon
    )
    return DieboldMariano(
        float(result.statistic), float(result.pvalue), int(result.lags)
    )


def holm(p_values: Sequence[float]) -> np.ndarray:
    """Holm's step-down adjusted p-values, in the order given (family-wise error control).

    statsmodels' ``multipletests``, which also keeps the adjusted values monotone and at most 1.
    """
    from statsmodels.stats.multitest import multipletests

    return multipletests(np.asarray(p_values, dtype=float), method="holm")[1]


def lagged_cross_correlation(
    forecast: np.ndarray, actual: np.ndarray, max_lag: int = 5, difference: bool = True
) -> pd.Series:
    """Correlation of ``forecast[t]`` with ``actual[t - k]`` for k = -max_lag .. max_lag.

    A forecast that is really yesterday's value peaks at k = 1. With ``difference=True`` both
    series are first differenced: price levels correlate at about 0.99 at every lag, so only the
    day-to-day changes show where the peak is.
    """
    f = np.asarray(forecast, dtype=float)
    a = np.asarray(actual, dtype=float)
    if f.shape != a.shape or f.ndim != 1:
        raise ShapeError("forecast and actual must be 1-D arrays of the same length")
    if difference:
        f, a = np.diff(f), np.diff(a)
    if max_lag < 0 or len(f) <= 2 * max_lag + 2:
        raise ConfigError(
            f"max_lag={max_lag} needs a series longer than {2 * max_lag + 2}"
        )
    values = {}
    for k in range(-max_lag, max_lag + 1):
        if k >= 0:
            x, y = f[k:], a[: len(a) - k]
        else:
            x, y = f[:k], a[-k:]
        values[k] = float(np.corrcoef(x, y)[0, 1])
    return pd.Series(values, name="correlation").rename_axis("lag")


def evaluate(
    actual: np.ndarray,
    forecasts: Mapping[str, np.ndarray],
    *,
    scale: float,
    reference: np.ndarray | float = 0.0,
    benchmark: str = "random_walk",
) -> pd.DataFrame:
    """Return one row per model with MAE, RMSE, MASE, RMSE ratio to ``benchmark`` and directional accuracy."""
    if benchmark not in forecasts:
        raise ConfigError(
            f"the benchmark {benchmark!r} is not among the forecasts {list(forecasts)}"
        )
    rows = {
        name: {
            "mae": mae(actual, forecast),
            "rmse": rmse(actual, forecast),
            # a flat training period has no naive error to scale by: MASE is undefined there
            "mase": mase(actual, forecast, scale) if scale > 0 else float("nan"),
            "rmse_ratio_vs_random_walk": rmse_ratio(
                actual, forecast, forecasts[benchmark]
            ),
            "directional_accuracy": directional_accuracy(actual, forecast, reference),
        }
        for name, forecast in forecasts.items()
    }
    return pd.DataFrame.from_dict(rows, orient="index")[list(METRICS)].rename_axis(
        "model"
    )


def coverage(actual: np.ndarray, lower: np.ndarray, upper: np.ndarray) -> float:
    """Share of known actuals inside [lower, upper] (NaN actuals are skipped)."""
    a, lo, hi = (np.asarray(v, dtype=float).ravel() for v in (actual, lower, upper))
    known = np.isfinite(a)
    if not known.any():
        return float("nan")
    return float(np.mean((lo[known] <= a[known]) & (a[known] <= hi[known])))


def evaluate_by_step(
    actual: np.ndarray,
    forecasts: Mapping[str, np.ndarray],
    *,
    model: str = "lstm",
    benchmark: str = "random_walk",
) -> pd.DataFrame:
    """Score (days, steps) forecasts step by step: RMSE of each, ``model`` against ``benchmark``.

    Row ``h`` uses the days whose step-``h`` actual is known. The RMSE ratio and the
    Diebold-Mariano test compare ``model`` with ``benchmark`` at the same step; the test's
    Newey-West bandwidth grows with the step, whose errors overlap (``horizon=h``).
    """
    actual = np.asarray(actual, dtype=float)
    rows = []
    for step in range(actual.shape[1]):
        known = np.isfinite(actual[:, step])
        a = actual[known, step]
        row: dict[str, float] = {"step": step + 1, "n": int(known.sum())}
        for name, forecast in forecasts.items():
            row[f"rmse_{name}"] = rmse(a, np.asarray(forecast)[known, step])
        f, b = (
            np.asarray(forecasts[model])[known, step],
            np.asarray(forecasts[benchmark])[known, step],
        )
        row["rmse_ratio_vs_random_walk"] = rmse_ratio(a, f, b)
        test = diebold_mariano(a, f, b, horizon=step + 1)
        row["dm_statistic"], row["dm_p_value"] = test.statistic, test.p_value
        rows.append(row)
    return pd.DataFrame(rows).set_index("step")


def interval_scores(actual: np.ndarray, bounds: np.ndarray) -> pd.DataFrame:
    """Coverage and mean width per step of (2, days, steps) interval ``bounds``."""
    actual = np.asarray(actual, dtype=float)
    rows = []
    for step in range(actual.shape[1]):
        lower, upper = bounds[0][:, step], bounds[1][:, step]
        known = np.isfinite(actual[:, step])
        rows.append(
            {
                "step": step + 1,
                "coverage": coverage(actual[:, step], lower, upper),
                "width": float(np.mean(upper[known] - lower[known]))
                if known.any()
                else float("nan"),
            }
        )
    return pd.DataFrame(rows).set_index("step")
