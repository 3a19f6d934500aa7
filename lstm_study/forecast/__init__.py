"""An LSTM forecaster evaluated walk-forward against the baselines it must beat, and used for the next days.

The pipeline runs one way: a price table -> a validated series (``validate``) -> past-only features
and windows (``features``) -> walk-forward folds (``folds``) -> forecasters behind one protocol, the
LSTM (``model``, a scaler fitted per training fold: ``scaling``) and the random walk, drift and
recent drift (``forecasters``, ``baselines``) -> forecasts ``horizon`` days ahead with intervals from
out-of-sample errors (``intervals``; ``backtest``) -> metrics per step (``metrics``) -> JSON and CSV
(``report``). It takes a data frame, never a ticker, so any CSV with ``Date`` and ``Close`` works;
the ``backtest`` and ``forecast`` commands (``commands``, ``outlook``) fetch the frame. The variance
target (tomorrow's squared return) has its baselines, QLIKE and walk-forward in ``volatility`` and
its LSTM in ``volatility_model``.
"""

from lstm_study.forecast.backtest import BacktestConfig, BacktestResult, walk_forward
from lstm_study.forecast.features import TARGETS, make_features
from lstm_study.forecast.folds import Fold, walk_forward_folds
from lstm_study.forecast.forecasters import (
    Drift,
    Forecaster,
    LSTMForecaster,
    RandomWalk,
)
from lstm_study.forecast.metrics import (
    diebold_mariano,
    evaluate,
    lagged_cross_correlation,
)
from lstm_study.forecast.validate import PriceSeries, prepare_prices
from lstm_study.forecast.volatility import VarianceResult, variance_walk_forward

__all__ = [
    "TARGETS",
    "BacktestConfig",
    "BacktestResult",
    "Drift",
    "Fold",
    "Forecaster",
    "LSTMForecaster",
    "PriceSeries",
    "RandomWalk",
    "VarianceResult",
    "diebold_mariano",
    "evaluate",
    "lagged_cross_correlation",
    "make_features",
    "prepare_prices",
    "variance_walk_forward",
    "walk_forward",
    "walk_forward_folds",
]
