"""Walk-forward folds as a generator of (training, validation, test) ranges of forecast days.

Days are the dates forecasts are *dated*: a forecast dated ``t`` is made at the close of
``t - 1`` (its origin) and, for a horizon of ``H`` steps, reaches ``t + H - 1``. For a fold
whose test days start at ``s``::

    [ training days ......... ][ validation days ][ test days: s .. s + retrain_every - 1 ]
    first_day                  s - validation_days s

The last ``H - 1`` training and validation days are dropped, so that every target a model is
fitted or stopped on lies before the next block: no training target reaches the validation
block, and no validation target reaches the test. With ``future=True`` one more fold follows,
whose single test day is the day after the data: the forecast of the next days.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from lstm_study.errors import ConfigError


@dataclass(frozen=True)
class Fold:
    """One fold: the forecast days to fit on, to stop early on, and to forecast."""

    index: int
    train: range
    validation: range
    test: range
    future: bool = False  # its one test day is the day after the data: no actual yet


def walk_forward_folds(
    first_day: int,
    test_start: int,
    n: int,
    *,
    retrain_every: int,
    validation_days: int,
    horizon: int = 1,
    future: bool = False,
) -> Iterator[Fold]:
    """Yield the folds of a walk-forward over test days ``test_start .. n - 1`` (expanding window).

    ``first_day`` is the first day with a full input window. With ``future=True`` a last fold
    forecasts day ``n`` (the day after the data) from a model fitted on everything before it.
    """
    if not 0 <= first_day < test_start - validation_days:
        raise ConfigError(
            f"no training days: the first forecastable day {first_day} must come before the "
            f"validation block that starts on day {test_start - validation_days}"
        )
    if validation_days < horizon:
        raise ConfigError(
            f"the validation block ({validation_days} days) must hold at least the horizon "
            f"({horizon} days)"
        )
    starts = list(range(test_start, n, retrain_every)) + ([n] if future else [])
    for k, start in enumerate(starts):
        stop = n + 1 if start == n else min(start + retrain_every, n)
        validation_start = start - validation_days
        drop = horizon - 1
        yield Fold(
            index=k,
            train=range(first_day, validation_start - drop),
            validation=range(validation_start, start - drop),
            test=range(start, stop),
            future=start == n,
        )
