"""Walk-forward evaluation: expanding training window, periodic retraining, each test day forecast once.

For a fold whose test days start at day ``s``::

    [ training block ............ ][ validation block ][ test fold: s .. s + retrain_every - 1 ]
    first window              s - validation_days    s

The folds come from :func:`lstm_study.forecast.folds.walk_forward_folds`; in each, every
forecaster (the LSTM and the baselines, one protocol: :mod:`lstm_study.forecast.forecasters`) is
fitted, forecasts the validation block (whose errors calibrate its intervals,
:mod:`lstm_study.forecast.intervals`) and then the fold's test days, ``horizon`` steps ahead from
the close of the day before each. The next fold moves ``s`` on by ``retrain_every`` days and
refits everything on the longer history. Model size, epochs and cadence are fixed before the
run: the test period is never used for a choice. Scoring lives in
:mod:`lstm_study.forecast.metrics`; the result holds forecasts.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd
from tqdm import tqdm

from lstm_study.dates import parse_day
from lstm_study.errors import ConfigError, InsufficientDataError, check_int, shorten
from lstm_study.forecast import baselines as base
from lstm_study.forecast.features import (
    check_target,
    feature_columns,
    first_complete_row,
    make_features,
)
from lstm_study.forecast.folds import Fold, walk_forward_folds
from lstm_study.forecast.forecasters import STRATEGIES, Problem, standard_forecasters
from lstm_study.forecast.intervals import (
    DEFAULT_LEVELS,
    MAX_HORIZON,
    check_levels,
    check_rule,
    error_quantiles,
    intervals,
    level_name,
)
from lstm_study.forecast.metrics import (
    DieboldMariano,
    DirectionalTest,
    PesaranTimmermann,
    diebold_mariano,
    directional_test,
    evaluate,
    evaluate_by_step,
    interval_scores,
    naive_scale,
    pesaran_timmermann,
    up_share,
)
from lstm_study.forecast.model import TrainConfig
from lstm_study.forecast.validate import PriceSeries, prepare_prices
from lstm_study.runtime import resolve_device


@dataclass(frozen=True)
class BacktestConfig:
    """Everything that defines a walk-forward run; ``test_start=None`` means the last ``test_days`` days."""

    target: str = "log-return"
    lookback: int = 10
    test_start: str | pd.Timestamp | None = None
    test_days: int = 252
    retrain_every: int = 21
    validation_days: int = 126
    min_train_days: int = 252
    seeds: int = 3
    recent_drift_days: int = base.RECENT_DRIFT_DAYS
    device: str = "auto"
    warm_start: bool = True
    train: TrainConfig = field(default_factory=TrainConfig)
    horizon: int = 1
    levels: tuple[float, ...] = DEFAULT_LEVELS
    strategy: str = "direct"
    #: added to every LSTM training seed (10_000 * seed + fold index): 0 in the book's
    #: walks; the tuning search sets it from the ticker, so that its tickers do not share
    #: initialisations (:func:`lstm_study.forecast.tuning.ticker_seed_offset`)
    seed_offset: int = 0

    def __post_init__(self) -> None:
        check_target(self.target)
        check_int("seed_offset", self.seed_offset, minimum=0, maximum=2**62)
        if self.target == "variance" and self.seed_offset:
            raise ConfigError(
                "seed_offset is used by the return walk-forward only: the variance "
                f"target's seeds are fixed, got seed_offset={self.seed_offset}"
            )
        horizon = self.horizon
        whole = isinstance(horizon, int) and not isinstance(horizon, bool)
        if not whole or not 1 <= horizon <= MAX_HORIZON:
            raise ConfigError(
                f"horizon must be a whole number of trading days from 1 to {MAX_HORIZON}, "
                f"got {shorten(horizon)}"
            )
        if self.target == "variance" and horizon != 1:
            raise ConfigError(
                f"the variance target forecasts one day ahead: horizon must be 1, got {horizon}"
            )
        object.__setattr__(self, "levels", check_levels(self.levels))
        if self.strategy not in STRATEGIES:
            raise ConfigError(
                f"strategy must be one of {STRATEGIES}, got {self.strategy!r}"
            )
        for name in (
            "lookback",
            "test_days",
            "retrain_every",
            "validation_days",
            "min_train_days",
            "seeds",
        ):
            # upper bounds: absurd values are refused before they exhaust memory (100 seeds is plenty)
            check_int(
                name, getattr(self, name), maximum=100 if name == "seeds" else 100_000
            )
        if self.validation_days < self.horizon or self.min_train_days < self.horizon:
            raise ConfigError(
                f"validation_days ({self.validation_days}) and min_train_days "
                f"({self.min_train_days}) must each be at least the horizon ({self.horizon})"
            )


@dataclass(frozen=True)
class FoldRecord:
    """Where one fold's blocks lie, what the scaler saw, and where early stopping settled per seed."""

    fold: int
    train_start: pd.Timestamp
    train_end: pd.Timestamp
    validation_start: pd.Timestamp
    validation_end: pd.Timestamp
    test_start: pd.Timestamp
    test_end: pd.Timestamp
    scaler_fitted_until: pd.Timestamp
    n_train: int
    best_epochs: tuple[int, ...]


