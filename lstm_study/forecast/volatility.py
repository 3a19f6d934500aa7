"""Tomorrow's variance: the squared return as its proxy, the baselines to beat, QLIKE, a walk-forward.

The target of a forecast dated ``t`` is ``r_t ** 2``, the squared log return of the adjusted close
from ``t - 1`` to ``t``: a noisy but unbiased proxy of the day's variance (with a mean return of
about zero). Four baselines forecast it, each from returns up to ``t - 1`` only:

- ``ewma``: RiskMetrics (J.P. Morgan, 1996), ``h[t] = 0.94 h[t-1] + 0.06 r[t-1] ** 2``;
- ``garch``: GARCH(1,1) (Bollerslev, 1986), ``h[t] = omega + alpha r[t-1] ** 2 + beta h[t-1]``, its
  three parameters fitted by maximum likelihood (the ``arch`` package) on every return before
  each fold's test block (the LSTM's training and validation blocks) and then run forward
  through the test days;
- ``rolling``: the mean of the last 21 squared returns;
- ``mean``: the mean of all past squared returns.

Three more read the daily range, as the LSTM does, through Parkinson's (1980) range-based
variance ``RP[j] = log(High[j] / Low[j]) ** 2 / (4 log 2)`` of each day up to ``t - 1``:

- ``range_ewma``: an exponentially weighted average of ``RP``, times a scale (the range misses
  the overnight move); its decay and scale fitted by QLIKE on the days before each fold;
- ``har``: HAR (Corsi, 2009), the least-squares regression of ``r[t] ** 2`` on yesterday's
  ``RP``, its mean over the last 5 days and over the last 22, fitted on the days before each
  fold;
- ``har_log``: HAR in logs, ``log h[t]`` linear in the logs of the same three means, fitted by
  QLIKE (the Gaussian quasi-likelihood, the LSTM's own loss) on the same days: positive, and a
  multiplicative model as the variance is;
- ``har_volume``: ``har_log`` with yesterday's relative dollar volume (the LSTM's volume
  input) as a fourth regressor, when the table has volumes.

They run through the same folds and the same protocol as the variance LSTM
(:mod:`lstm_study.forecast.volatility_model`), and every model is scored by the mean squared
error and by QLIKE (:func:`qlike`), with a Diebold-Mariano test on QLIKE.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd
from scipy.signal import lfilter
from tqdm import tqdm

from lstm_study.errors import (
    ConfigError,
    DataWarning,
    InputDataError,
    InsufficientDataError,
    ShapeError,
)
from lstm_study.forecast import baselines as base
from lstm_study.forecast.backtest import (
    BacktestConfig,
    FoldRecord,
    _check_length,
    _test_start_index,
    fold_record,
    make_problem,
)
from lstm_study.forecast.folds import Fold, walk_forward_folds
from lstm_study.forecast.forecasters import Forecaster, Problem
from lstm_study.forecast.metrics import DieboldMariano, diebold_mariano
from lstm_study.forecast.model import TrainConfig
from lstm_study.forecast.validate import PriceSeries, prepare_prices
from lstm_study.forecast.volatility_model import LSTMVarianceForecaster
from lstm_study.runtime import resolve_device

VARIANCE = "variance"
EWMA_LAMBDA = 0.94  # RiskMetrics' decay for daily data
ROLLING_DAYS = 21  # about a month of trading days
#: the smallest proxy or forecast QLIKE takes: the square of a one-basis-point move (see qlike)
PROXY_FLOOR = 1e-8
GARCH_SCALE = (
    100.0  # arch is fitted on percent returns, values of order 1 for its optimiser
)
BASELINES = (
    "garch",
    "ewma",
    "rolling",
    "mean",
    "range_ewma",
    "har",
    "har_log",
    "har_volume",
)
#: the baselines that read the daily range (and ``har_volume`` the volume too)
RANGE_BASELINES = ("range_ewma", "har", "har_log", "har_volume")
BENCHMARK = "garch"
#: HAR's weekly and monthly windows (Corsi, 2009), in trading days
HAR_DAYS = (1, 5, 22)
#: the decays the range EWMA chooses from on each fold's past days
RANGE_EWMA_DECAYS = tuple(np.round(np.arange(0.80, 0.995, 0.01), 2))
#: a HAR forecast is raised to at least this share of the mean squared return it was fitted on
#: (a least-squares line can cross zero on the calmest days); the walk counts such days
HAR_FLOOR_SHARE = 0.05


def _variance_pair(
    proxy: np.ndarray, forecast: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Return both as 1-D floats of equal, non-zero length, refusing negative or missing values."""
    p = np.asarray(proxy, dtype=float).ravel()
    h = np.asarray(forecast, dtype=float).ravel()
    if p.shape != h.shape or p.size == 0:
        raise ShapeError(
            f"proxy and forecast need the same non-zero length, got {p.size} and {h.size}"
        )
    for name, values in (("proxy", p), ("forecast", h)):
        if not (np.isfinite(values) & (values >= 0)).all():
            raise InputDataError(
                f"every variance {name} must be a finite number >= 0; "
                f"{int((~(np.isfinite(values) & (values >= 0))).sum())} are not; "
                "check the prices and the model that produced them"
            )
    return p, h


