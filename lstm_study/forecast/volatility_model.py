"""The variance LSTM: chapter 10's LSTM with its output read as a log-variance and trained on QLIKE.

On each fold the squared returns are divided by ``c``, their mean over the training days; the
network's output ``s`` is the log of the scaled variance, so its forecast ``h = c * exp(s)`` is
positive whatever the weights, and an output near 0 starts it at the past mean. Its loss per day
is ``s + y * exp(-s)``, the Gaussian negative log-likelihood of the scaled target
``y = r ** 2 / c`` up to a factor 2 and a constant, which is QLIKE,
``y / e**s - log(y / e**s) - 1``, plus ``log(y) + 1``, a term the forecast does not change:
minimising one minimises the other, and a day without a move (``y = 0``) costs nothing special.
The inputs, scaled per fold as for the return model, are the past returns, their sizes, the
daily range and the relative volume
(:func:`lstm_study.forecast.features.feature_columns` for ``"variance"``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from lstm_study.errors import ConfigError, InsufficientDataError
from lstm_study.forecast.forecasters import LSTMForecaster
from lstm_study.forecast.model import TrainConfig

#: log-variances are clipped to +-LOG_LIMIT in the loss, so exp(-s) cannot overflow
LOG_LIMIT = 30.0


def log_variance_loss(output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean Gaussian negative log-likelihood of ``target`` (a scaled r²) for log-variances ``output``."""
    s = output.clamp(-LOG_LIMIT, LOG_LIMIT)
    return (s + target * torch.exp(-s)).mean()


class VarianceScale:
    """Divides squared returns by their mean on a fold's training days; turns a log-variance into a variance."""

    def __init__(self) -> None:
        self.scale_: float | None = None
        self.fitted_until: pd.Timestamp | None = None

    def fit(self, rows: pd.DataFrame) -> VarianceScale:
        """Learn the mean squared return of ``rows`` (one column, indexed by date)."""
        values = rows.to_numpy(dtype=float)
        if len(values) < 2 or not np.isfinite(values).all():
            raise ConfigError("the variance scale needs at least two finite rows")
        if not values.mean() > 0:
            raise InsufficientDataError(
                "the price never moves in the training days: there is no variance to learn"
            )
        self.scale_ = float(values.mean())
        self.fitted_until = pd.Timestamp(rows.index.max())
        return self

    def _scale(self) -> float:
        if self.scale_ is None:
            raise ConfigError("call fit() on the training rows before transform()")
        return self.scale_

    def transform(self, values: np.ndarray) -> np.ndarray:
        """Scale squared returns: divide by the training mean."""
        return np.asarray(values, dtype=float) / self._scale()

    def inverse_transform(self, values: np.ndarray) -> np.ndarray:
        """Turn the network's log scaled variances into variances, ``c * exp(s)``."""
        return self._scale() * np.exp(np.asarray(values, dtype=float))


class LSTMVarianceForecaster(LSTMForecaster):
    """``torch.nn.LSTM`` with a linear head read as a log-variance, refitted per fold; one member per seed."""

    target_scaler = VarianceScale
    loss = staticmethod(log_variance_loss)

    def __init__(self, train: TrainConfig | None = None, **options: object) -> None:
        """As :class:`LSTMForecaster` (seeds, device, warm_start, progress), one day ahead."""
        super().__init__(train, strategy="direct", **options)
