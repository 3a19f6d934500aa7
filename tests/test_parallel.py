"""run_all: the same results as a loop, in order, with the caller's thread count and errors."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from lstm_study import parallel
from lstm_study.errors import ConfigError
from lstm_study.forecast.backtest import walk_forward
from lstm_study.runtime import seed_everything
from tests.forecast.conftest import price_table, tiny_config


@pytest.fixture
def two_workers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(parallel.ENVIRONMENT, "2")


def test_results_come_back_in_order(two_workers: None) -> None:
    calls = [{"value": n} for n in range(5)]
    assert parallel.run_all(dict, calls) == calls


def test_workers_run_with_the_callers_thread_count(two_workers: None) -> None:
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        assert parallel.run_all(torch.get_num_threads, [{}, {}]) == [1, 1]
        torch.set_num_threads(2)
        assert parallel.run_all(torch.get_num_threads, [{}, {}]) == [2, 2]
    finally:
        torch.set_num_threads(before)


def test_an_error_in_a_worker_is_raised_here(two_workers: None) -> None:
    with pytest.raises(TypeError):
        parallel.run_all(int, [{}, {"base": 10}])


@pytest.mark.parametrize("text", ["0", "two", "-1", "1000"])
def test_a_bad_worker_count_is_refused(
    monkeypatch: pytest.MonkeyPatch, text: str
) -> None:
    monkeypatch.setenv(parallel.ENVIRONMENT, text)
    with pytest.raises(ConfigError, match=parallel.ENVIRONMENT):
        parallel.worker_count()


def test_the_default_divides_the_cores_by_the_threads(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(parallel.ENVIRONMENT, raising=False)
    monkeypatch.setattr(parallel, "usable_cores", lambda: 4)
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        assert parallel.worker_count() == 2
        torch.set_num_threads(8)
        assert parallel.worker_count() == 1
    finally:
        torch.set_num_threads(before)


def test_a_walk_forward_is_bit_identical_in_workers(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Three seeds trained in two workers give the forecasts of three trained here."""
    frame = price_table(300)
    config = tiny_config(seeds=3)
    monkeypatch.setenv(parallel.ENVIRONMENT, "1")
    here = walk_forward(frame, config, progress=False)
    monkeypatch.setenv(parallel.ENVIRONMENT, "2")
    spread = walk_forward(frame, config, progress=False)
    assert np.array_equal(here.seed_forecasts, spread.seed_forecasts)
    assert np.array_equal(here.forecasts["lstm"], spread.forecasts["lstm"])
    assert not np.array_equal(spread.seed_forecasts[0], spread.seed_forecasts[1])


def test_a_worker_starts_no_workers_of_its_own(two_workers: None) -> None:
    assert parallel.run_all(parallel.worker_count, [{}, {}]) == [1, 1]


