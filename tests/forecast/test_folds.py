"""The fold generator on its own: blocks in time order, every test day once, no target crossing a block."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lstm_study.errors import ConfigError
from lstm_study.forecast.folds import walk_forward_folds


@settings(max_examples=60, deadline=None)
@given(
    first_day=st.integers(0, 30),
    train=st.integers(20, 60),
    validation=st.integers(20, 40),
    test=st.integers(1, 80),
    retrain_every=st.integers(1, 30),
    horizon=st.integers(1, 20),
    future=st.booleans(),
)
def test_folds_tile_the_test_period_and_keep_every_target_in_its_block(
    first_day, train, validation, test, retrain_every, horizon, future
):
    test_start = first_day + train + validation
    n = test_start + test
    folds = list(
        walk_forward_folds(
            first_day,
            test_start,
            n,
            retrain_every=retrain_every,
            validation_days=validation,
            horizon=horizon,
            future=future,
        )
    )
    tested = [day for fold in folds if not fold.future for day in fold.test]
    assert tested == list(range(test_start, n))  # every test day once, in order
    assert [fold.index for fold in folds] == list(range(len(folds)))
    for fold in folds:
        assert fold.train.start == first_day  # an expanding window
        # the last target of a training day (day + horizon - 1) lies before the validation block,
        # and that of a validation day before the test
        assert fold.train.stop - 1 + horizon - 1 < fold.test.start - validation
        assert fold.validation.start == fold.test.start - validation
        assert fold.validation.stop - 1 + horizon - 1 < fold.test.start
        assert len(fold.validation) == validation - horizon + 1
        assert len(fold.test) <= retrain_every or fold.future
    assert folds[-1].future == future
    if future:
        assert list(folds[-1].test) == [n]  # the day after the data


def test_impossible_blocks_are_refused():
    with pytest.raises(ConfigError, match="no training days"):
        list(walk_forward_folds(30, 40, 60, retrain_every=5, validation_days=20))
    with pytest.raises(ConfigError, match="at least the horizon"):
        list(
            walk_forward_folds(0, 40, 60, retrain_every=5, validation_days=3, horizon=5)
        )
