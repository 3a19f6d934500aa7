"""Random walk, drift and mean use only returns known the day before the forecast."""

from __future__ import annotations

import numpy as np
import pytest

from lstm_study.errors import ConfigError
from lstm_study.forecast.baselines import baseline_returns, to_price


def test_baselines_match_direct_means_of_past_returns():
    rng = np.random.default_rng(1)
    returns = np.r_[np.nan, rng.normal(0, 0.01, 50)]
    days = np.array([5, 20, 50])
    out = baseline_returns(returns, days, recent_drift_days=10)
    np.testing.assert_array_equal(out["random_walk"], 0.0)
    for k, t in enumerate(days):
        assert out["drift"][k] == pytest.approx(
            returns[1:t].mean()
        )  # Hyndman's drift: all past changes
        assert out["recent_drift"][k] == pytest.approx(
            returns[max(t - 10, 1) : t].mean()
        )


def test_price_forecast_compounds_from_yesterday():
    np.testing.assert_allclose(
        to_price(np.array([0.0, np.log(1.1)]), np.array([10.0, 10.0])), [10.0, 11.0]
    )
    with pytest.raises(ConfigError):
        baseline_returns(np.zeros(5), np.array([1]))