def fold_record(fold: Fold, dates: pd.DatetimeIndex, lstm: object) -> FoldRecord:
    """Record where a fold's blocks lie and what its fitted LSTM (scaler, early stopping) saw."""
    return FoldRecord(
        fold=fold.index,
        train_start=dates[fold.train.start],
        train_end=dates[fold.train.stop - 1],
        validation_start=dates[fold.validation.start],
        validation_end=dates[fold.test.start - 1],
        test_start=dates[fold.test.start],
        test_end=dates[fold.test.stop - 1],
        scaler_fitted_until=lstm.fitted_until,
        n_train=len(fold.train),
        best_epochs=lstm.best_epochs,
    )


@dataclass
class BacktestResult:
    """Test-day forecasts of the LSTM (per seed) and the baselines, with what is needed to score them.

    ``actual``, ``seed_forecasts`` and ``baselines`` are the one-step forecasts, on the target's
    scale; ``step_actual`` and ``step_forecasts`` hold every step up to ``horizon`` as the value
    reached from the forecast's origin (the cumulative log return, or the price), NaN where the
    data end first; ``bounds[model][level]`` are their (2, days, steps) prediction intervals.
    ``future`` holds the forecast of the days after the data, when it was asked for.
    ``seed_step_forecasts`` holds each seed's LSTM forecast of every step (seeds, days, steps);
    ``calibration[model]`` each fold's validation errors (days, steps) and the test rows they
    calibrate, from which :meth:`interval_bounds` makes the intervals under either rule.
    """

    ticker: str | None
    target: str
    price_column: str
    features: list[str]
    config: BacktestConfig
    notes: tuple[str, ...]
    dates: pd.DatetimeIndex
    actual: np.ndarray
    previous_price: np.ndarray
    seed_forecasts: np.ndarray
    baselines: dict[str, np.ndarray]
    scale: float
    folds: list[FoldRecord]
    step_actual: np.ndarray | None = None
    step_forecasts: dict[str, np.ndarray] = field(default_factory=dict)
    bounds: dict[str, dict[float, np.ndarray]] = field(default_factory=dict)
    future: FutureForecast | None = None
    seed_step_forecasts: np.ndarray | None = None
    calibration: dict[str, list[tuple[slice, np.ndarray]]] = field(default_factory=dict)

    @property
    def horizon(self) -> int:
        """How many steps ahead each day was forecast."""
        return self.config.horizon

    @property
    def forecasts(self) -> dict[str, np.ndarray]:
        """Every model's forecast, the LSTM's averaged over seeds."""
        return {"lstm": self.seed_forecasts.mean(axis=0), **self.baselines}

    @property
    def reference(self) -> np.ndarray | float:
        """What a move is measured from: 0 for returns, yesterday's price for prices."""
        return 0.0 if self.target == "log-return" else self.previous_price

    def metrics(self) -> pd.DataFrame:
        """MAE, RMSE, MASE, RMSE ratio to the random walk and directional accuracy per model."""
        return evaluate(
            self.actual, self.forecasts, scale=self.scale, reference=self.reference
        )

    def seed_metrics(self) -> pd.DataFrame:
        """The same metrics for each seed's LSTM on its own: the spread due to initialisation."""
        rows = []
        for seed, forecast in enumerate(self.seed_forecasts):
            table = evaluate(
                self.actual,
                {"lstm": forecast, "random_walk": self.baselines["random_walk"]},
                scale=self.scale,
                reference=self.reference,
            )
            rows.append(table.loc["lstm"].rename(seed))
        return pd.DataFrame(rows).rename_axis("seed")

    def diebold_mariano(self) -> DieboldMariano:
        """Diebold-Mariano test of the seed-averaged LSTM against the random walk (squared error)."""
        return diebold_mariano(
            self.actual, self.forecasts["lstm"], self.baselines["random_walk"]
        )

    def directional_test(self) -> DirectionalTest:
        """The LSTM's directional accuracy against the better constant call, with its binomial p-value."""
        return directional_test(self.actual, self.forecasts["lstm"], self.reference)

    def pesaran_timmermann(self) -> PesaranTimmermann:
        """Pesaran-Timmermann test of the seed-averaged LSTM's up/down calls."""
        return pesaran_timmermann(self.actual, self.forecasts["lstm"], self.reference)

    def up_day_share(self) -> float:
        """Share of test days that went up: what a constant 'up' call scores in directional accuracy."""
        return up_share(self.actual, self.reference)

    def interval_bounds(self, model: str, rule: str) -> dict[float, np.ndarray]:
        """The test days' (2, days, steps) bounds per level of ``model``, made by ``rule``."""
        check_rule(rule)
        steps = self.step_forecasts[model]
        out = {
            level: np.full((2, *steps.shape), np.nan) for level in self.config.levels
        }
        for rows, errors in self.calibration[model]:
            fold = intervals(
                steps[rows], error_quantiles(errors, self.config.levels, rule)
            )
            for level, values in fold.items():
                out[level][:, rows] = values
        return out

    def by_step(self, rule: str | None = None) -> pd.DataFrame:
        """Per step: RMSEs, the LSTM's ratio to the random walk, Diebold-Mariano, intervals.

        The intervals are those of the walk (the finite-sample conformal rule), or, with
        ``rule``, remade from the same validation errors by that rule.
        """
        table = evaluate_by_step(self.step_actual, self.step_forecasts)
        for model, prefix in (("lstm", ""), ("random_walk", "random_walk_")):
            made = (
                self.bounds[model]
                if rule is None
                else self.interval_bounds(model, rule)
            )
            for level, bounds in made.items():
                scores = interval_scores(self.step_actual, bounds)
                table[f"{prefix}coverage_{level_name(level)}"] = scores["coverage"]
                table[f"{prefix}width_{level_name(level)}"] = scores["width"]
        return table

    def predictions(self) -> pd.DataFrame:
        """One row per test day: Date, actual and each model's forecast, on the target's scale."""
        frame = pd.DataFrame({"Date": self.dates, "actual": self.actual})
        for name, forecast in self.forecasts.items():
            frame[name] = forecast
        return frame


