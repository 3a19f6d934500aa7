"""Prediction intervals from out-of-sample errors: split-conformal quantiles, one pair per step and level.

A model fitted on the training days forecasts the validation block that follows (days it never
fitted; early stopping only chose an epoch there), and two order statistics of its signed errors
at step ``h`` are added to its step-``h`` forecasts. The default rule is split-conformal
prediction's finite-sample one: with ``n`` known errors and a level ``1 - alpha``, the upper bound
is the ``k``-th smallest error and the lower bound the ``k``-th largest, with
``k = ceil((n + 1)(1 - alpha / 2))``; if the errors and the new one are exchangeable, each tail is
then missed with probability at most ``alpha / 2`` (coverage at least ``1 - alpha``). A ``k`` above
``n`` gives an infinite bound. The rule ``"empirical"`` is the plain ``np.quantile`` of the errors at
``alpha / 2`` and ``1 - alpha / 2``, whose expected coverage under exchangeability is only about
``(1 - alpha)(n - 1) / (n + 1)`` (:func:`expected_coverage`). No distribution is assumed; the
backtest then measures how often the intervals cover on the test days, per step.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from lstm_study.errors import ConfigError

MAX_HORIZON = 20
DEFAULT_LEVELS = (80.0, 95.0)
#: how a pair of bounds is read off the errors: split-conformal's finite-sample order statistics,
#: or the plain empirical quantiles (kept to measure what the finite-sample rule changes)
RULES = ("conformal", "empirical")


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


def check_rule(rule: str) -> str:
    """Return ``rule`` if it is one of :data:`RULES`, else refuse it."""
    if rule not in RULES:
        raise ConfigError(f"interval rule must be one of {RULES}, got {rule!r}")
    return rule


def conformal_rank(n: int, level: float) -> int:
    """The rank ``k = ceil((n + 1)(1 - alpha / 2))`` of the upper bound among ``n`` sorted errors."""
    alpha = 1 - level / 100
    # the rounding guard keeps an exact product (say 126.0000000001) from moving up a rank
    return int(np.ceil(round((n + 1) * (1 - alpha / 2), 9)))


def expected_coverage(n: int, level: float, rule: str = "conformal") -> float:
    """The coverage a rule gives on average when ``n`` errors and the new one are exchangeable.

    The ``j``-th smallest of ``n`` exchangeable errors lies above a new one with probability
    ``j / (n + 1)``: exact for the conformal rule. ``np.quantile`` interpolates linearly
    between ranks, its bound at ``p`` sitting at rank ``1 + p (n - 1)``; treating a rank between
    two as covering in proportion gives its expectation to first order, close for some dozens
    of errors (within a percentage point from 60 on, in the tests).
    """
    check_rule(rule)
    alpha = 1 - check_levels([level])[0] / 100
    if rule == "empirical":
        return (1 - alpha) * (n - 1) / (n + 1)
    k = conformal_rank(n, level)
    if k > n:
        return 1.0
    return (2 * k - n - 1) / (n + 1)


def _bounds(known: np.ndarray, level: float, rule: str) -> np.ndarray:
    """The lower and upper bound of one step's known errors."""
    alpha = 1 - level / 100
    if rule == "empirical":
        return np.quantile(known, [alpha / 2, 1 - alpha / 2])
    k = conformal_rank(known.size, level)
    if k > known.size:
        return np.array([-np.inf, np.inf])
    ordered = np.sort(known)
    return np.array([ordered[known.size - k], ordered[k - 1]])


def error_quantiles(
    errors: np.ndarray, levels: Sequence[float], rule: str = "conformal"
) -> dict[float, np.ndarray]:
    """Return, per level, a (2, steps) array of the lower and upper error bounds of each step.

    ``errors`` is (days, steps), actual minus forecast, NaN where the actual is not known yet.
    ``rule`` is ``"conformal"`` (the finite-sample order statistics) or ``"empirical"``
    (``np.quantile``). A step without any known error gets NaN bounds.
    """
    errors = np.asarray(errors, dtype=float)
    check_rule(rule)
    out = {}
    for level in check_levels(levels):
        bounds = np.full((2, errors.shape[1]), np.nan)
        for step in range(errors.shape[1]):
            known = errors[:, step][np.isfinite(errors[:, step])]
            if known.size:
                bounds[:, step] = _bounds(known, level, rule)
        out[level] = bounds
    return out


def intervals(
    forecast: np.ndarray, quantiles: dict[float, np.ndarray]
) -> dict[float, np.ndarray]:
    """Add the error quantiles to a (days, steps) forecast: per level, (2, days, steps) bounds."""
    forecast = np.asarray(forecast, dtype=float)
    return {level: forecast[None] + q[:, None, :] for level, q in quantiles.items()}
