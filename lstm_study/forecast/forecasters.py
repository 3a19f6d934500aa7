"""Every model behind one protocol: fit on a fold's history, predict the next steps from given days.

As in darts and sktime, the LSTM and the baselines it must beat (the random walk, the drift over
all history and the drift over the last 252 days; the names of Hyndman and Athanasopoulos) are
forecasters with the same two verbs, run through the same fold loop. ``predict`` returns one
forecast per ensemble member (the LSTM's seeds; one for a baseline), per day, per step, in the
target's units: step ``h`` of the row for day ``t`` forecasts day ``t + h - 1`` from the close
of ``t - 1``. For the log-return target a step is that day's return; for the price target, its
price.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Protocol

import numpy as np
import pandas as pd

from lstm_study import parallel
from lstm_study.errors import ConfigError
from lstm_study.forecast import baselines as base
from lstm_study.forecast.features import VOLATILITY_DAYS, make_inputs, make_windows
from lstm_study.forecast.folds import Fold
from lstm_study.forecast.model import TrainConfig, fit, predict
from lstm_study.forecast.scaling import FoldScaler
from lstm_study.forecast.validate import PriceSeries
from lstm_study.runtime import resolve_device

STRATEGIES = ("direct", "recursive")


@dataclass(frozen=True)
class Problem:
    """What every forecaster sees: one series, its feature rows and target, and the task's shape."""

    series: PriceSeries
    target: str
    columns: list[str]
    table: pd.DataFrame  # one row per day: the feature columns and "target"
    lookback: int
    horizon: int
    first_day: int  # the first day whose input window is complete

    @cached_property
    def features(self) -> np.ndarray:
        """The feature rows as a float array (n, n_features)."""
        return self.table[self.columns].to_numpy(dtype=float)

    @cached_property
    def targets(self) -> np.ndarray:
        """The target of each day: its log return, or its price."""
        return self.table["target"].to_numpy(dtype=float)

    @cached_property
    def log_returns(self) -> np.ndarray:
        """``log_returns[j]``: the log return from day ``j - 1`` to ``j`` (NaN on day 0)."""
        return np.r_[np.nan, np.diff(np.log(self.series.price))]


class Forecaster(Protocol):
    """The two verbs every model has, the baselines included."""

    name: str

    def fit(self, problem: Problem, fold: Fold) -> Forecaster:
        """Fit on the fold's training days (and stop early on its validation days); return self."""
        ...

    def predict(self, problem: Problem, days: np.ndarray) -> np.ndarray:
        """Return (members, len(days), horizon) forecasts, each from data before its day only."""
        ...


def _from_return(
    problem: Problem, days: np.ndarray, step_return: np.ndarray
) -> np.ndarray:
    """Carry one log return per day forward over every step, in the target's units."""
    steps = np.arange(1, problem.horizon + 1)
    if problem.target == "log-return":
        return np.repeat(step_return[:, None], problem.horizon, axis=1)[None]
    previous = problem.series.price[days - 1]
    return (previous[:, None] * np.exp(step_return[:, None] * steps))[None]


class RandomWalk:
    """The naive forecast: every future price is the last one (a log return of 0 each day)."""

    name = "random_walk"

    def fit(self, problem: Problem, fold: Fold) -> RandomWalk:
        """Nothing to learn."""
        return self

    def predict(self, problem: Problem, days: np.ndarray) -> np.ndarray:
        """The last close, at every step."""
        days = np.asarray(days, dtype=int)
        return _from_return(problem, days, np.zeros(len(days)))


class Drift:
    """The drift method: the mean past log return carried forward (all history, or ``window`` days)."""

    def __init__(self, window: int | None = None) -> None:
        self.window = window
        self.name = "drift" if window is None else "recent_drift"

    def fit(self, problem: Problem, fold: Fold) -> Drift:
        """Nothing to learn: the mean is taken afresh from each forecast's own past."""
        return self

    def predict(self, problem: Problem, days: np.ndarray) -> np.ndarray:
        """The mean return known at each origin, compounded over the steps."""
        days = np.asarray(days, dtype=int)
        window = self.window or base.RECENT_DRIFT_DAYS
        means = base.baseline_returns(problem.log_returns, days, window)
        return _from_return(problem, days, means[self.name])


