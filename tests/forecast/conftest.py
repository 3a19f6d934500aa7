"""Synthetic price tables and a tiny, fast backtest configuration shared by the forecast tests."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from lstm_study.forecast.backtest import BacktestConfig
from lstm_study.forecast.model import TrainConfig


def price_table(
    n: int = 400, seed: int = 0, *, volume: bool = True, start: str = "2010-01-04"
) -> pd.DataFrame:
    """Return a random-walk price table with Date, Close, Adj Close (and Volume) columns."""
    rng = np.random.default_rng(seed)
    dates = pd.bdate_range(start, periods=n)
    price = 50 * np.exp(np.cumsum(rng.normal(0.0003, 0.015, n)))
    frame = pd.DataFrame({"Date": dates, "Close": price * 2, "Adj Close": price})
    if volume:
        frame["Volume"] = rng.integers(1_000_000, 2_000_000, n)
    return frame


def tiny_config(**changes) -> BacktestConfig:
    """A walk-forward small enough to run in well under a second."""
    settings = dict(
        lookback=3,
        test_days=12,
        retrain_every=5,
        validation_days=8,
        min_train_days=20,
        seeds=1,
        recent_drift_days=10,
        device="cpu",
        train=TrainConfig(hidden_size=2, epochs=1, batch_size=64),
    )
    settings.update(changes)
    return BacktestConfig(**settings)


@pytest.fixture
def prices() -> pd.DataFrame:
    return price_table()
