"""Build and load the compiled loop so that a build killed halfway never blocks the next one.

:func:`torch.utils.cpp_extension.load` guards its build folder with a file named ``lock``,
made when a build starts and removed when it ends. A build killed halfway (a Jupyter kernel
restarted during the first chapter, the out-of-memory killer) leaves that file behind, and
every later process waits for it forever. Here every build of ours holds an operating-system
lock (``flock``) on a file of ours in the build folder while it runs; the kernel drops that
lock when its holder dies. So whoever holds it knows that no builder of ours is alive, and a
``lock`` file it finds is stale: it waits for what the dead build left running in the folder
(its ninja and compiler live on when only Python was killed), removes the file, says so once,
and builds. Ninja rebuilds what the dead build left half-written (a file without an entry in
its log); a library that ninja believes finished but that is cut short (its ELF section table
runs past the end of the file) would crash the process that loads it, so it is removed too.
The wait for the lock is bounded (:data:`WAIT_SECONDS`); past it the build gives up with a
:class:`~lstm_study.errors.BuildLockTimeoutError`. Where ``fcntl`` is missing (Windows),
torch's own lock is all there is.
"""

from __future__ import annotations

import os
import shlex
import shutil
import struct
import sys
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from lstm_study.errors import BuildLockTimeoutError, CompilerMissingError

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None

#: how long a process waits for another one's build (a cold build takes about 12 s on 2 cores)
WAIT_SECONDS = 600.0
#: our lock file in the build folder, beside torch's ``lock``
LOCK_NAME = "lstm_study.flock"
#: how often a waiting process looks again
POLL_SECONDS = 0.2


def build_and_load(
    name: str,
    sources: list[str],
    extra_cflags: list[str],
    extra_ldflags: list[str],
    verbose: bool = False,
    wait: float | None = None,
) -> str:
    """Build (if needed) and load an operator library like ``cpp_extension.load``; its path.

    ``wait`` bounds the wait for another process's build (default :data:`WAIT_SECONDS`).
    """
    compiler = os.environ.get("CXX") or "c++"  # the one torch would call
    if shutil.which(shlex.split(compiler)[0] if compiler.strip() else "c++") is None:
        # asked to build without one, torch prints a many-line banner before it fails
        raise CompilerMissingError(
            f"no C++ compiler: {compiler!r} is not on PATH (install g++, or set CXX)"
        )
    from torch.utils import cpp_extension

    # the folder load() itself would choose (a private function, but the one it calls)
    folder = Path(cpp_extension._get_build_directory(name, verbose))
    arguments = dict(
        name=name,
        sources=sources,
        extra_cflags=extra_cflags,
        extra_ldflags=extra_ldflags,
        build_directory=str(folder),
        is_python_module=False,
        verbose=verbose,
    )
    if fcntl is None:
        return cpp_extension.load(**arguments)
    wait = WAIT_SECONDS if wait is None else wait
    deadline = time.monotonic() + wait
    with _held(folder / LOCK_NAME, deadline, wait):
        _clear_dead_build(folder, name, deadline, wait)
        return cpp_extension.load(**arguments)


@contextmanager
def _held(path: Path, deadline: float, wait: float) -> Iterator[None]:
    """Hold an exclusive ``flock`` on ``path``, waiting until ``deadline`` at most."""
    descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        while True:
            try:
                fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise BuildLockTimeoutError(
                        f"another process has been building the compiled loop for over "
                        f"{wait:.0f} s (it holds {path}); this process runs the fused loop. "
                        f"If that build is stuck, end it: the next process builds afresh"
                    ) from None
                time.sleep(POLL_SECONDS)
        yield
    finally:
        os.close(descriptor)  # closing drops the lock


def _clear_dead_build(folder: Path, name: str, deadline: float, wait: float) -> None:
    """Remove what a killed build left in ``folder``: torch's lock and a library cut short."""
    stale = folder / "lock"
    if stale.exists():
        while _workers(folder):
            if time.monotonic() > deadline:
                raise BuildLockTimeoutError(
                    f"a killed build's ninja or compiler has kept running in {folder} for "
                    f"over {wait:.0f} s; this process runs the fused loop. End those "
                    f"processes: the next process builds afresh"
                )
            time.sleep(POLL_SECONDS)
        stale.unlink(missing_ok=True)
        warnings.warn(
            f"removed {stale}, left by a build of the compiled loop that was killed "
            "halfway; building it again",
            RuntimeWarning,
            stacklevel=3,
        )
    library = folder / f"{name}.so"
    if sys.platform.startswith("linux") and library.exists() and not _whole(library):
        library.unlink()


def _workers(folder: Path) -> list[int]:
    """The processes (Linux) working in ``folder``: a killed build's ninja and compilers."""
    proc, target, found = Path("/proc"), os.path.realpath(folder), []
    if not proc.is_dir():
        return found
    for entry in proc.iterdir():
        if entry.name.isdigit() and int(entry.name) != os.getpid():
            try:
                if os.readlink(entry / "cwd") == target:
                    found.append(int(entry.name))
            except OSError:  # gone, a zombie, or another user's
                continue
    return found


def _whole(library: Path) -> bool:
    """Whether a 64-bit ELF library is as long as its header says (its section table at the end)."""
    with library.open("rb") as file:
        header = file.read(64)
    if len(header) < 64 or header[:4] != b"\x7fELF":
        return False
    if header[4] != 2:  # not 64-bit: not checked
        return True
    order = "<" if header[5] == 1 else ">"
    (table,) = struct.unpack_from(order + "Q", header, 0x28)
    size, count = struct.unpack_from(order + "HH", header, 0x3A)
    return library.stat().st_size >= table + size * count
