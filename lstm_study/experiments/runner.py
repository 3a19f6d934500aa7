"""A sweep declared as data, run by a kept command, resumable, written atomically after each batch.

A :class:`Sweep` names a module-level function and the keys it runs on (models × tasks ×
learning rates × seeds × settings, one dict per run). Each run is a pure function of its key
and the sweep's settings: ``function(**settings, **key) -> dict`` of JSON-ready scores. So any
entry can be re-run alone, in a chapter (the live slice) or a test, and give the same numbers
on the same machine.

:func:`run_sweep` runs the keys not yet in the results file, a batch at a time on the cores
(:func:`lstm_study.parallel.run_all`: bit-identical to running them one after another), and
after each batch rewrites the whole file atomically, stamped with the command, the machine and
the seconds spent. Stopped by Ctrl-C, a full disk or a killed process, it loses at most the
batch under way; run again, it takes up where the file stops. A file written by another sweep,
or by this one with other settings, is refused rather than mixed in.
"""

from __future__ import annotations

import json
import math
import statistics
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import torch
from tqdm import tqdm

from lstm_study.errors import ConfigError
from lstm_study.files import write_atomically
from lstm_study.machine import cpu_description
from lstm_study.parallel import run_all, worker_count

#: bumped when the file's layout changes
FORMAT = 1


@dataclass(frozen=True)
class Sweep:
    """``function(**settings, **key)`` for every key in ``keys``; its results go to one file."""

    name: str
    function: Callable[..., dict[str, Any]]
    keys: tuple[dict[str, Any], ...]
    settings: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        seen = {key_id(key) for key in self.keys}
        if len(seen) != len(self.keys):
            raise ConfigError(f"sweep {self.name!r} declares a run twice")
        clash = {name for key in self.keys for name in key} & set(self.settings)
        if clash:
            raise ConfigError(
                f"sweep {self.name!r}: {sorted(clash)} is both a key and a setting"
            )


def key_id(key: dict[str, Any]) -> str:
    """One run's key as a canonical string (sorted JSON), to find it in a results file."""
    return json.dumps(key, sort_keys=True)


def grid(**axes: Iterable[Any]) -> tuple[dict[str, Any], ...]:
    """Every combination of the axes, the last varying fastest: ``grid(lr=[...], seed=[...])``."""
    keys: list[dict[str, Any]] = [{}]
    for name, values in axes.items():
        values = list(values)
        if not values:
            raise ConfigError(f"the axis {name!r} is empty")
        keys = [{**key, name: value} for key in keys for value in values]
    return tuple(keys)


def load(path: Path | str) -> dict[str, Any]:
    """A results file written by :func:`run_sweep`, with a clear error when it is not one."""
    path = Path(path)
    try:
        results = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise ConfigError(f"{path} cannot be read as sweep results ({error})") from None
    if not isinstance(results, dict) or results.get("format") != FORMAT:
        raise ConfigError(f"{path} is not a sweep results file of format {FORMAT}")
    return results


def _started(sweep: Sweep, path: Path, command: str) -> dict[str, Any]:
    """The results so far: the file's, if it is this sweep's, else a fresh record."""
    if path.exists():
        results = load(path)
        if results.get("sweep") != sweep.name or results.get("settings") != _jsonable(
            sweep.settings
        ):
            raise ConfigError(
                f"{path} holds another sweep ({results.get('sweep')!r}) or other settings; "
                "name another file, or delete it to start again"
            )
        return results
    return {
        "format": FORMAT,
        "sweep": sweep.name,
        "function": f"{sweep.function.__module__}.{sweep.function.__qualname__}",
        "settings": _jsonable(sweep.settings),
        "command": command,
        "sessions": [],
        "runs": [],
    }


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value))


