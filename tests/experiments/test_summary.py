"""Solved counts, medians with intervals, Fisher's test with Holm and its verdict words."""

from __future__ import annotations

import math

import pytest

from lstm_study.errors import ConfigError
from lstm_study.experiments.summary import compare, median_interval, summarise


def _runs(solved: int, failed: int, diverged: int = 0) -> list[dict]:
    good = [{"mse": 1e-4 * (k + 1), "solved": True} for k in range(solved)]
    bad = [{"mse": 0.16 + 1e-3 * k, "solved": False} for k in range(failed)]
    lost = [{"mse": math.nan, "solved": False, "diverged": True}] * diverged
    return good + bad + lost


def test_a_group_is_summarised_with_its_intervals():
    row = summarise(_runs(7, 3))
    assert (row["runs"], row["solved"], row["diverged"]) == (10, 7, 0)
    # Clopper-Pearson for 7/10: (0.348, 0.933)
    assert row["solved_low"] == pytest.approx(0.3475, abs=1e-3)
    assert row["solved_high"] == pytest.approx(0.9333, abs=1e-3)
    assert row["median"] == pytest.approx(0.00055)
    assert row["median_low"] <= row["median"] <= row["median_high"]


def test_a_diverged_run_counts_as_unsolved_and_worst():
    row = summarise(_runs(1, 0, diverged=2))
    assert (row["solved"], row["diverged"], row["median"]) == (1, 2, math.inf)


def test_the_median_interval_is_a_point_for_equal_values_and_refuses_nan():
    assert median_interval([0.2] * 5) == (0.2, 0.2)
    low, high = median_interval([1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0])
    assert 1.0 <= low < 5.5 < high <= 10.0
    with pytest.raises(ConfigError):
        median_interval([1.0, math.nan])
    with pytest.raises(ConfigError):
        median_interval([1.0])


def test_comparisons_are_adjusted_together_and_say_only_what_holds():
    groups = {"all": _runs(10, 0), "none": _runs(0, 10), "some": _runs(3, 7)}
    rows = compare(groups, [("all", "none"), ("none", "all"), ("some", "none")])
    assert [r["verdict"] for r in rows] == [
        "better",
        "worse",
        "no difference detected with n = 10",
    ]
    assert rows[0]["p"] == pytest.approx(2 / 184756)  # two-sided: 2 / C(20, 10)
    # Holm: the smallest of three p-values times 3, the next times 2
    assert rows[0]["p_holm"] == pytest.approx(3 * rows[0]["p"])
    assert rows[1]["p_holm"] == pytest.approx(3 * rows[0]["p"])
    assert rows[2]["p_holm"] == pytest.approx(min(1.0, rows[2]["p"]))
    assert (rows[2]["solved_a"], rows[2]["solved_b"]) == (3, 0)
    # alone, 8/10 against 1/10 is a difference; among many, Holm may take it away
    alone = compare({"a": _runs(8, 2), "b": _runs(1, 9)}, [("a", "b")])
    assert alone[0]["verdict"] == "better" and alone[0]["p"] < 0.01


def test_unknown_groups_are_refused():
    with pytest.raises(ConfigError, match="no runs"):
        compare({"a": _runs(1, 1)}, [("a", "b")])
    assert compare({"a": _runs(1, 1)}, []) == []
    with pytest.raises(ConfigError, match="no runs"):
        summarise([])


def test_rank_pairs_join_the_holm_family_and_compare_errors():
    low = [{"mse": 1e-4 * (k + 1), "solved": True} for k in range(10)]
    high = [{"mse": 1e-2 + 1e-4 * k, "solved": True} for k in range(10)]
    groups = {"low": low, "high": high, "some": _runs(3, 7)}
    rows = compare(groups, [("some", "low")], rank_pairs=[("low", "high")])
    assert [r["test"] for r in rows] == ["Fisher, solved", "Mann-Whitney, mse"]
    # all ten of one side below all ten of the other (scipy's normal approximation)
    assert rows[1]["p"] < 1e-3
    assert rows[1]["p_holm"] == pytest.approx(2 * rows[1]["p"])
    assert rows[1]["verdict"] == "better"  # lower error is better
    assert (rows[1]["solved_a"], rows[1]["solved_b"]) == (10, 10)
    flipped = compare(groups, [], rank_pairs=[("high", "low")])
    assert flipped[0]["verdict"] == "worse"
    with pytest.raises(ConfigError, match="no runs"):
        compare(groups, [], rank_pairs=[("low", "nowhere")])
