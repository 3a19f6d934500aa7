"""Independent trainings on the machine's other cores: a process pool, bit-identical to a loop.

The book's models train on one thread (:func:`lstm_study.runtime.seed_everything` says why),
so on a 2-core machine one core sits idle while a chapter trains its seeds one after another.
:func:`run_all` hands such independent calls (one per seed) to a small pool of worker
processes instead, each running PyTorch with the caller's thread count, and returns their
results in the order given. Each call sees the same inputs, seed and thread count as it would
in the caller's process, on the same processor and vector kernels (workers inherit the
environment, ``ATEN_CPU_CAPABILITY`` included), so the results are the same to the last bit;
``tests/test_parallel.py`` checks that on a whole walk-forward.

How many workers: ``LSTM_STUDY_WORKERS`` if set (``1`` turns the pool off), otherwise as many
as the cores this process may use divided by its thread count. With one worker, one call, or
a GPU, the calls run here, one after another. Workers are started once (``spawn``: each
imports the package afresh, about two seconds) and kept for the life of the process. A script
that calls this must guard its entry point with ``if __name__ == "__main__":``, as every
``multiprocessing`` program must (each worker imports the script): where a worker dies at
start for that reason or any other, the calls run here instead, after one warning.
"""

from __future__ import annotations

import atexit
import multiprocessing
import os
import random
import signal
import threading
import time
import warnings
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any

import numpy as np
import torch

from lstm_study.arguments import available_cores
from lstm_study.errors import ConfigError

#: environment variable that fixes the number of worker processes (1: run every call here)
ENVIRONMENT = "LSTM_STUDY_WORKERS"

_pool: ProcessPoolExecutor | None = None
_pool_size = 0


def usable_cores() -> int:
    """The cores this process may run on (its CPU affinity where the OS tells it)."""
    return available_cores()


