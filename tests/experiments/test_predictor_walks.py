"""The committed walks of chapter 10 are those the command would run now, and it resumes."""

from __future__ import annotations

import json

import pytest

from lstm_study.data import load_prices
from lstm_study.experiments import predictor_walks as pw


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
        assert (
            len(entry["seed_ratios" if "seed_ratios" in entry else "seed_step_ratios"])
            == 3
        )


def test_a_finished_entry_is_not_run_again(tmp_path, monkeypatch, prices):
    path = tmp_path / "walks.json"
    record = pw.load()
    path.write_text(json.dumps(record))

    def refuse(*args, **kwargs):
        raise AssertionError("a committed entry was walked again")

    monkeypatch.setattr(pw, "walk_forward", refuse)
    assert pw.run(path, progress=False)["entries"] == record["entries"]
