"""The statistics a sweep's verdicts rest on, from scipy and statsmodels.

- :func:`interval`: a bootstrap 95% interval of a mean over seeds;
- :func:`solved_interval`: the exact (Clopper-Pearson) interval of a solved count;
- :func:`fisher`: Fisher's exact test between two solved counts;
- :func:`rank_test`: the Mann-Whitney test between two models' scores over seeds;
- :func:`holm`: Holm's correction across the comparisons a chapter makes;
- :func:`verdict`: the words a chapter may use, computed from an adjusted p-value.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import stats
from statsmodels.stats.multitest import multipletests

from lstm_study.errors import ConfigError


def _values(values: Sequence[float], least: int = 1) -> np.ndarray:
    array = np.asarray(values, dtype=float)
    if array.ndim != 1 or len(array) < least or not np.isfinite(array).all():
        raise ConfigError(
            f"need at least {least} finite scores in a flat list, got {values!r}"
        )
    return array


def interval(
    values: Sequence[float], confidence: float = 0.95, seed: int = 0
) -> tuple[float, float]:
    """Bootstrap (BCa) interval of the mean of ``values``; a point when they are all equal."""
    array = _values(values, least=2)
    if np.ptp(array) == 0:
        return float(array[0]), float(array[0])
    result = stats.bootstrap(
        (array,),
        np.mean,
        confidence_level=confidence,
        n_resamples=9999,
        rng=np.random.default_rng(seed),
    )
    return float(result.confidence_interval.low), float(result.confidence_interval.high)


def solved_interval(
    solved: int, runs: int, confidence: float = 0.95
) -> tuple[float, float]:
    """Exact (Clopper-Pearson) interval of the share of runs that solved the task."""
    if not 0 <= solved <= runs or runs < 1:
        raise ConfigError(
            f"need 0 <= solved <= runs and runs >= 1, got {solved}/{runs}"
        )
    ci = stats.binomtest(solved, runs).proportion_ci(
        confidence_level=confidence, method="exact"
    )
    return float(ci.low), float(ci.high)


def fisher(solved_a: int, runs_a: int, solved_b: int, runs_b: int) -> float:
    """Two-sided p-value of Fisher's exact test: do the two solve rates differ?"""
    table = [[solved_a, runs_a - solved_a], [solved_b, runs_b - solved_b]]
    if min(min(row) for row in table) < 0:
        raise ConfigError(f"solved counts beyond their runs: {table}")
    return float(stats.fisher_exact(table).pvalue)


def rank_test(a: Sequence[float], b: Sequence[float]) -> float:
    """Two-sided p-value of the Mann-Whitney test between two models' scores over seeds."""
    return float(stats.mannwhitneyu(_values(a), _values(b)).pvalue)


def holm(pvalues: Sequence[float]) -> list[float]:
    """Holm-adjusted p-values, in the order given."""
    if len(pvalues) == 0:
        return []
    return [float(p) for p in multipletests(list(pvalues), method="holm")[1]]


def verdict(
    a: Sequence[float],
    b: Sequence[float],
    adjusted_p: float,
    *,
    lower_is_better: bool = True,
    alpha: float = 0.05,
) -> str:
    """'better', 'worse' (``a`` against ``b``) or 'no difference detected with n = N'.

    A direction is stated only where the adjusted p-value is below ``alpha``; the direction
    is that of the medians. ``n`` counts the smaller of the two samples.
    """
    first, second = _values(a), _values(b)
    if adjusted_p >= alpha:
        return f"no difference detected with n = {min(len(first), len(second))}"
    lower = np.median(first) < np.median(second)
    return "better" if lower == lower_is_better else "worse"