def run_sweep(
    sweep: Sweep,
    path: Path | str,
    *,
    command: str,
    limit: int | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """Run the keys of ``sweep`` missing from ``path``; rewrite ``path`` after each batch.

    ``limit`` stops after that many new runs (a sweep can be run in slices). Returns the
    results as written. Each session (one call) is recorded with the machine, the command,
    when it started and ended, and how many runs it added.
    """
    path = Path(path)
    results = _started(sweep, path, command)
    done = {key_id(run["key"]) for run in results["runs"]}
    todo = [key for key in sweep.keys if key_id(key) not in done]
    if limit is not None:
        todo = todo[:limit]
    session = {
        "command": command,
        "cpu": cpu_description()["name"],
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "torch": torch.__version__,
        "workers": worker_count(),
        "started": datetime.now(UTC).isoformat(timespec="seconds"),
        "ended": None,
        "runs": 0,
        "seconds": 0.0,
    }
    results["sessions"].append(session)
    batch = max(1, worker_count())
    began = time.monotonic()
    with tqdm(total=len(todo), desc=sweep.name, disable=not progress) as bar:
        for start in range(0, len(todo), batch):
            keys = todo[start : start + batch]
            scores = run_all(
                sweep.function, [{**sweep.settings, **key} for key in keys]
            )
            for key, score in zip(keys, scores, strict=True):
                results["runs"].append({"key": key, **_jsonable(score)})
            session["runs"] += len(keys)
            session["seconds"] = round(time.monotonic() - began, 1)
            session["ended"] = datetime.now(UTC).isoformat(timespec="seconds")
            write_atomically(
                path, json.dumps(results, indent=1) + "\n", "the sweep results"
            )
            bar.update(len(keys))
    if not todo:  # nothing new to run: the file stays as it was
        results["sessions"].pop()
    return results


def entries(results: dict[str, Any], **match: Any) -> list[dict[str, Any]]:
    """The runs whose key holds every ``name=value`` of ``match``, in the file's order."""
    return [
        run
        for run in results["runs"]
        if all(run["key"].get(name) == value for name, value in match.items())
    ]


def entry(results: dict[str, Any], **key: Any) -> dict[str, Any]:
    """The one run with exactly this key (the live slice's committed twin)."""
    wanted = key_id(key)
    for run in results["runs"]:
        if key_id(run["key"]) == wanted:
            return run
    raise ConfigError(f"no run with key {wanted} in the results")


def run_two_stages(
    tune: Sweep,
    make_test: Callable[[dict[str, Any]], Sweep],
    tune_path: Path,
    test_path: Path,
    *,
    command: str,
    limit: int | None = None,
) -> str:
    """Run a tuning sweep, then the test sweep its results choose; say where each stands.

    ``make_test(tuned)`` builds the test sweep from the finished tuning results (the rates
    they choose). ``limit`` counts the new runs of both stages together.
    """
    before = len(load(tune_path)["runs"]) if tune_path.exists() else 0
    tuned = run_sweep(tune, tune_path, command=command, limit=limit)
    left = None if limit is None else limit - (len(tuned["runs"]) - before)
    if len(tuned["runs"]) < len(tune.keys) or left == 0:
        return (
            f"tuning: {len(tuned['runs'])} of {len(tune.keys)} runs in {tune_path}; "
            "run again to go on"
        )
    test = make_test(tuned)
    tested = run_sweep(test, test_path, command=command, limit=left)
    return (
        f"tuning: {len(tuned['runs'])} runs in {tune_path}; "
        f"test: {len(tested['runs'])} of {len(test.keys)} runs in {test_path}"
    )


def median_score(runs: list[dict[str, Any]], name: str, worst: float) -> float:
    """The median of ``name`` over ``runs``, a diverged run (NaN) counting as ``worst``."""
    return statistics.median(
        worst if math.isnan(run[name]) else run[name] for run in runs
    )


def best_rate(
    tuned: dict[str, Any],
    cell: dict[str, Any],
    rates: Iterable[float],
    seeds: int,
    rank: Callable[[list[dict[str, Any]]], Any],
    sweep: str,
) -> float:
    """The rate whose tuning runs of ``cell`` rank lowest by ``rank(runs)``.

    Every rate must hold ``seeds`` runs of the cell; otherwise the tuning stage is
    unfinished and the error says to run ``lstm-study sweep SWEEP`` again.
    """
    ranks = {}
    for lr in rates:
        runs = entries(tuned, **cell, lr=lr)
        if len(runs) != seeds:
            raise ConfigError(
                f"the tuning sweep is unfinished ({cell}, lr {lr}); "
                f"run 'lstm-study sweep {sweep}' again"
            )
        ranks[lr] = rank(runs)
    return min(ranks, key=ranks.__getitem__)
