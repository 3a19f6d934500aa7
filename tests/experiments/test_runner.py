"""The sweep runner: declared keys, resumable, atomic, refusing to mix sweeps; the statistics."""

from __future__ import annotations

import json

import pytest

from lstm_study.errors import ConfigError
from lstm_study.experiments import stats
from lstm_study.experiments.runner import Sweep, entries, entry, grid, load, run_sweep

CALLS: list[dict] = []


def square(*, x: int, seed: int, scale: float = 1.0) -> dict:
    CALLS.append({"x": x, "seed": seed})
    return {"score": scale * x * x + seed}


def fails_at_three(*, x: int, seed: int) -> dict:
    if x == 3:
        raise KeyboardInterrupt  # as Ctrl-C would, in the middle of the sweep
    return {"score": x}


def _sweep(function=square, **settings) -> Sweep:
    return Sweep("squares", function, grid(x=[1, 2, 3, 4], seed=[0, 1]), settings)


def test_grid_crosses_the_axes_with_the_last_fastest():
    assert grid(a=[1, 2], b=["p", "q"]) == (
        {"a": 1, "b": "p"},
        {"a": 1, "b": "q"},
        {"a": 2, "b": "p"},
        {"a": 2, "b": "q"},
    )
    with pytest.raises(ConfigError, match="empty"):
        grid(a=[])


def test_a_sweep_runs_every_key_once_and_records_where_and_how(tmp_path):
    CALLS.clear()
    path = tmp_path / "squares.json"
    results = run_sweep(_sweep(scale=2.0), path, command="cmd", progress=False)
    assert load(path) == results
    assert len(results["runs"]) == 8 and len(CALLS) == 8
    assert entry(results, x=3, seed=1)["score"] == 2.0 * 9 + 1
    assert [run["key"]["seed"] for run in entries(results, x=2)] == [0, 1]
    session = results["sessions"][0]
    assert session["runs"] == 8 and session["command"] == "cmd" and session["cpu"]
    assert results["settings"] == {"scale": 2.0}
    # run again: nothing to do, nothing run, the file unchanged
    before = path.read_bytes()
    run_sweep(_sweep(scale=2.0), path, command="cmd", progress=False)
    assert len(CALLS) == 8 and path.read_bytes() == before


def test_an_interrupted_sweep_keeps_its_finished_runs_and_resumes(tmp_path):
    path = tmp_path / "squares.json"
    with pytest.raises(KeyboardInterrupt):
        run_sweep(_sweep(fails_at_three), path, command="cmd", progress=False)
    kept = load(path)
    assert [run["key"]["x"] for run in kept["runs"]] == [1, 1, 2, 2]
    assert not list(tmp_path.glob(".*.tmp"))  # no temporary left behind
    CALLS.clear()
    resumed = run_sweep(_sweep(), path, command="again", progress=False)
    assert [run["key"]["x"] for run in resumed["runs"]] == [1, 1, 2, 2, 3, 3, 4, 4]
    assert {(call["x"], call["seed"]) for call in CALLS} == {
        (3, 0),
        (3, 1),
        (4, 0),
        (4, 1),
    }
    assert [s["command"] for s in resumed["sessions"]] == ["cmd", "again"]


def test_a_limit_runs_a_slice(tmp_path):
    path = tmp_path / "squares.json"
    assert (
        len(run_sweep(_sweep(), path, command="c", limit=3, progress=False)["runs"])
        == 3
    )
    assert len(run_sweep(_sweep(), path, command="c", progress=False)["runs"]) == 8


def test_another_sweep_or_other_settings_or_a_foreign_file_are_refused(tmp_path):
    path = tmp_path / "squares.json"
    run_sweep(_sweep(), path, command="c", limit=1, progress=False)
    with pytest.raises(ConfigError, match="another sweep"):
        run_sweep(_sweep(scale=3.0), path, command="c", progress=False)
    other = Sweep("cubes", square, grid(x=[1], seed=[0]))
    with pytest.raises(ConfigError, match="another sweep"):
        run_sweep(other, path, command="c", progress=False)
    foreign = tmp_path / "foreign.json"
    foreign.write_text(json.dumps({"runs": []}))
    with pytest.raises(ConfigError, match="not a sweep results file"):
        run_sweep(_sweep(), foreign, command="c", progress=False)
    with pytest.raises(ConfigError, match="no run with key"):
        entry(load(path), x=9, seed=0)


def test_a_sweep_may_not_declare_a_run_twice_or_a_setting_as_a_key():
    with pytest.raises(ConfigError, match="twice"):
        Sweep("s", square, ({"x": 1, "seed": 0}, {"seed": 0, "x": 1}))
    with pytest.raises(ConfigError, match="both a key and a setting"):
        Sweep("s", square, ({"x": 1, "seed": 0},), {"x": 2})


def test_the_statistics_match_their_textbook_values():
    assert stats.solved_interval(0, 10)[0] == 0.0
    low, high = stats.solved_interval(5, 10)
    assert low == pytest.approx(0.1871, abs=1e-4) and high == pytest.approx(
        0.8129, abs=1e-4
    )
    assert stats.fisher(4, 5, 1, 5) == pytest.approx(0.2063, abs=1e-4)
    assert stats.fisher(10, 10, 0, 10) < 1e-4
    assert stats.holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    low, high = stats.interval([1.0, 2.0, 3.0, 4.0, 5.0])
    assert low < 3 < high
    assert stats.interval([2.0, 2.0]) == (2.0, 2.0)
    assert stats.rank_test(range(10), range(10, 20)) < 0.001


def test_the_verdict_words_follow_the_adjusted_p_value_and_the_direction():
    low, high = [1.0, 2.0, 3.0], [4.0, 5.0, 6.0]
    assert stats.verdict(low, high, 0.01) == "better"
    assert stats.verdict(low, high, 0.01, lower_is_better=False) == "worse"
    assert stats.verdict(high, low, 0.01) == "worse"
    assert stats.verdict(low, high, 0.2) == "no difference detected with n = 3"
    with pytest.raises(ConfigError):
        stats.verdict([float("nan")], high, 0.01)
