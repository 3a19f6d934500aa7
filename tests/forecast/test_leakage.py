"""No leakage, as a property: data after a cut date t changes nothing dated at or before t.

Stronger still, because a forecast dated ``t + 1`` is made at the close of ``t``: it must not
change either. The cut falls anywhere from the training block to the last test day, and the
change after it may include volumes that are zero or missing (a value that could otherwise
change which features the whole run uses).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import lstm_study.forecast.forecasters as forecasters
from lstm_study.forecast.backtest import walk_forward
from lstm_study.forecast.scaling import FoldScaler
from lstm_study.forecast.windows import make_features, prepare_prices
from tests.forecast.conftest import price_table, tiny_config

TEST_DAYS = tiny_config().test_days
# tiny_config needs 23 days of features and lookback, 20 training and 8 validation days before the test.
SHORTEST = 23 + 20 + 8 + TEST_DAYS
PROPERTY = settings(
    max_examples=8,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)


def perturbed_after(
    frame: pd.DataFrame, cut: int, seed: int, bad_volume: bool
) -> pd.DataFrame:
    """Return a copy whose prices and volumes after row ``cut`` are replaced by other random values."""
    rng = np.random.default_rng(seed)
    changed = frame.copy().astype({"Volume": float})
    tail = len(frame) - cut - 1
    changed.loc[cut + 1 :, "Adj Close"] = changed["Adj Close"].iloc[cut] * np.exp(
        np.cumsum(rng.normal(0, 0.05, tail))
    )
    volume = rng.uniform(1e5, 1e7, tail)
    if bad_volume:
        volume[rng.integers(tail)] = rng.choice([0.0, np.nan])
    changed.loc[cut + 1 :, "Volume"] = volume
    return changed


def test_the_shortest_series_fits_the_tiny_configuration():
    walk_forward(
        price_table(SHORTEST), tiny_config(), progress=False
    )  # raises if SHORTEST is too short


@PROPERTY
@given(
    n=st.integers(min_value=SHORTEST, max_value=SHORTEST + 20),
    series_seed=st.integers(0, 10_000),
    change_seed=st.integers(0, 10_000),
    cut_from_end=st.integers(min_value=1, max_value=TEST_DAYS + 30),
    target=st.sampled_from(["log-return", "price"]),
    bad_volume=st.booleans(),
)
def test_data_after_t_changes_no_forecast_or_feature_dated_at_or_before_t(
    n, series_seed, change_seed, cut_from_end, target, bad_volume
):
    frame = price_table(n, series_seed)
    cut = n - 1 - cut_from_end  # row of the cut date t
    changed = perturbed_after(frame, cut, change_seed, bad_volume)
    t = frame["Date"][cut]

    features = make_features(prepare_prices(frame), target)
    features_changed = make_features(prepare_prices(changed), target)
    pd.testing.assert_frame_equal(features.loc[:t], features_changed.loc[:t])
    assert not features.iloc[cut + 1 :].equals(
        features_changed.iloc[cut + 1 :]
    )  # the change is real

    config = tiny_config(target=target)
    before = walk_forward(frame, config, progress=False)
    after = walk_forward(changed, config, progress=False)
    pd.testing.assert_index_equal(before.dates, after.dates)
    made_by_t = (
        before.dates <= frame["Date"][cut + 1]
    )  # forecasts dated up to t + 1 are made at t's close
    assert made_by_t.sum() == max(0, TEST_DAYS - cut_from_end + 1)
    for name, forecast in before.forecasts.items():
        np.testing.assert_array_equal(
            forecast[made_by_t], after.forecasts[name][made_by_t], err_msg=name
        )
    np.testing.assert_array_equal(
        before.seed_forecasts[:, made_by_t], after.seed_forecasts[:, made_by_t]
    )
    if cut_from_end >= 2:  # a forecast made after t does see the change
        later = before.dates > frame["Date"][cut + 1]
        assert not np.array_equal(
            before.forecasts["recent_drift"][later],
            after.forecasts["recent_drift"][later],
        )


@PROPERTY
@given(series_seed=st.integers(0, 10_000), retrain_every=st.integers(2, 7))
def test_the_scaler_sees_training_rows_only(series_seed, retrain_every):
    seen: list[pd.DatetimeIndex] = []
    original_fit = FoldScaler.fit

    def spying_fit(self, rows):
        seen.append(pd.DatetimeIndex(rows.index))
        return original_fit(self, rows)

    FoldScaler.fit = spying_fit
    try:
        result = walk_forward(
            price_table(80, series_seed),
            tiny_config(retrain_every=retrain_every),
            progress=False,
        )
    finally:
        FoldScaler.fit = original_fit
    assert (
        forecasters.FoldScaler is FoldScaler
    )  # the LSTM forecaster fits the class we spied on
    assert len(seen) == 2 * len(
        result.folds
    )  # a feature scaler and a target scaler per fold
    for fold, (x_rows, y_rows) in zip(result.folds, zip(seen[::2], seen[1::2])):
        for rows in (x_rows, y_rows):
            assert rows.max() < fold.validation_start < fold.test_start
            # earlier folds' test days are this fold's past (the window expands); its own and later are not
            assert not rows.isin(result.dates[result.dates >= fold.test_start]).any()
