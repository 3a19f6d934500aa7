"""Building the compiled loop under faults (lstm_study.nn.compiled.build).

The fast tests build a one-line C++ library (well under a second); the two slow ones build the
real loop from scratch in fresh processes with their own caches (about 25 s each on 2 cores).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
import uuid
import warnings
from pathlib import Path

import pytest
import torch

from lstm_study.errors import BuildLockTimeoutError
from lstm_study.nn import LSTM, compiled
from lstm_study.nn.compiled import build

ROOT = Path(__file__).resolve().parents[2]
fcntl_only = pytest.mark.skipif(build.fcntl is None, reason="no fcntl (Windows)")
proc_only = pytest.mark.skipif(not Path("/proc/self/cwd").exists(), reason="no /proc")

# A fresh process: load the compiled loop, check it against the fused loop, count the stale
# locks it removed.
CHECK = textwrap.dedent(
    """
    import warnings
    import torch
    from lstm_study.nn import LSTM, compiled
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert compiled.load(), compiled.unavailable_reason()
    torch.manual_seed(0)
    ours, fused = LSTM(3, 8, backend="compiled"), LSTM(3, 8, backend="fused")
    fused.load_state_dict(ours.state_dict())
    x = torch.randn(6, 2, 3)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a fallback to the fused loop would warn
        out = ours(x)[0]
    assert "CompiledLayer" in out.grad_fn.name(), out.grad_fn.name()
    torch.testing.assert_close(out, fused(x)[0], atol=1e-5, rtol=1e-5)
    print("stale locks removed:", sum("killed halfway" in str(w.message) for w in caught))
    print("agrees")
    """
)


def _probe(tmp_path: Path, monkeypatch) -> tuple[str, list[str], Path]:
    """A one-line library's name, sources and build folder, in a cache of its own."""
    monkeypatch.setenv("TORCH_EXTENSIONS_DIR", str(tmp_path / "extensions"))
    source = tmp_path / "probe.cpp"
    source.write_text('extern "C" int lstm_study_probe() { return 42; }\n')
    name = (
        f"lstm_study_probe_{uuid.uuid4().hex[:8]}"  # torch remembers names per process
    )
    return name, [str(source)], tmp_path / "extensions" / name


def _env(cache: Path) -> dict[str, str]:
    return dict(os.environ, TORCH_EXTENSIONS_DIR=str(cache))


@fcntl_only
def test_a_stale_lock_is_removed_with_one_warning(tmp_path, monkeypatch):
    name, sources, folder = _probe(tmp_path, monkeypatch)
    folder.mkdir(parents=True)
    (folder / "lock").touch()  # left by a build that was killed: nobody holds our flock
    with pytest.warns(RuntimeWarning, match="killed halfway") as caught:
        library = build.build_and_load(name, sources, [], [], wait=60)
    assert len(caught) == 1
    assert not (folder / "lock").exists()
    assert Path(library).is_file()


@fcntl_only
@proc_only
def test_it_waits_for_what_a_killed_build_left_running(tmp_path, monkeypatch):
    # Killing only the Python process leaves its ninja and compiler running in the folder:
    # the next build waits for them before it removes the lock.
    name, sources, folder = _probe(tmp_path, monkeypatch)
    folder.mkdir(parents=True)
    (folder / "lock").touch()
    orphan = subprocess.Popen(["sleep", "1.5"], cwd=folder)
    start = time.monotonic()
    with pytest.warns(RuntimeWarning, match="killed halfway"):
        build.build_and_load(name, sources, [], [], wait=60)
    assert orphan.poll() is not None, "it built while the old build still ran"
    assert time.monotonic() - start >= 1.0


