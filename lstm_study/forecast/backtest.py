"""Walk-forward evaluation: expanding training window, periodic retraining, each test day forecast once.

For a fold whose test days start at day ``s``::

    [ training block ............ ][ validation block ][ test fold: s .. s + retrain_every - 1 ]
    first window              s - validation_days    s

The scaler is fitted on the training block, early stopping watches the validation block, and
the model then forecasts the fold's test days with inputs that end the day before each. The next
fold moves ``s`` on by ``retrain_every`` days and refits everything on the longer history. Model
size, epochs and cadence are fixed before the run: the test period is never used for a choice.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd
from tqdm import tqdm

from lstm_study.dates import parse_day
from lstm_study.errors import ConfigError, InsufficientDataError, check_int
from lstm_study.forecast import baselines as base
from lstm_study.forecast.metrics import (
    DieboldMariano,
    DirectionalTest,
    diebold_mariano,
    directional_test,
    evaluate,
    naive_scale,
    up_share,
)
from lstm_study.forecast.model import TrainConfig, fit, predict
from lstm_study.forecast.scaling import FoldScaler
from lstm_study.forecast.windows import (
    PriceSeries,
    check_target,
    feature_columns,
    first_complete_row,
    make_features,
    make_windows,
    prepare_prices,
)
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

    def __post_init__(self) -> None:
        check_target(self.target)
        for name in ("lookback", "test_days", "retrain_every", "validation_days", "min_train_days", "seeds"):
            # upper bounds: absurd values are refused before they exhaust memory (100 seeds is plenty)
            check_int(name, getattr(self, name), maximum=100 if name == "seeds" else 100_000)


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


@dataclass
class BacktestResult:
    """Test-day forecasts of the LSTM (per seed) and the baselines, with what is needed to score them."""

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
        return evaluate(self.actual, self.forecasts, scale=self.scale, reference=self.reference)

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
        return diebold_mariano(self.actual, self.forecasts["lstm"], self.baselines["random_walk"])

    def directional_test(self) -> DirectionalTest:
        """The LSTM's directional accuracy against the better constant call, with its binomial p-value."""
        return directional_test(self.actual, self.forecasts["lstm"], self.reference)

    def up_day_share(self) -> float:
        """Share of test days that went up: what a constant 'up' call scores in directional accuracy."""
        return up_share(self.actual, self.reference)

    def predictions(self) -> pd.DataFrame:
        """One row per test day: Date, actual and each model's forecast, on the target's scale."""
        frame = pd.DataFrame({"Date": self.dates, "actual": self.actual})
        for name, forecast in self.forecasts.items():
            frame[name] = forecast
        return frame


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


def _check_length(n: int, first_day: int, test_start: int, config: BacktestConfig, dates: pd.DatetimeIndex) -> None:
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
        earliest = f"on or after {dates[needed_before].date()}" if needed_before < n - 1 else "later"
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


def walk_forward(
    data: pd.DataFrame | PriceSeries,
    config: BacktestConfig | None = None,
    *,
    ticker: str | None = None,
    progress: bool | None = None,
) -> BacktestResult:
    """Run the walk-forward backtest of the LSTM and the baselines on one ticker's price table."""
    config = config or BacktestConfig()
    series = data if isinstance(data, PriceSeries) else prepare_prices(data, ticker=ticker)
    device = resolve_device(config.device)
    columns = feature_columns(config.target, series.volume is not None)
    table = make_features(series, config.target)
    features = table[columns].to_numpy(dtype=float)
    targets = table["target"].to_numpy(dtype=float)
    n = len(series)
    first_day = first_complete_row(table) + config.lookback
    test_start = _test_start_index(series.dates, config)
    _check_length(n, first_day, test_start, config, series.dates)

    fold_starts = list(range(test_start, n, config.retrain_every))
    seed_forecasts = np.full((config.seeds, n - test_start), np.nan)
    folds: list[FoldRecord] = []
    states: list[dict | None] = [None] * config.seeds
    bar = tqdm(fold_starts, desc=f"{series.ticker or 'series'} folds", disable=None if progress is None else not progress)
    for k, start in enumerate(bar):
        end = min(start + config.retrain_every, n)
        validation_start = start - config.validation_days
        train_days = np.arange(first_day, validation_start)
        validation_days = np.arange(validation_start, start)
        test_days = np.arange(start, end)
        # Fitted on the training block only: rows before validation_start.
        x_scaler = FoldScaler().fit(table[columns].iloc[first_day - config.lookback : validation_start])
        y_scaler = FoldScaler().fit(table[["target"]].iloc[train_days])
        scaled = x_scaler.transform(features)
        scaled_targets = y_scaler.transform(targets[:, None])[:, 0]
        x_train, y_train = make_windows(scaled, scaled_targets, train_days, config.lookback)
        x_val, y_val = make_windows(scaled, scaled_targets, validation_days, config.lookback)
        x_test, _ = make_windows(scaled, scaled_targets, test_days, config.lookback)
        best_epochs = []
        for seed in range(config.seeds):
            model, history = fit(
                x_train, y_train, x_val, y_val, config.train,
                seed=10_000 * seed + k, device=device, progress=progress,
                description=f"fold {k + 1}/{len(fold_starts)} seed {seed}",
                initial_state=states[seed],
            )
            if config.warm_start:
                states[seed] = model.state_dict()
            prediction = y_scaler.inverse_transform(predict(model, x_test, device)[:, None])[:, 0]
            seed_forecasts[seed, start - test_start : end - test_start] = prediction
            best_epochs.append(history.best_epoch)
        dates = series.dates
        folds.append(
            FoldRecord(
                fold=k,
                train_start=dates[train_days[0]],
                train_end=dates[train_days[-1]],
                validation_start=dates[validation_days[0]],
                validation_end=dates[validation_days[-1]],
                test_start=dates[start],
                test_end=dates[end - 1],
                scaler_fitted_until=max(x_scaler.fitted_until, y_scaler.fitted_until),
                n_train=len(train_days),
                best_epochs=tuple(best_epochs),
            )
        )
    bar.close()
    if np.isnan(seed_forecasts).any():  # every test day must be forecast exactly once
        raise RuntimeError("walk-forward left a test day without a forecast")

    days = np.arange(test_start, n)
    log_returns = np.r_[np.nan, np.diff(np.log(series.price))]
    baseline = base.baseline_returns(log_returns, days, config.recent_drift_days)
    previous_price = series.price[days - 1]
    if config.target == "price":
        baseline = {name: base.to_price(value, previous_price) for name, value in baseline.items()}
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
        features=columns,
        config=config,
        notes=notes,
        dates=series.dates[days],
        actual=targets[days],
        previous_price=previous_price,
        seed_forecasts=seed_forecasts,
        baselines=baseline,
        scale=naive_scale(targets[:test_start]),
        folds=folds,
    )


def config_dict(config: BacktestConfig) -> dict:
    """Return the configuration as plain JSON-ready values."""
    out = asdict(config)
    out["test_start"] = None if config.test_start is None else str(pd.Timestamp(config.test_start).date())
    return out
