"""A standard scaler that is fitted on one training fold and remembers which days it saw."""

from __future__ import annotations

import numpy as np
import pandas as pd

from lstm_study.errors import ConfigError


class FoldScaler:
    """Per-column standardisation, ``(x - mean) / std``, fitted on a training fold's rows only.

    The original study fitted its min-max scaler on the whole series, test period included, so
    every training input already knew the test period's range. ``fitted_until`` records the last
    date this scaler saw, which lets the backtest (and its tests) prove that it never saw a
    validation or test day.
    """

    def __init__(self) -> None:
        self.mean_: np.ndarray | None = None
        self.scale_: np.ndarray | None = None
        self.fitted_until: pd.Timestamp | None = None
        self.n_rows: int = 0

    def fit(self, rows: pd.DataFrame) -> FoldScaler:
        """Learn each column's mean and standard deviation from ``rows`` (indexed by date)."""
        values = rows.to_numpy(dtype=float)
        if values.ndim != 2 or len(values) < 2 or not np.isfinite(values).all():
            raise ConfigError(
                "the scaler needs at least two rows of finite values to fit"
            )
        self.mean_ = values.mean(axis=0)
        std = values.std(axis=0)
        # A constant column would divide by zero; leave it centred but unscaled.
        self.scale_ = np.where(std > 0, std, 1.0)
        self.fitted_until = pd.Timestamp(rows.index.max())
        self.n_rows = len(values)
        return self

    def _fitted(self) -> tuple[np.ndarray, np.ndarray]:
        if self.mean_ is None or self.scale_ is None:
            raise ConfigError("call fit() on the training rows before transform()")
        return self.mean_, self.scale_

    def transform(self, values: np.ndarray) -> np.ndarray:
        """Standardise ``values`` (last axis = columns) with the fitted statistics."""
        mean, scale = self._fitted()
        return (np.asarray(values, dtype=float) - mean) / scale

    def inverse_transform(self, values: np.ndarray) -> np.ndarray:
        """Map standardised values back to the original units."""
        mean, scale = self._fitted()
        return np.asarray(values, dtype=float) * scale + mean
