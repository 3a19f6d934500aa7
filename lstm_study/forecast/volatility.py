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
BASELINES = ("garch", "ewma", "rolling", "mean")
BENCHMARK = "garch"


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


def variance_calibration(
    proxy: np.ndarray, forecasts: Mapping[str, np.ndarray]
) -> pd.DataFrame:
    """Per model: the bias ratio (mean forecast / mean proxy) and the Mincer-Zarnowitz fit.

    The Mincer-Zarnowitz regression ``r2[t] = a + b h[t] + e[t]`` has ``a = 0, b = 1`` for a
    forecast that is right on average at every level; ``b > 1`` means the proxy moves more than
    the forecast does, a forecast too timid.
    """
    rows = {}
    for name, forecast in forecasts.items():
        p, h = _variance_pair(proxy, forecast)
        slope, intercept = np.polyfit(h, p, 1)
        rows[name] = {
            "bias": float(h.mean() / p.mean()),
            "mz_intercept": float(intercept),
            "mz_slope": float(slope),
        }
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis("model")


def qlike_test(
    proxy: np.ndarray, forecast: np.ndarray, benchmark: np.ndarray
) -> DieboldMariano:
    """Diebold-Mariano test of equal mean QLIKE; a negative statistic favours ``forecast``."""
    return diebold_mariano(proxy, forecast, benchmark, loss=qlike)


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


def variance_forecasters(
    train: TrainConfig,
    *,
    seeds: int,
    device: object,
    warm_start: bool = True,
    progress: bool | None = None,
) -> dict[str, Forecaster]:
    """The variance LSTM and the four baselines, keyed by name."""
    lstm = LSTMVarianceForecaster(
        train, seeds=seeds, device=device, warm_start=warm_start, progress=progress
    )
    models = [lstm, GARCH(), EWMA(), PastMean(ROLLING_DAYS), PastMean()]
    return {model.name: model for model in models}


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
) -> VarianceResult:
    """Walk forward over the test days, forecasting each day's variance once with every model.

    The folds are those of :func:`lstm_study.forecast.backtest.walk_forward`: on each, the LSTM is
    refitted on the training block (stopping early on the validation block) and GARCH on both,
    and then every model forecasts the fold's test days from the data before each day.
    ``features`` chooses the LSTM's inputs among the variance features (default: all of them),
    for an ablation.
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
        if not features or not set(features) <= set(problem.columns):
            raise ConfigError(
                f"features must be some of {problem.columns}, got {list(features)}"
            )
        problem = replace(problem, columns=list(features))
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
        fits.append(forecasters[BENCHMARK].fitted)
    bar.close()
    notes = series.notes
    failed = [k for k, fit in enumerate(fits) if not fit.converged]
    if failed:
        notes += (
            f"the GARCH fit did not converge on fold(s) {failed}: its forecasts there use "
            "the optimiser's last parameters",
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
