"""The variance sweep of chapter 11: it resumes, its records rebuild the walk, and the committed
results hold every run the chapter reads, made with the settings the package declares."""

from __future__ import annotations

import numpy as np
import pytest

from lstm_study.experiments import volatility as sweep
from lstm_study.forecast.backtest import config_dict
from lstm_study.forecast.volatility import BASELINES, variance_walk_forward
from tests.forecast.conftest import tiny_config
from tests.forecast.test_volatility import ohlc_table

TICKER = "XYZ"


def tiny():
    return tiny_config(target="variance", seeds=2)


def table():
    return ohlc_table(200).assign(Ticker=TICKER)


def test_the_sweep_keeps_each_run_and_skips_it_when_started_again(tmp_path):
    done: list[str] = []
    inputs = ("returns only", "range")
    first = sweep.sweep(
        table(), tmp_path, (TICKER,), inputs, tiny(), progress=False, on_run=done.append
    )
    assert sorted(done) == sorted(
        [f"{TICKER}__baselines", f"{TICKER}__returns_only", f"{TICKER}__range"]
    )
    again: list[str] = []
    second = sweep.sweep(
        table(),
        tmp_path,
        (TICKER,),
        inputs,
        tiny(),
        progress=False,
        on_run=again.append,
    )
    assert again == []  # nothing rerun
    for key, values in first["arrays"].items():
        np.testing.assert_array_equal(values, second["arrays"][key])
    # other settings are another sweep: the kept runs are not reused for it
    sweep.sweep(
        table(),
        tmp_path,
        (TICKER,),
        ("range",),
        tiny_config(target="variance", seeds=1),
        progress=False,
        on_run=again.append,
    )
    assert f"{TICKER}__range" in again


def test_a_committed_run_is_the_walk_it_records(tmp_path):
    results = sweep.sweep(
        table(), tmp_path, (TICKER,), ("range",), tiny(), progress=False
    )
    sweep.write_results(results, tmp_path / "r.json", tmp_path / "f.npz")
    meta, arrays = sweep.load_results(tmp_path / "r.json", tmp_path / "f.npz")
    assert meta["settings"] == config_dict(tiny())
    assert sweep.settings_of(meta) == tiny()
    kept = sweep.committed_result(meta, arrays, TICKER, "range")
    live = variance_walk_forward(
        table(), tiny(), ticker=TICKER, progress=False, features=sweep.INPUTS["range"]
    )
    assert (kept.dates == live.dates).all()
    np.testing.assert_array_equal(kept.actual, live.actual)
    # stored as float32: equal to about 1e-7
    np.testing.assert_allclose(kept.seed_forecasts, live.seed_forecasts, rtol=1e-6)
    for name in BASELINES:
        np.testing.assert_allclose(
            kept.baselines[name], live.baselines[name], rtol=1e-6
        )


def test_an_unknown_input_set_is_refused():
    with pytest.raises(Exception, match="inputs must be one of"):
        sweep.run_lstm(table(), TICKER, "tea leaves", tiny())


def test_the_committed_sweep_holds_every_run_the_chapter_reads():
    meta, arrays = sweep.load_results()
    assert meta["settings"] == config_dict(sweep.SETTINGS)
    assert meta["tickers"] == list(sweep.TICKERS)
    assert meta["inputs"] == sweep.INPUTS
    for key in ("command", "collected", "run_seconds", "machine"):
        assert meta[key]
    for ticker in sweep.TICKERS:
        days = len(arrays[f"{ticker}__actual"])
        assert days > 1000
        for name in BASELINES:
            assert arrays[f"{ticker}__{name}"].shape == (days,)
        for name in sweep.INPUTS:
            values = arrays[sweep.run_key(ticker, name)]
            assert values.shape == (sweep.SEEDS, days)
            assert np.isfinite(values).all() and (values > 0).all()


def test_in_the_committed_sweep_the_range_and_volume_lower_every_seeds_qlike():
    # Chapter 11's claim, from the committed forecasts without training: seed k of the
    # network with the range and the dollar volume has a lower mean QLIKE than seed k
    # of the network on returns only, on every ticker, and the test with the seeds'
    # noise rejects on each at 5% before any correction.
    from lstm_study.forecast.volatility import qlike, seed_tests

    meta, arrays = sweep.load_results()
    full = meta["inputs"][sweep.FULL]
    assert set(full) > set(meta["inputs"]["returns only"])
    for ticker in sweep.TICKERS:
        proxy = arrays[f"{ticker}__actual"]
        with_inputs = arrays[sweep.run_key(ticker, sweep.FULL)]
        returns_only = arrays[sweep.run_key(ticker, "returns only")]
        for k in range(sweep.SEEDS):
            gain = qlike(proxy, returns_only[k]) - qlike(proxy, with_inputs[k])
            assert gain.mean() > 0, (ticker, k)
        result = seed_tests(proxy, with_inputs, returns_only)
        assert result.agreeing == sweep.SEEDS and result.averaged.statistic < 0
        assert result.across_seeds.p_value < 0.01, ticker
