"""The committed walks of chapter 10 are those the command would run now, and it resumes."""

from __future__ import annotations

import json
from dataclasses import fields, replace

import numpy as np
import pandas as pd
import pytest

from lstm_study.data import load_prices
from lstm_study.errors import ConfigError
from lstm_study.experiments import predictor_walks as pw
from lstm_study.forecast import walk_forward
from tests.forecast.conftest import price_table, tiny_config


@pytest.fixture(scope="module")
def prices():
    return load_prices(["AAPL", "GOOG", "IBM", "MSFT"], source="snapshot")


def test_the_committed_entries_have_the_settings_the_command_uses(prices):
    record = pw.load()
    assert record["command"] == pw.COMMAND and record["complete"]
    for name, (ticker, config, future, _) in pw.walks(prices).items():
        entry = record["entries"][name]
        assert entry["settings"] == pw.settings(ticker, config, future), name
        assert entry["machine"]["cpu"]["name"] and entry["seconds"] > 0
        seeds = pw.MSFT_SEEDS if name == "MSFT" else 3
        ratios = entry["seed_ratios" if "seed_ratios" in entry else "seed_step_ratios"]
        assert len(ratios) == seeds, name
    kept = pw.load_seeds()
    assert (
        set(kept) == set(pw.KEEP_SEEDS)
        and pw.seeds_path(pw.RESULTS) == pw.SEEDS_RESULTS
    )
    for name, entry in kept.items():
        assert entry["settings"] == record["entries"][name]["settings"]
        assert entry["seeds"] == len(entry["seed_forecasts"]) == pw.MSFT_SEEDS


def test_a_finished_entry_is_not_run_again(tmp_path, monkeypatch, prices):
    path = tmp_path / "walks.json"
    record = pw.load()
    path.write_text(json.dumps(record))
    pw.seeds_path(path).write_bytes(pw.SEEDS_RESULTS.read_bytes())

    def refuse(*args, **kwargs):
        raise AssertionError("a committed entry was walked again")

    monkeypatch.setattr(pw, "walk_forward", refuse)
    assert pw.run(path, progress=False)["entries"] == record["entries"]


def _same(a, b) -> bool:
    """Two values of a walk's fields: arrays equal to the bit (NaN where NaN), the rest ==."""
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if isinstance(a, np.ndarray):
        return np.array_equal(a, b, equal_nan=True)
    if isinstance(a, pd.Index):
        return a.equals(b)
    return a == b


@pytest.mark.parametrize("horizon", [1, 3])
def test_a_walk_restored_from_its_seed_zero_and_record_is_the_walk(horizon):
    frame = price_table(160, seed=4)
    config = tiny_config(seeds=3, horizon=horizon)
    whole = walk_forward(frame, config, progress=False)
    seed_zero = walk_forward(frame, replace(config, seeds=1), progress=False)
    record = json.loads(json.dumps(pw.seed_record(whole), allow_nan=False))
    restored = pw.restore(seed_zero, record)
    assert not _same(seed_zero.seed_forecasts, whole.seed_forecasts)
    for field in fields(whole):
        assert _same(getattr(restored, field.name), getattr(whole, field.name)), (
            field.name
        )


def test_restore_refuses_a_record_of_another_walk():
    frame = price_table(160, seed=4)
    config = tiny_config(seeds=2)
    record = pw.seed_record(walk_forward(frame, config, progress=False))
    with pytest.raises(ConfigError, match="seeds=1"):
        pw.restore(walk_forward(frame, config, progress=False), record)
    shorter = walk_forward(frame.iloc[:-5], replace(config, seeds=1), progress=False)
    with pytest.raises(ConfigError, match="not the same walk"):
        pw.restore(shorter, record)


def test_a_walk_whose_seed_record_is_missing_is_run_again(tmp_path, monkeypatch):
    path = tmp_path / "walks.json"
    path.write_text(json.dumps(pw.load()))

    class Walked(Exception):
        pass

    def walked(*args, ticker=None, **kwargs):
        raise Walked(ticker)

    monkeypatch.setattr(pw, "walk_forward", walked)
    with pytest.raises(Walked, match="MSFT"):
        pw.run(path, progress=False)