@fcntl_only
def test_a_library_cut_short_is_rebuilt_not_loaded(tmp_path, monkeypatch):
    # ninja's log says the library is done, but it is cut short: loading it would kill the
    # process (SIGBUS or SIGSEGV), so the next process removes it and ninja builds it again
    name, sources, folder = _probe(tmp_path, monkeypatch)
    library = Path(build.build_and_load(name, sources, [], []))
    size = library.stat().st_size
    assert build._whole(library)
    for cut in (size - 100, size // 2, 10):
        (tmp_path / "cut.so").write_bytes(library.read_bytes()[:cut])
        assert not build._whole(tmp_path / "cut.so")
    # a new file in its place, not the loaded one cut in place: this process has the library
    # mapped, and cutting a mapped file kills it with SIGBUS later (pytest, at exit)
    half = library.with_name(library.name + ".half")
    half.write_bytes(library.read_bytes()[: size // 2])
    os.replace(half, library)
    script = (
        "from lstm_study.nn.compiled import build\n"
        f"print(build.build_and_load({name!r}, {sources!r}, [], []))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        env=_env(tmp_path / "extensions"),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, (result.returncode, result.stderr[-2000:])
    assert library.stat().st_size == size


@fcntl_only
def test_a_build_that_outlasts_the_wait_runs_the_fused_loop_with_one_warning(
    tmp_path, monkeypatch
):
    import fcntl

    monkeypatch.setenv("TORCH_EXTENSIONS_DIR", str(tmp_path / "extensions"))
    monkeypatch.setattr(build, "WAIT_SECONDS", 0.5)
    monkeypatch.setattr(compiled, "_status", None)  # restored after the test
    monkeypatch.setattr(compiled, "_warned", set())
    folder = tmp_path / "extensions" / compiled.extension_name()
    folder.mkdir(parents=True)
    torch.manual_seed(0)
    theirs = torch.nn.LSTM(3, 4)
    ours = LSTM(3, 4, backend="compiled")
    ours.load_state_dict(theirs.state_dict())
    x = torch.randn(5, 2, 3)
    with open(folder / build.LOCK_NAME, "w") as held:  # a live build that never ends
        fcntl.flock(held, fcntl.LOCK_EX)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            out, _ = ours(x)
            ours(x)
    assert len(caught) == 1, [str(w.message) for w in caught]
    assert "BuildLockTimeoutError" in str(caught[0].message)
    assert "holds the build" in str(caught[0].message)
    assert "C++ compiler" not in str(caught[0].message)
    assert "FusedLSTMScan" in out.grad_fn.name()
    torch.testing.assert_close(out, theirs(x)[0], atol=1e-5, rtol=1e-5)
    with pytest.raises(BuildLockTimeoutError, match="If that build is stuck, end it"):
        with open(folder / build.LOCK_NAME, "w") as held:
            fcntl.flock(held, fcntl.LOCK_EX)
            build.build_and_load(compiled.extension_name(), [], [], [], wait=0.1)


def test_without_fcntl_it_builds_as_torch_does(tmp_path, monkeypatch):
    name, sources, folder = _probe(tmp_path, monkeypatch)
    monkeypatch.setattr(build, "fcntl", None)
    library = build.build_and_load(name, sources, [], [])
    assert Path(library).parent == folder
    assert not (folder / build.LOCK_NAME).exists()


@pytest.mark.slow
@fcntl_only
@proc_only
@pytest.mark.parametrize("victims", ["process group", "python only"])
def test_a_build_killed_halfway_does_not_block_the_next_process(tmp_path, victims):
    # A fresh process builds the loop into an empty cache; once ninja runs in the build folder
    # (and the compiler with it) its whole process group is killed, as Jupyter restarts a
    # kernel, or only the Python process (`kill -KILL PID`: ninja and the compiler live on and
    # finish). torch's lock stays behind; the next process must not wait on it forever.
    cache = tmp_path / "extensions"
    builder = subprocess.Popen(
        [sys.executable, "-c", "from lstm_study.nn import compiled; compiled.load()"],
        env=_env(cache),
        cwd=ROOT,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    folder, deadline = None, time.monotonic() + 120
    while folder is None and builder.poll() is None and time.monotonic() < deadline:
        locks = list(cache.glob("*/lock"))
        if locks and build._workers(locks[0].parent):
            folder = locks[0].parent
        time.sleep(0.05)
    time.sleep(1.0)  # the compiler is under way
    if victims == "process group":
        os.killpg(builder.pid, signal.SIGKILL)
    else:
        os.kill(builder.pid, signal.SIGKILL)
    builder.wait()
    assert folder is not None, "the build never started ninja"
    assert (folder / "lock").exists()
    if victims == "process group":
        assert not list(folder.glob("*.so"))
    result = subprocess.run(
        [sys.executable, "-c", CHECK],
        env=_env(cache),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,  # torch alone would wait forever
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "stale locks removed: 1" in result.stdout
    assert "agrees" in result.stdout


@pytest.mark.slow
@fcntl_only
def test_two_processes_building_at_once_both_run_the_loop(tmp_path):
    started = [
        subprocess.Popen(
            [sys.executable, "-c", CHECK],
            env=_env(tmp_path / "extensions"),
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    for process in started:
        stdout, stderr = process.communicate(timeout=300)
        assert process.returncode == 0, stderr[-2000:]
        assert "stale locks removed: 0" in stdout and "agrees" in stdout
