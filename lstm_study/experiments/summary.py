"""What a chapter says about a sweep's runs: solved counts, medians, Fisher's test, Holm.

The statistics come from :mod:`lstm_study.experiments.stats` (scipy, statsmodels); this module
only groups a results file's runs and lays them out:

- :func:`summarise`: one group of runs (one model at one length, over seeds): how many solved
  the task with the exact (Clopper-Pearson) interval, the median score with a bootstrap
  interval (:func:`median_interval`), how many diverged;
- :func:`compare`: Fisher's exact test between the solved counts of pairs of groups, the
  p-values adjusted by Holm across all the pairs given at once (a chapter passes every
  comparison it makes), and the verdict words that the adjusted p-value allows.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy import stats as scipy_stats

from lstm_study.errors import ConfigError
from lstm_study.experiments import stats


def median_interval(
    values: Sequence[float], confidence: float = 0.95, seed: int = 0
) -> tuple[float, float]:
    """Percentile-bootstrap interval of the median of ``values`` (``inf`` allowed).

    The percentile method, not BCa: the scores of a model that solves in some seeds and not
    in others are bimodal, and the median of ten of them jumps between the two modes.
    """
    array = np.asarray(values, dtype=float)
    if array.ndim != 1 or len(array) < 2 or np.isnan(array).any():
        raise ConfigError(f"need at least 2 scores, none NaN, got {values!r}")
    if (array == array[0]).all():
        return float(array[0]), float(array[0])
    with np.errstate(
        invalid="ignore"
    ):  # a diverged run's inf: its median is still exact
        result = scipy_stats.bootstrap(
            (array,),
            np.median,
            confidence_level=confidence,
            n_resamples=9999,
            method="percentile",
            rng=np.random.default_rng(seed),
        )
    return float(result.confidence_interval.low), float(result.confidence_interval.high)


def _score(run: dict[str, Any], name: str) -> float:
    """A run's score; a diverged run (NaN) counts as infinitely bad."""
    value = float(run[name])
    return math.inf if math.isnan(value) else value


def summarise(runs: Sequence[dict[str, Any]], score: str = "mse") -> dict[str, Any]:
    """Solved count and its interval, median score and its interval, of one group of runs."""
    if not runs:
        raise ConfigError("no runs to summarise")
    solved = sum(bool(run["solved"]) for run in runs)
    scores = [_score(run, score) for run in runs]
    low, high = stats.solved_interval(solved, len(runs))
    median_low, median_high = median_interval(scores)
    return {
        "runs": len(runs),
        "solved": solved,
        "solved_low": low,
        "solved_high": high,
        "median": float(np.median(scores)),
        "median_low": median_low,
        "median_high": median_high,
        "diverged": sum(bool(run.get("diverged", False)) for run in runs),
    }


def compare(
    groups: dict[str, Sequence[dict[str, Any]]],
    pairs: Sequence[tuple[str, str]],
    rank_pairs: Sequence[tuple[str, str]] = (),
    score: str = "mse",
) -> list[dict[str, Any]]:
    """Fisher's test on the solved counts of each pair, Holm across all of them, verdicts.

    The verdict reads "``a`` is better/worse than ``b``" in solving the task more often, or
    "no difference detected with n = N"; a direction only below 0.05 after Holm.
    ``rank_pairs`` adds, to the same Holm family, a Mann-Whitney test on ``score`` (lower
    is better) of each of their pairs; every row says its test in ``"test"``.
    """
    every = [*pairs, *rank_pairs]
    unknown = sorted({name for pair in every for name in pair} - set(groups))
    if unknown:
        raise ConfigError(f"no runs for {unknown}; groups are {sorted(groups)}")
    if not every:
        return []
    rows = []
    for a, b in pairs:
        solved_a = [float(bool(run["solved"])) for run in groups[a]]
        solved_b = [float(bool(run["solved"])) for run in groups[b]]
        p = stats.fisher(
            int(sum(solved_a)), len(solved_a), int(sum(solved_b)), len(solved_b)
        )
        rows.append(
            {
                "a": a,
                "b": b,
                "test": "Fisher, solved",
                "solved_a": solved_a,
                "solved_b": solved_b,
                "p": p,
            }
        )
    for a, b in rank_pairs:
        scores_a = [_score(run, score) for run in groups[a]]
        scores_b = [_score(run, score) for run in groups[b]]
        rows.append(
            {
                "a": a,
                "b": b,
                "test": f"Mann-Whitney, {score}",
                "solved_a": sum(bool(run["solved"]) for run in groups[a]),
                "solved_b": sum(bool(run["solved"]) for run in groups[b]),
                "median_a": float(np.median(scores_a)),
                "median_b": float(np.median(scores_b)),
                "p": stats.rank_test(scores_a, scores_b),
                "scores": (scores_a, scores_b),
            }
        )
    for row, adjusted in zip(rows, stats.holm([row["p"] for row in rows]), strict=True):
        row["p_holm"] = adjusted
        if "scores" in row:
            row["verdict"] = stats.verdict(*row.pop("scores"), adjusted)
            continue
        tied = np.median(row["solved_a"]) == np.median(row["solved_b"])
        if adjusted < 0.05 and tied:  # cannot happen with ten runs a side
            raise ConfigError(
                f"{row['a']} and {row['b']}: a difference detected, but the medians of "
                "their solved runs tie, so stats.verdict cannot name its direction"
            )
        row["verdict"] = stats.verdict(
            row["solved_a"], row["solved_b"], adjusted, lower_is_better=False
        )
        row["solved_a"], row["solved_b"] = (
            int(sum(row["solved_a"])),
            int(sum(row["solved_b"])),
        )
    return rows