def qlike(proxy: np.ndarray, forecast: np.ndarray) -> np.ndarray:
    """Patton's QLIKE loss of each day, ``L(s2, h) = s2 / h - log(s2 / h) - 1``: 0 when ``h == s2``.

    Patton (2011) shows that QLIKE, like the squared error, ranks variance forecasts as the true
    variance would even when it is scored against a noisy unbiased proxy such as the squared
    return. It depends on the ratio ``s2 / h`` only, not on the level of the variance: a crash
    day counts by how surprising its move was relative to the forecast (the loss grows linearly
    in ``s2 / h`` when the forecast is too low), not by the size of the move itself.

    Zero proxies: a day without a move (``r = 0``, a flat close) has ``s2 = 0``, where the loss is
    infinite. Proxies (and forecasts) below :data:`PROXY_FLOOR` = 1e-8, the square of a move of
    one basis point and four orders of magnitude below a typical daily variance, are raised to
    it. On such a day a forecast ``h`` loses about ``log(h / PROXY_FLOOR) - 1`` (about 8 for
    ``h = 1e-4``), and the difference between two forecasts ``h1`` and ``h2``, which is what the
    ranking and the Diebold-Mariano test use, is ``log(h1 / h2) + PROXY_FLOOR * (1/h1 - 1/h2)``:
    its limit as the proxy goes to 0, up to a term of about 1e-4. The floor sets the level of
    the mean QLIKE on such days, not who wins.

    A forecast below the floor is raised to it too, with a :class:`DataWarning` that counts
    such forecasts: a model that forecasts a variance of (nearly) zero is broken, not scored.
    """
    p, h = _variance_pair(proxy, forecast)
    low = int((h < PROXY_FLOOR).sum())
    if low:
        warnings.warn(
            f"{low} variance forecast(s) below {PROXY_FLOOR:g} were raised to it for QLIKE",
            DataWarning,
            stacklevel=2,
        )
    ratio = np.maximum(p, PROXY_FLOOR) / np.maximum(h, PROXY_FLOOR)
    return ratio - np.log(ratio) - 1.0


def evaluate_variance(
    proxy: np.ndarray, forecasts: Mapping[str, np.ndarray]
) -> pd.DataFrame:
    """Return one row per model: the mean squared error and the mean QLIKE against the proxy."""
    rows = {}
    for name, forecast in forecasts.items():
        p, h = _variance_pair(proxy, forecast)
        rows[name] = {
            "mse": float(np.mean((p - h) ** 2)),
            "qlike": float(qlike(p, h).mean()),
        }
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis("model")


def mincer_zarnowitz(proxy: np.ndarray, forecast: np.ndarray) -> dict[str, float]:
    """The Mincer-Zarnowitz regression ``r2[t] = a + b h[t] + e[t]`` by least squares, HAC errors.

    Returns the intercept, the slope, the slope's heteroskedasticity- and autocorrelation-
    consistent (Newey-West) standard error over ``ceil(T ** (1/3))`` lags, as the
    Diebold-Mariano test uses, and the two-sided test of ``b = 1`` (its t statistic and normal
    p-value; statsmodels' ``OLS(...).fit(cov_type="HAC")``), and the classic joint test of
    ``a = 0, b = 1`` (a Wald chi-squared test on two degrees of freedom with the same HAC
    covariance, ``mz_joint_p``). The squared return's noise is heteroskedastic by construction
    (its variance grows with the variance), so plain standard errors would be too small.
    """
    import statsmodels.api as sm

    p, h = _variance_pair(proxy, forecast)
    lags = int(np.ceil(len(p) ** (1 / 3)))
    fit = sm.OLS(p, sm.add_constant(h)).fit(cov_type="HAC", cov_kwds={"maxlags": lags})
    intercept, slope = (float(v) for v in fit.params)
    se = float(fit.bse[1])
    t = (slope - 1.0) / se
    from scipy.stats import norm

    joint = fit.wald_test((np.eye(2), np.array([0.0, 1.0])), use_f=False, scalar=True)
    return {
        "mz_intercept": intercept,
        "mz_slope": slope,
        "mz_slope_se": se,
        "mz_slope_t": t,
        "mz_slope_p": float(2 * norm.sf(abs(t))),
        "mz_joint_p": float(joint.pvalue),
    }


