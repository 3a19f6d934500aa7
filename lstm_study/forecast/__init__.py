"""An LSTM next-day forecaster evaluated walk-forward against the baselines it must beat.

The pipeline runs one way: a price table -> past-only features (``windows``) -> a scaler fitted on
each training fold (``scaling``) -> ``torch.nn.LSTM`` with a linear head (``model``) -> walk-forward
forecasts (``backtest``) -> metrics against random walk, drift and mean (``baselines``, ``metrics``)
-> JSON and CSV (``report``). It takes a data frame, never a ticker, so any CSV with ``Date`` and
``Close`` works.
"""

from lstm_study.forecast.backtest import BacktestConfig, BacktestResult, walk_forward
from lstm_study.forecast.metrics import diebold_mariano, evaluate, lagged_cross_correlation
from lstm_study.forecast.windows import TARGETS, PriceSeries, make_features, prepare_prices

__all__ = [
    "TARGETS",
    "BacktestConfig",
    "BacktestResult",
    "PriceSeries",
    "diebold_mariano",
    "evaluate",
    "lagged_cross_correlation",
    "make_features",
    "prepare_prices",
    "walk_forward",
]
