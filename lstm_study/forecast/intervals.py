"""Prediction intervals from out-of-sample errors: empirical quantiles, one pair per step and level.

The method is split-conformal in its simplest form: a model fitted on the training days
forecasts the validation block that follows (days it never fitted; early stopping only chose an
epoch there), and the ``(100 - level) / 2`` and ``(100 + level) / 2`` percentiles of its signed
errors at step ``h`` are added to its step-``h`` forecasts. No distribution is assumed; the
backtest then measures how often the intervals cover on the test days, per step.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from lstm_study.errors import ConfigError

MAX_HORIZON = 20
DEFAULT_LEVELS = (80.0, 95.0)


def check_levels(levels: Sequence[float]) -> tuple[float, ...]:
    """Return the levels as floats, refusing any outside (0, 100), a duplicate or none at all."""
    values = tuple(float(level) for level in levels)
    if not values:
        raise ConfigError("give at least one interval level, for example 80 95")
    for level in values:
        if not 0 < level < 100:
            raise ConfigError(
                f"interval level {level:g} is outside (0, 100): give percentages such as 80 or 95"
            )
    if len(set(values)) != len(values):
        raise ConfigError(
            f"interval levels repeat: {', '.join(f'{v:g}' for v in values)}"
        )
    return values


def level_name(level: float) -> str:
    """The level as it appears in a key: 80 -> '80', 97.5 -> '97.5'."""
    return f"{level:g}"


def error_quantiles(
    errors: np.ndarray, levels: Sequence[float]
) -> dict[float, np.ndarray]:
    """Return, per level, a (2, steps) array of the lower and upper error quantiles of each step.

    ``errors`` is (days, steps), actual minus forecast, NaN where the actual is not known yet.
    A step without any known error gets NaN bounds.
    """
    errors = np.asarray(errors, dtype=float)
    out = {}
    for level in check_levels(levels):
        alpha = (1 - level / 100) / 2
        bounds = np.full((2, errors.shape[1]), np.nan)
        for step in range(errors.shape[1]):
            known = errors[:, step][np.isfinite(errors[:, step])]
            if known.size:
                bounds[:, step] = np.quantile(known, [alpha, 1 - alpha])
        out[level] = bounds
    return out


def intervals(
    forecast: np.ndarray, quantiles: dict[float, np.ndarray]
) -> dict[float, np.ndarray]:
    """Add the error quantiles to a (days, steps) forecast: per level, (2, days, steps) bounds."""
    forecast = np.asarray(forecast, dtype=float)
    return {level: forecast[None] + q[:, None, :] for level, q in quantiles.items()}