def variance_calibration(
    proxy: np.ndarray, forecasts: Mapping[str, np.ndarray]
) -> pd.DataFrame:
    """Per model: the bias ratio (mean forecast / mean proxy) and the Mincer-Zarnowitz fit.

    The Mincer-Zarnowitz regression ``r2[t] = a + b h[t] + e[t]`` has ``a = 0, b = 1`` for a
    forecast that is right on average at every level; ``b > 1`` means the proxy moves more than
    the forecast does, a forecast too timid. :func:`mincer_zarnowitz` gives the slope's HAC
    standard error and its test against 1.
    """
    rows = {}
    for name, forecast in forecasts.items():
        p, h = _variance_pair(proxy, forecast)
        rows[name] = {"bias": float(h.mean() / p.mean()), **mincer_zarnowitz(p, h)}
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis("model")


def qlike_test(
    proxy: np.ndarray, forecast: np.ndarray, benchmark: np.ndarray
) -> DieboldMariano:
    """Diebold-Mariano test of equal mean QLIKE; a negative statistic favours ``forecast``."""
    return diebold_mariano(proxy, forecast, benchmark, loss=qlike)


@dataclass(frozen=True)
class SeedTests:
    """Diebold-Mariano on QLIKE for the seed-averaged forecast, for each seed, and over seeds.

    The Diebold-Mariano test treats forecasts as given, so it leaves out the noise of which
    seeds were drawn. :attr:`seeds` holds each seed's network tested on its own;
    :attr:`across_seeds` tests the mean QLIKE difference of one network, averaged over the
    seeds and the days, with a standard error that adds the seed-to-seed variance of that
    difference (its variance over seeds, divided by their number) to the days' Newey-West
    variance: the test of "an LSTM trained from a random seed", not of the seeds we drew.
    """

    averaged: DieboldMariano
    seeds: tuple[DieboldMariano, ...]
    across_seeds: DieboldMariano

    @property
    def agreeing(self) -> int:
        """How many seeds' statistics have the sign of the averaged forecast's."""
        sign = np.sign(self.averaged.statistic)
        return sum(np.sign(t.statistic) == sign for t in self.seeds)

    @property
    def worst_p(self) -> float:
        """The largest per-seed p-value if every seed agrees in sign, else 1."""
        if self.agreeing < len(self.seeds):
            return 1.0
        return max(t.p_value for t in self.seeds)


def across_seeds_test(differences: np.ndarray) -> DieboldMariano:
    """Test a zero mean of per-seed, per-day loss differences (seeds, days), seed noise included.

    The statistic is the grand mean over its standard error, the square root of the
    Newey-West variance of the day-by-day mean over seeds (``ceil(T ** (1/3))`` lags, as the
    Diebold-Mariano test) plus the variance of the seeds' own means divided by their number;
    two-sided, Student t with ``T - 1`` degrees of freedom.
    """
    import statsmodels.api as sm
    from scipy.stats import t as student

    d = np.atleast_2d(np.asarray(differences, dtype=float))
    seeds, days = d.shape
    lags = int(np.ceil(days ** (1 / 3)))
    daily = d.mean(axis=0)
    fit = sm.OLS(daily, np.ones(days)).fit(cov_type="HAC", cov_kwds={"maxlags": lags})
    variance = float(fit.bse[0]) ** 2
    if seeds > 1:
        variance += float(d.mean(axis=1).var(ddof=1)) / seeds
    statistic = float(daily.mean()) / np.sqrt(variance)
    return DieboldMariano(
        statistic, float(2 * student.sf(abs(statistic), days - 1)), lags
    )


def seed_tests(
    proxy: np.ndarray, forecast: np.ndarray, benchmark: np.ndarray
) -> SeedTests:
    """Test ``forecast`` (seeds, days) against ``benchmark``: averaged, seed by seed, over seeds.

    ``benchmark`` is one forecast (days,), a baseline, or another model's seeds (seeds, days),
    in which case seed ``k`` is tested against seed ``k`` (the same initialisation seeds).
    """
    f = np.atleast_2d(np.asarray(forecast, dtype=float))
    b = np.asarray(benchmark, dtype=float)
    if b.ndim == 2 and b.shape != f.shape:
        raise ShapeError(
            f"benchmark seeds {b.shape} must match the forecast's {f.shape}"
        )
    paired = b if b.ndim == 2 else np.broadcast_to(b, f.shape)
    differences = np.stack(
        [qlike(proxy, fk) - qlike(proxy, bk) for fk, bk in zip(f, paired)]
    )
    return SeedTests(
        averaged=qlike_test(proxy, f.mean(axis=0), paired.mean(axis=0)),
        seeds=tuple(qlike_test(proxy, fk, bk) for fk, bk in zip(f, paired)),
        across_seeds=across_seeds_test(differences),
    )