@dataclass(frozen=True)
class FutureForecast:
    """The forecast of the ``horizon`` days after the data, from a model fitted on all of it.

    ``forecasts[model]`` is (steps,) and ``bounds[model][level]`` (2, steps), as the cumulative
    log return from the last close or as the price (the target's scale of ``step_forecasts``).
    """

    forecasts: dict[str, np.ndarray]
    bounds: dict[str, dict[float, np.ndarray]]
    validation_start: pd.Timestamp
    best_epochs: tuple[int, ...]
    last_close: float  # the price column's last value, which the forecasts start from


def _test_start_index(dates: pd.DatetimeIndex, config: BacktestConfig) -> int:
    """Return the index of the first test day, checking the date lies inside the data."""
    if config.test_start is None:
        return len(dates) - config.test_days
    start = parse_day(config.test_start, "test start", ConfigError)
    first, last = dates[0], dates[-1]
    if not first <= start <= last:
        raise ConfigError(
            f"test start {start.date()} lies outside the data ({first.date()} to {last.date()}); "
            "choose a date inside that range"
        )
    return int(dates.searchsorted(start, side="left"))


def _check_length(
    n: int,
    first_day: int,
    test_start: int,
    config: BacktestConfig,
    dates: pd.DatetimeIndex,
) -> None:
    """Refuse a series too short for the lookback window, the training and validation blocks and a test."""
    needed_before = first_day + config.min_train_days + config.validation_days
    blocks = (
        f"{first_day} days to fill the features and a {config.lookback}-day lookback, "
        f"{config.min_train_days} training days and {config.validation_days} validation days"
    )
    if config.test_start is None and test_start < needed_before:
        raise InsufficientDataError(
            f"the series has {n} days ({dates[0].date()} to {dates[-1].date()}), but needs {blocks} "
            f"before the test, and the last {config.test_days} days to test: at least "
            f"{needed_before + config.test_days} days. Use a longer series or a smaller --lookback"
        )
    if test_start < needed_before:
        earliest = (
            f"on or after {dates[needed_before].date()}"
            if needed_before < n - 1
            else "later"
        )
        raise InsufficientDataError(
            f"the test start {dates[test_start].date()} is day {test_start} of the series, but {blocks} "
            f"must come before it ({needed_before} days); choose a test start {earliest}, "
            "or a smaller --lookback"
        )
    if n - test_start < 2:
        raise InsufficientDataError(
            f"the test start {dates[test_start].date()} leaves {n - test_start} test day(s); at least 2 are "
            f"needed: choose a test start on or before {dates[n - 2].date()}"
        )