class LSTMForecaster:
    """``torch.nn.LSTM`` with a linear head, refitted per fold; one member per seed.

    ``direct``: one output per step, trained on the next ``horizon`` targets. ``recursive``: one
    output, fed back as the next day's input (its return, the volatility recomputed with it, a
    neutral volume) until the horizon is reached.
    """

    name = "lstm"
    #: how the target is scaled on each fold's training days, and the training loss (None: squared
    #: error); the variance LSTM (:mod:`lstm_study.forecast.volatility_model`) changes both
    target_scaler: type = FoldScaler
    loss = None

    def __init__(
        self,
        train: TrainConfig | None = None,
        *,
        seeds: int = 3,
        device: object = "cpu",
        warm_start: bool = True,
        strategy: str = "direct",
        progress: bool | None = None,
        seed_offset: int = 0,
    ) -> None:
        if strategy not in STRATEGIES:
            raise ConfigError(f"strategy must be one of {STRATEGIES}, got {strategy!r}")
        self.train = train or TrainConfig()
        self.seeds, self.device, self.warm_start = seeds, device, warm_start
        self.strategy, self.progress = strategy, progress
        self.seed_offset = seed_offset
        self.states: list[dict | None] = [None] * seeds
        self.models: list = []
        self.best_epochs: tuple[int, ...] = ()
        self.fitted_until: pd.Timestamp | None = None

    def fit(self, problem: Problem, fold: Fold) -> LSTMForecaster:
        """Fit the scalers on the training days, then one network per seed with early stopping."""
        start, lookback = fold.validation.start, problem.lookback
        # Fitted on rows before the validation block only.
        rows = problem.table[problem.columns].iloc[problem.first_day - lookback : start]
        self.x_scaler = FoldScaler().fit(rows)
        self.y_scaler = self.target_scaler().fit(
            problem.table[["target"]].iloc[problem.first_day : start]
        )
        self.fitted_until = max(self.x_scaler.fitted_until, self.y_scaler.fitted_until)
        self.scaled = self.x_scaler.transform(problem.features)
        scaled_targets = self.y_scaler.transform(problem.targets[:, None])[:, 0]
        outputs = problem.horizon if self.strategy == "direct" else 1
        x_train, y_train = make_windows(
            self.scaled, scaled_targets, np.array(fold.train), lookback, outputs
        )
        x_val, y_val = make_windows(
            self.scaled, scaled_targets, np.array(fold.validation), lookback, outputs
        )
        # The seeds train independently: on the machine's other cores where it has them,
        # with the same numbers as one after another (lstm_study.parallel).
        shared = parallel.worker_count() > 1 and self.seeds > 1
        calls = [
            dict(
                x_train=x_train,
                y_train=y_train,
                x_val=x_val,
                y_val=y_val,
                config=self.train,
                seed=self.seed_offset + 10_000 * seed + fold.index,
                device=self.device,
                progress=False if shared else self.progress,
                description=f"fold {fold.index + 1} seed {seed}",
                initial_state=self.states[seed],
                outputs=outputs,
                loss=self.loss,
            )
            for seed in range(self.seeds)
        ]
        fitted = parallel.run_all(fit, calls, device=resolve_device(self.device))
        self.models = [model for model, _ in fitted]
        if self.warm_start:
            self.states = [model.state_dict() for model in self.models]
        self.best_epochs = tuple(history.best_epoch for _, history in fitted)
        return self

    def _unscale(self, model: object, x: np.ndarray) -> np.ndarray:
        """Run one network on scaled windows and return its outputs in the target's units (n, k)."""
        out = predict(model, x, self.device).reshape(len(x), -1)
        return self.y_scaler.inverse_transform(out[..., None])[..., 0]

    def predict(self, problem: Problem, days: np.ndarray) -> np.ndarray:
        """Each seed's forecasts, (seeds, len(days), horizon)."""
        days = np.asarray(days, dtype=int)
        if not self.models:
            raise ConfigError("call fit() before predict()")
        if self.strategy == "direct":
            x = make_inputs(self.scaled, days, problem.lookback)
            return np.stack([self._unscale(model, x) for model in self.models])
        return np.stack(
            [self._recursive(model, problem, days) for model in self.models]
        )

    def _recursive(
        self, model: object, problem: Problem, days: np.ndarray
    ) -> np.ndarray:
        """Feed one network its own forecasts, one day at a time, for ``horizon`` steps."""
        window = make_inputs(problem.features, days, problem.lookback)  # unscaled rows
        past = VOLATILITY_DAYS - 1
        recent = problem.log_returns[
            days[:, None] - past + np.arange(past)
        ]  # returns t-19 .. t-1
        steps = []
        for _ in range(problem.horizon):
            guess = self._unscale(model, self.x_scaler.transform(window))[:, 0]
            steps.append(guess)
            if problem.target == "log-return":
                returns = np.concatenate([recent, guess[:, None]], axis=1)
                row = {
                    "log_return": guess,
                    "volatility": returns.std(axis=1, ddof=1),  # as pandas' rolling std
                    "log_volume_ratio": np.zeros(
                        len(days)
                    ),  # tomorrow's volume is unknown
                }
                recent = returns[:, 1:]
            else:
                row = {"price": guess}
            new = np.stack([row[name] for name in problem.columns], axis=1)
            window = np.concatenate([window[:, 1:], new[:, None]], axis=1)
        return np.stack(steps, axis=1)


def standard_forecasters(
    train: TrainConfig,
    *,
    seeds: int,
    device: object,
    warm_start: bool = True,
    strategy: str = "direct",
    recent_drift_days: int = base.RECENT_DRIFT_DAYS,
    progress: bool | None = None,
    seed_offset: int = 0,
) -> dict[str, Forecaster]:
    """The LSTM and the three baselines, keyed by their standard names."""
    models: list[Forecaster] = [
        LSTMForecaster(
            train,
            seeds=seeds,
            seed_offset=seed_offset,
            device=device,
            warm_start=warm_start,
            strategy=strategy,
            progress=progress,
        ),
        RandomWalk(),
        Drift(),
        Drift(recent_drift_days),
    ]
    return {model.name: model for model in models}