def _recursion(start: float, decay: float, drive: np.ndarray) -> np.ndarray:
    """``x[0] = start`` and ``x[k] = decay * x[k - 1] + drive[k - 1]``: the linear recursion of EWMA and GARCH."""
    following, _ = lfilter([1.0], [1.0, -decay], drive, zi=[decay * start])
    return np.r_[start, following]


def ewma_variance(log_returns: np.ndarray, lam: float = EWMA_LAMBDA) -> np.ndarray:
    """RiskMetrics' forecast for every day: ``h[t] = lam h[t-1] + (1 - lam) r[t-1] ** 2``.

    ``log_returns[j]`` is the return from day ``j - 1`` to ``j`` (NaN on day 0). Entry ``t`` of the
    result is the forecast for day ``t`` from returns before it; the recursion starts on day 2, the
    first with a past return, at ``h[2] = r[1] ** 2`` (days 0 and 1 are NaN). The last entry, one
    past the returns, is the forecast for the day after the data.
    """
    if not 0 < lam < 1:
        raise ConfigError(f"the EWMA decay must lie in (0, 1), got {lam}")
    squared = np.asarray(log_returns, dtype=float) ** 2
    out = np.full(len(squared) + 1, np.nan)
    if len(squared) >= 2:
        out[2:] = _recursion(squared[1], lam, (1 - lam) * squared[2:])
    return out


def garch_variance(
    log_returns: np.ndarray, omega: float, alpha: float, beta: float, start: float
) -> np.ndarray:
    """GARCH(1,1) for every day: ``h[t] = omega + alpha r[t-1] ** 2 + beta h[t-1]``, from ``h[1] = start``.

    Laid out as :func:`ewma_variance`: entry ``t`` is the forecast for day ``t`` (day 0 is NaN),
    and the last entry the forecast for the day after the data.
    """
    squared = np.asarray(log_returns, dtype=float) ** 2
    out = np.full(len(squared) + 1, np.nan)
    if len(squared) >= 1:
        out[1:] = _recursion(start, beta, omega + alpha * squared[1:])
    return out


@dataclass(frozen=True)
class GarchFit:
    """GARCH(1,1) parameters on the returns' own scale, and the fitted variance of the first day."""

    omega: float
    alpha: float
    beta: float
    start: float  # h[1], arch's variance of the first return (from its backcast)
    converged: bool

    @property
    def persistence(self) -> float:
        """``alpha + beta``: how slowly a shock to the variance fades (1 would never fade)."""
        return self.alpha + self.beta