def test_an_unguarded_script_trains_here_after_one_warning(tmp_path) -> None:
    """Spawned workers import the script; without a main guard they die, and the calls run here."""
    script = tmp_path / "unguarded.py"
    script.write_text(
        "from lstm_study import parallel\n"
        "print(parallel.run_all(dict, [{'n': 1}, {'n': 2}]))\n"
    )
    env = {**os.environ, parallel.ENVIRONMENT: "2"}
    done = subprocess.run(
        [sys.executable, str(script)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "[{'n': 1}, {'n': 2}]"
    assert done.stderr.count("training here instead") == 1
    assert "__name__ == '__main__'" in done.stderr


def test_different_functions_run_in_one_pool(two_workers: None) -> None:
    calls = [(dict, {"a": 1}), (torch.get_num_threads, {}), (dict, {"b": 2})]
    assert parallel.run_each(calls) == [{"a": 1}, torch.get_num_threads(), {"b": 2}]


@pytest.mark.parametrize("workers", ["1", "2"])
def test_the_callers_random_state_is_left_alone(
    monkeypatch: pytest.MonkeyPatch, workers: str
) -> None:
    monkeypatch.setenv(parallel.ENVIRONMENT, workers)
    torch.manual_seed(7)
    np.random.seed(7)
    expected = (torch.rand(1).item(), np.random.rand())
    torch.manual_seed(7)
    np.random.seed(7)
    parallel.run_all(seed_everything, [{"seed": 0}, {"seed": 1}])
    assert (torch.rand(1).item(), np.random.rand()) == expected


def _default_sigint() -> None:
    """In the child, before exec: SIGINT back to its default action."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_ctrl_c_reaches_the_caller_and_no_idle_worker(tmp_path) -> None:
    """A Ctrl-C, or a Jupyter kernel interrupted or shut down, signals the whole process
    group; idle workers printed a KeyboardInterrupt traceback each. Now only the caller does."""
    script = tmp_path / "interrupted.py"
    script.write_text(
        "import subprocess, time\n"
        "from lstm_study import parallel\n"
        "if __name__ == '__main__':\n"
        "    # two calls of 2 s: each worker takes one, so both have started; the pool\n"
        "    # then stays, idle\n"
        "    parallel.run_all(subprocess.run, [{'args': ['sleep', '2']}] * 2)\n"
        "    print('ready', flush=True)\n"
        "    time.sleep(60)\n"
    )
    env = {**os.environ, parallel.ENVIRONMENT: "2"}
    child = subprocess.Popen(
        [sys.executable, str(script)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        start_new_session=True,
        # a Python started with SIGINT ignored (a background job of a shell script, as
        # `cmd &` makes it) never raises KeyboardInterrupt: give the child the default
        preexec_fn=_default_sigint,
    )
    try:
        assert child.stdout.readline().strip() == "ready"
        os.killpg(child.pid, signal.SIGINT)
        _, stderr = child.communicate(timeout=30)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(child.pid, signal.SIGKILL)
    assert child.returncode != 0
    assert stderr.count("KeyboardInterrupt") == 1, stderr  # the caller's, no worker's
    assert "SpawnProcess" not in stderr


def test_workers_end_when_their_caller_is_killed(tmp_path) -> None:
    """A caller killed with SIGKILL leaves no worker waiting for work forever."""
    script = tmp_path / "killed.py"
    script.write_text(
        "import os, subprocess, time\n"
        "from lstm_study import parallel\n"
        "if __name__ == '__main__':\n"
        "    parallel.run_all(subprocess.run, [{'args': ['sleep', '2']}] * 2)\n"
        "    print(' '.join(str(p) for p in parallel._pool._processes), flush=True)\n"
        "    time.sleep(60)\n"
    )
    env = {**os.environ, parallel.ENVIRONMENT: "2"}
    child = subprocess.Popen(
        [sys.executable, str(script)], stdout=subprocess.PIPE, text=True, env=env
    )
    workers = [int(pid) for pid in child.stdout.readline().split()]
    assert len(workers) == 2
    child.kill()
    child.wait(timeout=10)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and any(_alive(pid) for pid in workers):
        time.sleep(0.2)
    assert not any(_alive(pid) for pid in workers), "a worker outlived its caller"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie has ended; only its parent (init here) has not reaped it yet
    with contextlib.suppress(OSError):
        if Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z":
            return False
    return True


def test_started_workers_are_the_ones_the_calls_use(two_workers: None) -> None:
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        parallel.start()
        pool = parallel._pool
        assert pool is not None
        assert parallel.run_all(dict, [{"a": 1}, {"a": 2}, {"a": 3}]) == [
            {"a": 1},
            {"a": 2},
            {"a": 3},
        ]
        assert parallel.run_all(dict, [{"b": 1}, {"b": 2}]) == [{"b": 1}, {"b": 2}]
        assert parallel._pool is pool, "a batch of another size keeps the pool"
    finally:
        torch.set_num_threads(before)


def test_start_does_nothing_with_one_worker(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(parallel.ENVIRONMENT, "1")
    parallel._shutdown()
    parallel.start()
    assert parallel._pool is None


def test_a_submitted_call_runs_in_a_worker_and_gives_its_value(
    two_workers: None,
) -> None:
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        pending = parallel.submit(os.getpid)
        other = parallel.submit(dict, a=1)
        assert pending.result() != os.getpid() and other.result() == {"a": 1}
        with pytest.raises(TypeError):
            parallel.submit(int, base=10).result()
    finally:
        torch.set_num_threads(before)


def test_without_workers_a_submitted_call_runs_when_asked_and_leaves_the_seed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(parallel.ENVIRONMENT, "1")
    pending = parallel.submit(torch.rand, size=(3,))
    torch.manual_seed(7)
    drawn = pending.result()
    assert drawn.shape == (3,)
    after = torch.rand(3)
    torch.manual_seed(7)
    assert torch.equal(after, torch.rand(3)), "the caller's random state is untouched"