def worker_count() -> int:
    """How many processes :func:`run_all` uses: ``LSTM_STUDY_WORKERS``, else cores / threads."""
    text = os.environ.get(ENVIRONMENT)
    if text is not None:
        try:
            count = int(text)
        except ValueError:
            count = 0
        if not 1 <= count <= 256:
            raise ConfigError(
                f"{ENVIRONMENT}={text!r}: give a whole number of worker processes from "
                "1 (none: run here) to 256, or unset it"
            )
        return count
    return max(1, usable_cores() // max(1, torch.get_num_threads()))


def _shutdown() -> None:
    global _pool, _pool_size
    if _pool is not None:
        _pool.shutdown(wait=True, cancel_futures=True)
    _pool, _pool_size = None, 0


def _stop_workers() -> None:
    """End the pool now, its running calls included (they ignore Ctrl-C: see _worker_start)."""
    global _pool, _pool_size
    if _pool is not None:
        processes = getattr(_pool, "_processes", None) or {}  # pid -> Process
        for process in list(processes.values()):
            process.terminate()
        _pool.shutdown(wait=False, cancel_futures=True)
    _pool, _pool_size = None, 0


def _worker_start() -> None:
    """Leave Ctrl-C to the caller, and end with it.

    A terminal's Ctrl-C, or a Jupyter kernel interrupted or shut down, signals the whole
    process group: each worker printed a KeyboardInterrupt traceback of its own. The caller
    stops the workers instead (run_each). A caller killed outright (SIGKILL, the
    out-of-memory killer) cannot: its idle workers would wait for work forever, so each
    worker watches its parent and exits when it is gone.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1.0)
        os._exit(1)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def _executor(size: int) -> ProcessPoolExecutor:
    """The process's pool of ``size`` workers, started on first use and kept."""
    global _pool, _pool_size
    if _pool is None or _pool_size != size:
        _shutdown()
        # spawn, not fork: a fork of a process that has run OpenMP threads can deadlock
        context = multiprocessing.get_context("spawn")
        _pool = ProcessPoolExecutor(size, mp_context=context, initializer=_worker_start)
        _pool_size = size
    return _pool


atexit.register(_shutdown)


def _warm() -> None:
    """Import what a worker's first training call needs: the package's training code, and
    what PyTorch's optimisers import on their first use (torch._dynamo, over a second)."""
    import lstm_study.forecast  # noqa: F401

    torch.optim.Adam([torch.zeros(1, requires_grad=True)])


def start(at_most: int = 4) -> None:
    """Start up to ``at_most`` workers now, in the background, so that the first
    :func:`run_all` finds them ready: each imports what a training call needs (a few
    seconds) while the caller goes on.

    The pool is the one :func:`run_all` uses (:func:`worker_count` at most); it starts more
    workers later only as calls need them. Nothing happens where :func:`run_all` would run
    its calls here (one worker).
    """
    size = worker_count()
    if size <= 1:
        return
    pool = _executor(size)
    for _ in range(min(size, max(1, at_most))):
        pool.submit(_warm)


def _call(threads: int, function: Callable[..., Any], kwargs: dict[str, Any]) -> Any:
    """Run one call in a worker with the caller's thread count (and no pool of its own)."""
    os.environ[ENVIRONMENT] = "1"  # a worker never starts workers
    if torch.get_num_threads() != threads:
        torch.set_num_threads(threads)
    return function(**kwargs)


class Pending:
    """One call handed to a worker by :func:`submit`; :meth:`result` waits for its value."""

    def __init__(self, function: Callable[..., Any], kwargs: dict[str, Any]) -> None:
        self._call = (function, kwargs)
        self._futures: list[Future] | None = None
        if worker_count() > 1:
            self._futures = _submit([self._call])

    def result(self) -> Any:
        """The call's value: from its worker, or computed here now where there is none."""
        if self._futures is None:
            return _here(*self._call)
        return _collect(self._futures, [self._call])[0]


def submit(function: Callable[..., Any], **kwargs: Any) -> Pending:
    """Start ``function(**kwargs)`` in a worker now and return at once (see :class:`Pending`).

    For a long computation that a later cell needs: the caller goes on meanwhile. Where
    :func:`run_all` would run here (one worker), the call is made when its result is asked
    for, leaving the caller's random state and thread count as they were.
    """
    return Pending(function, kwargs)


def run_all(
    function: Callable[..., Any],
    calls: Sequence[dict[str, Any]],
    *,
    device: torch.device | None = None,
) -> list[Any]:
    """``[function(**kwargs) for kwargs in calls]``, spread over worker processes.

    ``function`` and every argument must pickle (a module-level function, arrays, configs);
    results come back in the order of ``calls``. An exception in a call is raised here.
    """
    return run_each([(function, kwargs) for kwargs in calls], device=device)


def _here(function: Callable[..., Any], kwargs: dict[str, Any]) -> Any:
    """Run one call here, leaving random state and thread count as a worker would: untouched."""
    python_state, numpy_state = random.getstate(), np.random.get_state()
    threads = torch.get_num_threads()
    with torch.random.fork_rng(devices=[]):
        try:
            return function(**kwargs)
        finally:
            random.setstate(python_state)
            np.random.set_state(numpy_state)
            torch.set_num_threads(threads)


def run_each(
    calls: Sequence[tuple[Callable[..., Any], dict[str, Any]]],
    *,
    device: torch.device | None = None,
) -> list[Any]:
    """``[function(**kwargs) for function, kwargs in calls]``, spread over worker processes.

    Either way the caller's random state (``random``, NumPy's, PyTorch's on the CPU) and
    thread count are left as they were: a call that sets them sets its own copy.
    """
    size = min(worker_count(), len(calls))
    if size <= 1 or (device is not None and device.type != "cpu"):
        return [_here(function, kwargs) for function, kwargs in calls]
    return _collect(_submit(calls), calls)


def _submit(calls: Sequence[tuple[Callable[..., Any], dict[str, Any]]]) -> list[Future]:
    """Hand ``calls`` to the pool, with the caller's thread count."""
    threads = torch.get_num_threads()
    # one pool of worker_count() for every call: it spawns workers only as calls need
    # them, and is not restarted when the next batch has another size
    pool = _executor(worker_count())
    return [pool.submit(_call, threads, f, kwargs) for f, kwargs in calls]


def _collect(
    futures: list[Future], calls: Sequence[tuple[Callable[..., Any], dict[str, Any]]]
) -> list[Any]:
    """The calls' values from their workers. Ctrl-C ends the workers; where they could
    not run, the calls run here instead, one after another, after one warning."""
    try:
        return [future.result() for future in futures]
    except KeyboardInterrupt:
        _stop_workers()
        raise
    except BrokenProcessPool as error:
        _shutdown()
        os.environ[ENVIRONMENT] = "1"  # do not start workers again in this process
        warnings.warn(
            f"worker processes could not run ({error}); training here instead, one call "
            "after another. A script must guard its entry point with "
            "`if __name__ == '__main__':` for the workers to start; "
            f"{ENVIRONMENT}=1 turns them off",
            RuntimeWarning,
            stacklevel=4,
        )
        return [_here(function, kwargs) for function, kwargs in calls]