def make_problem(series: PriceSeries, config: BacktestConfig) -> Problem:
    """Build the features and targets every forecaster sees, from a validated series."""
    columns = feature_columns(config.target, series.volume is not None)
    table = make_features(series, config.target)
    first_day = first_complete_row(table) + config.lookback
    return Problem(
        series,
        config.target,
        columns,
        table,
        config.lookback,
        config.horizon,
        first_day,
    )


def to_steps(problem: Problem, per_step: np.ndarray) -> np.ndarray:
    """Turn per-step forecasts into values reached from the origin: cumulative returns, or prices."""
    return np.cumsum(per_step, axis=-1) if problem.target == "log-return" else per_step


def step_actual(problem: Problem, days: np.ndarray, until: int) -> np.ndarray:
    """The actual value of each step from the close before each day; NaN from day ``until`` on."""
    reached = np.asarray(days, dtype=int)[:, None] + np.arange(problem.horizon)
    known = reached < until
    safe = np.where(known, reached, 0)
    if problem.target == "log-return":
        log_price = np.log(problem.series.price)
        values = log_price[safe] - log_price[np.asarray(days) - 1][:, None]
    else:
        values = problem.series.price[safe]
    return np.where(known, values, np.nan)


def _fold_forecasts(
    problem: Problem, forecasters: dict, fold: Fold, levels: tuple[float, ...]
):
    """Fit each forecaster on the fold; return its members' test forecasts, interval bounds
    and validation errors."""
    test_days = np.array(fold.test)
    calibration_days = np.arange(fold.validation.start, fold.test.start)
    calibration_actual = step_actual(problem, calibration_days, until=fold.test.start)
    members, bounds, errors = {}, {}, {}
    for name, model in forecasters.items():
        model.fit(problem, fold)
        members[name] = model.predict(problem, test_days)
        calibration = to_steps(
            problem, model.predict(problem, calibration_days).mean(axis=0)
        )
        errors[name] = calibration_actual - calibration
        bounds[name] = intervals(
            to_steps(problem, members[name].mean(axis=0)),
            error_quantiles(errors[name], levels),
        )
    return members, bounds, errors