def fit_garch(returns: np.ndarray) -> GarchFit:
    """Fit GARCH(1,1) with a zero mean and normal errors by maximum likelihood, on ``returns`` only.

    ``returns`` are consecutive log returns starting with day 1's; the fit sees nothing else.
    """
    # imported here: it takes seconds, and only this function needs it
    from arch import arch_model

    r = np.asarray(returns, dtype=float)
    if len(r) < 10 or not np.isfinite(r).all() or not (r != 0).any():
        raise InsufficientDataError(
            f"GARCH needs at least 10 finite returns, not all zero; got {len(r)}"
        )
    model = arch_model(
        GARCH_SCALE * r,
        mean="Zero",
        vol="GARCH",
        p=1,
        q=1,
        dist="normal",
        rescale=False,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a failed convergence is reported as a note
        result = model.fit(disp="off", show_warning=False)
    scale2 = GARCH_SCALE**2
    return GarchFit(
        omega=float(result.params["omega"]) / scale2,
        alpha=float(result.params["alpha[1]"]),
        beta=float(result.params["beta[1]"]),
        start=float(result.conditional_volatility[0]) ** 2 / scale2,
        converged=int(result.convergence_flag) == 0,
    )


def _member(values: np.ndarray, days: np.ndarray) -> np.ndarray:
    """One member's forecasts for ``days``, shaped as the protocol says: (1, len(days), 1)."""
    return np.asarray(values)[np.asarray(days, dtype=int)][None, :, None]


class EWMA:
    """RiskMetrics' exponentially weighted moving average of squared returns, ``lam = 0.94``."""

    name = "ewma"

    def __init__(self, lam: float = EWMA_LAMBDA) -> None:
        self.lam = lam

    def fit(self, problem: Problem, fold: Fold) -> EWMA:
        """Nothing to learn: the decay is fixed, and each day's forecast uses the days before it."""
        return self

    def predict(self, problem: Problem, days: np.ndarray) -> np.ndarray:
        """The recursion run up to the day before each of ``days``."""
        return _member(ewma_variance(problem.log_returns, self.lam), days)


class GARCH:
    """GARCH(1,1), refitted before every test fold on all the returns before it, then run forward."""

    name = "garch"

    def __init__(self) -> None:
        self.fitted: GarchFit | None = None
        self.fitted_until: pd.Timestamp | None = None

    def fit(self, problem: Problem, fold: Fold) -> GARCH:
        """Fit on the returns of every day before the fold's test block.

        That is the LSTM's training and validation blocks: GARCH has no early stopping to feed,
        so it gets every return the LSTM has seen, and nothing from the test block on.
        """
        end = fold.test.start
        self.fitted = fit_garch(problem.log_returns[1:end])
        self.fitted_until = problem.series.dates[end - 1]
        return self

    def predict(self, problem: Problem, days: np.ndarray) -> np.ndarray:
        """The fitted recursion, run with the returns up to the day before each of ``days``."""
        if self.fitted is None:
            raise ConfigError("call fit() before predict()")
        g = self.fitted
        values = garch_variance(problem.log_returns, g.omega, g.alpha, g.beta, g.start)
        return _member(values, days)


class PastMean:
    """The mean of past squared returns: all of them (``mean``), or the last ``window`` (``rolling``)."""

    def __init__(self, window: int | None = None) -> None:
        self.window = window
        self.name = "mean" if window is None else "rolling"

    def fit(self, problem: Problem, fold: Fold) -> PastMean:
        """Nothing to learn: the mean is taken afresh from each forecast's own past."""
        return self

    def predict(self, problem: Problem, days: np.ndarray) -> np.ndarray:
        """The mean of the squared returns known at each origin."""
        # The drift baselines' arithmetic (the mean of past values, over all days or a window),
        # applied to squared returns instead of returns.
        window = self.window or ROLLING_DAYS
        means = base.baseline_returns(problem.log_returns**2, days, window)
        return means["drift" if self.window is None else "recent_drift"][None, :, None]


def range_variance(problem: Problem) -> np.ndarray:
    """Parkinson's (1980) variance of each day from its range, ``log(High / Low) ** 2 / (4 log 2)``.

    Unbiased for the variance of a driftless random walk over the trading day; it misses the
    move from one close to the next open, so a forecaster that uses it fits a scale to the
    close-to-close squared return.
    """
    return problem.table["log_range"].to_numpy(dtype=float) ** 2 / (4 * np.log(2))


def har_regressors(
    range_var: np.ndarray, extra: np.ndarray | None = None
) -> np.ndarray:
    """Row ``t``: 1, then the mean of ``range_var`` over the 1, 5 and 22 days before ``t``, then ``extra[t - 1]``.

    Rows without a full month before them hold NaN. One row per day of ``range_var``, plus one:
    the last row is for the day after the data.
    """
    past = pd.Series(np.r_[np.nan, np.asarray(range_var, dtype=float)])
    means = [
        past.rolling(days, min_periods=days).mean().to_numpy() for days in HAR_DAYS
    ]
    columns = [np.ones(len(past)), *means]
    if extra is not None:
        columns.append(np.r_[np.nan, np.asarray(extra, dtype=float)])
    return np.stack(columns, axis=1)


def _fit_days(problem: Problem, fold: Fold, x: np.ndarray) -> np.ndarray:
    """The days before the fold's test block whose regressors and target are defined."""
    days = np.arange(1, fold.test.start)
    usable = np.isfinite(x[days]).all(axis=1) & np.isfinite(problem.targets[days])
    return days[usable]


class HAR:
    """HAR on the range (Corsi, 2009): ``r[t] ** 2`` on the 1-, 5- and 22-day means of Parkinson's variance.

    Least squares on every day before the fold's test block (as GARCH is fitted), in levels as
    Corsi publishes it; ``volume=True`` adds yesterday's relative dollar volume (the LSTM's
    volume input) as a fourth regressor (:class:`LogHAR` uses it so). A forecast below :data:`HAR_FLOOR_SHARE` of the fitted days' mean squared
    return is raised to it; ``floored`` counts such forecasts over the walk.
    """

    def __init__(self, volume: bool = False) -> None:
        self.volume = volume
        self.name = "har_volume" if volume else "har"
        self.coefficients: np.ndarray | None = None
        self.floor = 0.0
        self.floored = 0

    def _regressors(self, problem: Problem) -> np.ndarray:
        extra = None
        if self.volume:
            if "log_dollar_volume_ratio" not in problem.table:
                raise ConfigError("HAR with volume needs a table with volumes")
            extra = problem.table["log_dollar_volume_ratio"].to_numpy(dtype=float)
        return har_regressors(range_variance(problem), extra)

    def fit(self, problem: Problem, fold: Fold) -> HAR:
        """Least squares of the squared return on the regressors, over the days before the test block."""
        x = self._regressors(problem)
        days = _fit_days(problem, fold, x)
        y = problem.targets[days]
        self.coefficients = np.linalg.lstsq(x[days], y, rcond=None)[0]
        self.floor = HAR_FLOOR_SHARE * float(y.mean())
        return self

    def predict(self, problem: Problem, days: np.ndarray) -> np.ndarray:
        """The fitted line at each day's regressors, raised to the floor."""
        if self.coefficients is None:
            raise ConfigError("call fit() before predict()")
        values = (
            self._regressors(problem)[np.asarray(days, dtype=int)] @ self.coefficients
        )
        self.floored += int((values < self.floor).sum())
        return np.maximum(values, self.floor)[None, :, None]


def fit_log_linear_qlike(
    x: np.ndarray, proxy: np.ndarray, iterations: int = 100
) -> np.ndarray:
    """The ``b`` minimising the mean QLIKE of ``h = exp(x b)`` against ``proxy``, by Newton's method.

    The loss ``mean(y exp(-x b) + x b)`` (QLIKE up to terms free of ``b``) is convex in ``b``;
    a step that does not lower it is halved. ``proxy`` is raised to :data:`PROXY_FLOOR`.
    """
    y = np.maximum(np.asarray(proxy, dtype=float), PROXY_FLOOR)
    b = np.zeros(x.shape[1])
    b[0] = np.log(y.mean())  # x's first column is the constant

    def loss(b: np.ndarray) -> float:
        z = x @ b
        return float(np.mean(y * np.exp(-z) + z))

    current = loss(b)
    for _ in range(iterations):
        w = y * np.exp(-(x @ b))
        gradient = x.T @ (1 - w) / len(y)
        hessian = (x * w[:, None]).T @ x / len(y)
        step = np.linalg.solve(hessian, gradient)
        for _ in range(30):
            trial = loss(b - step)
            if trial <= current:
                break
            step = step / 2
        b, previous, current = b - step, current, trial
        if previous - current < 1e-12:
            break
    return b


class LogHAR(HAR):
    """HAR in logs: ``h[t] = exp(b . (1, log RP_1, log RP_5, log RP_22 [, volume]))``, fitted by QLIKE.

    The regressors are the logs of :func:`har_regressors`' means (each raised to
    :data:`PROXY_FLOOR` first: a day whose high equals its low has no range); with
    ``volume=True`` yesterday's relative dollar volume, already a log, is a fourth. Fitted on
    every day before the fold's test block, as :class:`HAR`.
    """

    def __init__(self, volume: bool = False) -> None:
        super().__init__(volume)
        self.name = "har_volume" if volume else "har_log"

    def _regressors(self, problem: Problem) -> np.ndarray:
        x = super()._regressors(problem).copy()
        x[:, 1:4] = np.log(np.maximum(x[:, 1:4], PROXY_FLOOR))
        return x

    def fit(self, problem: Problem, fold: Fold) -> LogHAR:
        """QLIKE-optimal coefficients over the days before the test block."""
        x = self._regressors(problem)
        days = _fit_days(problem, fold, x)
        self.coefficients = fit_log_linear_qlike(x[days], problem.targets[days])
        return self

    def predict(self, problem: Problem, days: np.ndarray) -> np.ndarray:
        """``exp`` of the fitted line at each day's regressors."""
        if self.coefficients is None:
            raise ConfigError("call fit() before predict()")
        values = (
            self._regressors(problem)[np.asarray(days, dtype=int)] @ self.coefficients
        )
        return np.exp(values)[None, :, None]


class RangeEWMA:
    """``h[t] = k g[t]``, ``g[t] = lam g[t-1] + (1 - lam) RP[t-1]``: an EWMA of Parkinson's variance.

    On the days before each fold's test block, ``lam`` is chosen from
    :data:`RANGE_EWMA_DECAYS` and ``k`` set to ``mean(r[t] ** 2 / g[t])``, the scale that
    minimises QLIKE for that ``lam``: the pair with the lower QLIKE on those days wins.
    """

    name = "range_ewma"

    def __init__(self) -> None:
        self.lam: float | None = None
        self.scale = 1.0

    @staticmethod
    def _smoothed(problem: Problem, lam: float) -> np.ndarray:
        rp = range_variance(problem)
        first = int(np.argmax(np.isfinite(rp)))
        out = np.full(len(rp) + 1, np.nan)
        out[first + 1 :] = _recursion(rp[first], lam, (1 - lam) * rp[first + 1 :])
        return out

    def fit(self, problem: Problem, fold: Fold) -> RangeEWMA:
        """Choose the decay and the scale by QLIKE on the days before the test block."""
        days = np.arange(problem.first_day, fold.test.start)
        proxy = np.maximum(problem.targets[days], PROXY_FLOOR)
        best = None
        for lam in RANGE_EWMA_DECAYS:
            g = self._smoothed(problem, float(lam))[days]
            k = float(np.mean(proxy / g))
            loss = float(np.mean(proxy / (k * g) - np.log(proxy / (k * g))))
            if best is None or loss < best[0]:
                best = (loss, float(lam), k)
        _, self.lam, self.scale = best
        return self

    def predict(self, problem: Problem, days: np.ndarray) -> np.ndarray:
        """The scaled average of the ranges before each of ``days``."""
        if self.lam is None:
            raise ConfigError("call fit() before predict()")
        return _member(self.scale * self._smoothed(problem, self.lam), days)


def variance_forecasters(
    train: TrainConfig,
    *,
    seeds: int,
    device: object,
    warm_start: bool = True,
    progress: bool | None = None,
    has_volume: bool = True,
    models: Sequence[str] | None = None,
) -> dict[str, Forecaster]:
    """The variance LSTM and the baselines, keyed by name (``models``: only those, in that order).

    ``har_volume`` is left out when the table has no volumes.
    """
    makers = {
        "lstm": lambda: LSTMVarianceForecaster(
            train, seeds=seeds, device=device, warm_start=warm_start, progress=progress
        ),
        "garch": GARCH,
        "ewma": EWMA,
        "rolling": lambda: PastMean(ROLLING_DAYS),
        "mean": PastMean,
        "range_ewma": RangeEWMA,
        "har": HAR,
        "har_log": LogHAR,
        "har_volume": lambda: LogHAR(volume=True),
    }
    if not has_volume:
        makers.pop("har_volume")
    names = list(makers) if models is None else list(models)
    unknown = [name for name in names if name not in makers]
    if unknown or not names:
        raise ConfigError(f"models must be some of {list(makers)}, got {names}")
    return {name: makers[name]() for name in names}


@dataclass
class VarianceResult:
    """Test-day variance forecasts of the LSTM (per seed) and the baselines, with the proxy ``r ** 2``."""

    ticker: str | None
    price_column: str
    features: list[str]
    config: BacktestConfig
    notes: tuple[str, ...]
    dates: pd.DatetimeIndex
    actual: np.ndarray  # the proxy: each test day's squared log return
    seed_forecasts: np.ndarray  # (seeds, days)
    baselines: dict[str, np.ndarray]
    folds: list[FoldRecord]
    garch_fits: list[GarchFit]  # one per fold

    target = VARIANCE

    @property
    def forecasts(self) -> dict[str, np.ndarray]:
        """Every model's variance forecast, the LSTM's averaged over seeds."""
        return {"lstm": self.seed_forecasts.mean(axis=0), **self.baselines}

    def metrics(self) -> pd.DataFrame:
        """MSE and mean QLIKE of every model against the squared return."""
        return evaluate_variance(self.actual, self.forecasts)

    def seed_metrics(self) -> pd.DataFrame:
        """MSE and mean QLIKE of each seed's LSTM on its own."""
        table = evaluate_variance(self.actual, dict(enumerate(self.seed_forecasts)))
        return table.rename_axis("seed")

    def calibration(self) -> pd.DataFrame:
        """Bias ratio and Mincer-Zarnowitz fit of every model (:func:`variance_calibration`)."""
        return variance_calibration(self.actual, self.forecasts)

    def diebold_mariano(self, benchmark: str = BENCHMARK) -> DieboldMariano:
        """Diebold-Mariano test of the seed-averaged LSTM against a baseline (GARCH), on QLIKE."""
        if benchmark not in self.baselines:
            raise ConfigError(
                f"benchmark must be one of {sorted(self.baselines)}, got {benchmark!r}"
            )
        return qlike_test(
            self.actual, self.forecasts["lstm"], self.baselines[benchmark]
        )

    def floored_days(self) -> int:
        """How many test days have a proxy below :data:`PROXY_FLOOR` (a day without a move)."""
        return int((self.actual < PROXY_FLOOR).sum())

    def predictions(self) -> pd.DataFrame:
        """One row per test day: Date, the squared return and each model's variance forecast."""
        frame = pd.DataFrame({"Date": self.dates, "squared_return": self.actual})
        for name, forecast in self.forecasts.items():
            frame[name] = forecast
        return frame


def variance_walk_forward(
    data: pd.DataFrame | PriceSeries,
    config: BacktestConfig | None = None,
    *,
    ticker: str | None = None,
    progress: bool | None = None,
    features: Sequence[str] | None = None,
    models: Sequence[str] | None = None,
) -> VarianceResult:
    """Walk forward over the test days, forecasting each day's variance once with every model.

    The folds are those of :func:`lstm_study.forecast.backtest.walk_forward`: on each, the LSTM is
    refitted on the training block (stopping early on the validation block), GARCH, HAR and the
    range EWMA on both, and then every model forecasts the fold's test days from the data
    before each day. ``features`` chooses the LSTM's inputs among the variance features
    (default: :func:`~lstm_study.forecast.features.feature_columns`), for an ablation;
    ``models`` runs only some of the models (default: all; ``"lstm"`` must be one of them).
    """
    config = config or BacktestConfig(target=VARIANCE)
    if config.target != VARIANCE:
        raise ConfigError(
            f"variance_walk_forward needs target='variance', got {config.target!r}; "
            "the other targets run through walk_forward"
        )
    series = (
        data if isinstance(data, PriceSeries) else prepare_prices(data, ticker=ticker)
    )
    device = resolve_device(config.device)
    problem = make_problem(series, config)
    if features is not None:
        known = [c for c in problem.table.columns if c != "target"]
        if not features or not set(features) <= set(known):
            raise ConfigError(f"features must be some of {known}, got {list(features)}")
        problem = replace(problem, columns=list(features))
    if models is not None and "lstm" not in models:
        raise ConfigError(f"models must include 'lstm', got {list(models)}")
    n, first_day, dates = len(series), problem.first_day, series.dates
    test_start = _test_start_index(dates, config)
    _check_length(n, first_day, test_start, config, dates)
    if not (problem.targets[1 : test_start - config.validation_days] > 0).any():
        raise InsufficientDataError(
            "the price never moves before the test: there is no variance to learn from"
        )
    forecasters = variance_forecasters(
        config.train,
        seeds=config.seeds,
        device=device,
        warm_start=config.warm_start,
        progress=progress,
        has_volume=series.volume is not None,
        models=models,
    )
    folds = walk_forward_folds(
        first_day,
        test_start,
        n,
        retrain_every=config.retrain_every,
        validation_days=config.validation_days,
    )
    rows = n - test_start
    members = {
        name: np.full((config.seeds if name == "lstm" else 1, rows), np.nan)
        for name in forecasters
    }
    records, fits = [], []
    bar = tqdm(
        list(folds),
        desc=f"{series.ticker or 'series'} variance folds",
        disable=None if progress is None else not progress,
    )
    for fold in bar:
        where = slice(fold.test.start - test_start, fold.test.stop - test_start)
        for name, model in forecasters.items():
            forecast = model.fit(problem, fold).predict(problem, np.array(fold.test))
            members[name][:, where] = forecast[..., 0]
        records.append(fold_record(fold, dates, forecasters["lstm"]))
        if BENCHMARK in forecasters:
            fits.append(forecasters[BENCHMARK].fitted)
    bar.close()
    notes = series.notes
    failed = [k for k, fit in enumerate(fits) if not fit.converged]
    if failed:
        notes += (
            f"the GARCH fit did not converge on fold(s) {failed}: its forecasts there use "
            "the optimiser's last parameters",
        )
    for name, model in forecasters.items():
        if getattr(model, "floored", 0):
            notes += (
                f"{name}: {model.floored} forecast(s) below {HAR_FLOOR_SHARE:g} times the "
                "mean squared return of the days it was fitted on were raised to that floor",
            )
    days = np.arange(test_start, n)
    return VarianceResult(
        ticker=series.ticker,
        price_column=series.price_column,
        features=problem.columns,
        config=config,
        notes=notes,
        dates=dates[days],
        actual=problem.targets[days],
        seed_forecasts=members["lstm"],
        baselines={name: v[0] for name, v in members.items() if name != "lstm"},
        folds=records,
        garch_fits=fits,
    )
