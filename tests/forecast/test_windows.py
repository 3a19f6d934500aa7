"""Input validation, past-only features and window alignment."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from lstm_study.errors import ConfigError, InputDataError
from lstm_study.forecast.windows import make_features, make_windows, prepare_prices
from tests.forecast.conftest import price_table


def test_adj_close_is_preferred_and_close_is_a_fallback_with_a_note(prices):
    series = prepare_prices(prices)
    assert series.price_column == "Adj Close"
    np.testing.assert_array_equal(series.price, prices["Adj Close"].to_numpy())
    assert series.notes == ()
    fallback = prepare_prices(prices.drop(columns="Adj Close"))
    assert fallback.price_column == "Close"
    assert any("not adjusted" in note for note in fallback.notes)


def test_a_split_in_an_unadjusted_close_is_flagged(prices):
    frame = prices.drop(columns="Adj Close")
    frame.loc[200:, "Close"] /= 2
    notes = prepare_prices(frame).notes
    assert any(
        "split" in note and str(frame["Date"][200].date()) in note for note in notes
    )


def test_a_tidy_frame_with_several_tickers_needs_a_choice(prices):
    tidy = pd.concat([prices.assign(Ticker="AAA"), prices.assign(Ticker="BBB")])
    with pytest.raises(InputDataError, match="several tickers"):
        prepare_prices(tidy)
    assert prepare_prices(tidy, ticker="BBB").ticker == "BBB"
    with pytest.raises(InputDataError, match="'CCC' is not in the table"):
        prepare_prices(tidy, ticker="CCC")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda f: f.drop(columns=["Close", "Adj Close"]), "no 'Close' column"),
        (lambda f: f.drop(columns="Date"), "no 'Date' column"),
        (lambda f: f.iloc[[0, 2, 1, 3]], "not in increasing order: row 2"),
        (lambda f: pd.concat([f.iloc[:3], f.iloc[[2]]]), "duplicate date"),
        (
            lambda f: f.assign(**{"Adj Close": [1.0, np.nan, 2.0, 3.0]}),
            "missing \\(NaN\\) on 1 day",
        ),
        (
            lambda f: f.assign(**{"Adj Close": [1.0, -1.0, 2.0, 3.0]}),
            "must be positive",
        ),
        (
            lambda f: f.assign(Date=["2020-01-01", "yesterday", "x", "y"]),
            "cannot be read as dates",
        ),
        (lambda f: f.assign(**{"Adj Close": ["1", "2", "three", "4"]}), "not numbers"),
        (lambda f: f.iloc[:0], "no rows"),
    ],
)
def test_bad_tables_are_refused_with_a_clear_message(change, message):
    frame = price_table(4)
    with pytest.raises(InputDataError, match=message):
        prepare_prices(change(frame))


def test_a_bad_volume_makes_the_volume_feature_neutral_nearby_with_a_note(prices):
    clean = make_features(prepare_prices(prices))
    prices = prices.astype({"Volume": float})
    prices.loc[50, "Volume"] = 0
    prices.loc[300, "Volume"] = np.nan
    series = prepare_prices(prices)
    assert any("not positive on 2 day(s)" in note for note in series.notes)
    features = make_features(series)
    ratio = features["log_volume_ratio"]
    assert (
        ratio.iloc[19:].notna().all()
    )  # defined from the first full 20-day window on, gaps or not
    for bad in (
        50,
        300,
    ):  # neutral on the bad day and while it is inside the 20-day window
        np.testing.assert_array_equal(ratio.iloc[bad : bad + 20], 0.0)
        assert ratio.iloc[bad + 20] != 0.0
    pd.testing.assert_series_equal(ratio.iloc[:50], clean["log_volume_ratio"].iloc[:50])
    pd.testing.assert_series_equal(
        ratio.iloc[70:300], clean["log_volume_ratio"].iloc[70:300]
    )
    assert (
        "log_volume_ratio"
        not in make_features(prepare_prices(prices.drop(columns="Volume"))).columns
    )


def test_features_on_a_row_use_data_up_to_that_row_only(prices):
    series = prepare_prices(prices)
    base = make_features(series)
    changed = prices.copy()
    changed = changed.astype({"Volume": float})
    changed.loc[100:, ["Adj Close", "Volume"]] *= 1.5
    after = make_features(prepare_prices(changed))
    pd.testing.assert_frame_equal(base.iloc[:100], after.iloc[:100])
    assert not base.iloc[100:].equals(after.iloc[100:])


def test_targets_are_the_days_log_return_or_price(prices):
    series = prepare_prices(prices)
    returns = make_features(series, "log-return")["target"].to_numpy()
    assert returns[5] == pytest.approx(np.log(series.price[5] / series.price[4]))
    assert make_features(series, "price")["target"].iloc[5] == series.price[5]
    with pytest.raises(ConfigError, match="target must be one of"):
        make_features(series, "volume")


def test_a_window_for_day_t_ends_the_day_before():
    features = np.arange(20.0).reshape(10, 2)
    targets = np.arange(10.0) * 100
    x, y = make_windows(features, targets, np.array([3, 9]), lookback=3)
    np.testing.assert_array_equal(x[0], features[0:3])
    np.testing.assert_array_equal(x[1], features[6:9])
    np.testing.assert_array_equal(y, [300.0, 900.0])
    with pytest.raises(ConfigError):
        make_windows(features, targets, np.array([2]), lookback=3)