def walk_forward(
    data: pd.DataFrame | PriceSeries,
    config: BacktestConfig | None = None,
    *,
    ticker: str | None = None,
    progress: bool | None = None,
    future: bool = False,
) -> BacktestResult:
    """Run the walk-forward backtest of the LSTM and the baselines on one ticker's price table.

    With ``future=True`` the forecasters are fitted once more on all the data and forecast the
    ``horizon`` days after it (``result.future``).
    """
    config = config or BacktestConfig()
    if config.target == "variance":
        raise ConfigError(
            "the variance target has its own walk-forward and scores: "
            "lstm_study.forecast.volatility.variance_walk_forward"
        )
    series = (
        data if isinstance(data, PriceSeries) else prepare_prices(data, ticker=ticker)
    )
    device = resolve_device(config.device)
    problem = make_problem(series, config)
    n, first_day, dates = len(series), problem.first_day, series.dates
    test_start = _test_start_index(dates, config)
    _check_length(n, first_day, test_start, config, dates)

    forecasters = standard_forecasters(
        config.train,
        seeds=config.seeds,
        seed_offset=config.seed_offset,
        device=device,
        warm_start=config.warm_start,
        strategy=config.strategy,
        recent_drift_days=config.recent_drift_days,
        progress=progress,
    )
    folds = list(
        walk_forward_folds(
            first_day,
            test_start,
            n,
            retrain_every=config.retrain_every,
            validation_days=config.validation_days,
            horizon=config.horizon,
            future=future,
        )
    )
    rows, steps = n - test_start, config.horizon
    members = {name: None for name in forecasters}
    bounds = {
        name: {level: np.full((2, rows, steps), np.nan) for level in config.levels}
        for name in forecasters
    }
    records: list[FoldRecord] = []
    calibration: dict[str, list] = {name: [] for name in forecasters}
    next_days = None
    lstm = forecasters["lstm"]
    bar = tqdm(
        folds,
        desc=f"{series.ticker or 'series'} folds",
        disable=None if progress is None else not progress,
    )
    for fold in bar:
        fold_members, fold_bounds, fold_errors = _fold_forecasts(
            problem, forecasters, fold, config.levels
        )
        if fold.future:
            next_days = FutureForecast(
                forecasts={
                    k: to_steps(problem, v.mean(axis=0))[0]
                    for k, v in fold_members.items()
                },
                bounds={
                    k: {lv: b[:, 0] for lv, b in v.items()}
                    for k, v in fold_bounds.items()
                },
                validation_start=dates[fold.validation.start],
                best_epochs=lstm.best_epochs,
                last_close=float(series.price[-1]),
            )
            continue
        where = slice(fold.test.start - test_start, fold.test.stop - test_start)
        for name, values in fold_members.items():
            if members[name] is None:
                members[name] = np.full((len(values), rows, steps), np.nan)
            members[name][:, where] = values
            for level, fold_level in fold_bounds[name].items():
                bounds[name][level][:, where] = fold_level
            calibration[name].append((where, fold_errors[name]))
        records.append(fold_record(fold, dates, lstm))
    bar.close()
    if any(np.isnan(values).any() for values in members.values()):
        raise RuntimeError("walk-forward left a test day without a forecast")

    days = np.arange(test_start, n)
    previous_price = series.price[days - 1]
    notes = series.notes
    if np.all(series.price[days] == previous_price):
        notes += (
            "the price never moves during the test period: the random walk is exact, so ratios to it are "
            "undefined (NaN) or infinite and the Diebold-Mariano test says nothing useful",
        )
    return BacktestResult(
        ticker=series.ticker,
        target=config.target,
        price_column=series.price_column,
        features=problem.columns,
        config=config,
        notes=notes,
        dates=dates[days],
        actual=problem.targets[days],
        previous_price=previous_price,
        seed_forecasts=members["lstm"][:, :, 0],
        baselines={
            name: values[0, :, 0] for name, values in members.items() if name != "lstm"
        },
        scale=naive_scale(problem.targets[:test_start]),
        folds=records,
        step_actual=step_actual(problem, days, until=n),
        step_forecasts={
            name: to_steps(problem, v.mean(axis=0)) for name, v in members.items()
        },
        bounds=bounds,
        future=next_days,
        seed_step_forecasts=to_steps(problem, members["lstm"]),
        calibration=calibration,
    )


def config_dict(config: BacktestConfig) -> dict:
    """Return the configuration as plain JSON-ready values."""
    out = asdict(config)
    out["test_start"] = (
        None
        if config.test_start is None
        else str(parse_day(config.test_start, "test start", ConfigError).date())
    )
    out["levels"] = list(config.levels)
    if not config.seed_offset:
        # the default is left out, so that results committed before the field existed
        # still state the settings they ran with
        del out["seed_offset"]
    return out
