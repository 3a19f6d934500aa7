"""The fold scaler: statistics from the rows it is given, and a record of the last day it saw."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from lstm_study.errors import ConfigError
from lstm_study.forecast.scaling import FoldScaler


def test_scaler_standardises_with_the_fitted_rows_and_inverts():
    rows = pd.DataFrame(
        {"a": [1.0, 2.0, 3.0], "b": [5.0, 5.0, 5.0]},
        index=pd.bdate_range("2020-01-01", periods=3),
    )
    scaler = FoldScaler().fit(rows)
    assert scaler.fitted_until == pd.Timestamp("2020-01-03")
    out = scaler.transform(np.array([[2.0, 5.0], [4.0, 6.0]]))
    np.testing.assert_allclose(out, [[0.0, 0.0], [2.0 / np.std([1, 2, 3]), 1.0]])
    np.testing.assert_allclose(scaler.inverse_transform(out), [[2.0, 5.0], [4.0, 6.0]])


def test_scaler_refuses_to_transform_before_fit_and_to_fit_nan():
    with pytest.raises(ConfigError, match="call fit"):
        FoldScaler().transform(np.zeros((2, 1)))
    rows = pd.DataFrame(
        {"a": [1.0, np.nan]}, index=pd.bdate_range("2020-01-01", periods=2)
    )
    with pytest.raises(ConfigError, match="finite"):
        FoldScaler().fit(rows)
