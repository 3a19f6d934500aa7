"""Output files that never destroy input: checked before any work starts, written atomically.

A command that writes files (``lstm-study backtest --json ... --predictions ...``) calls
:func:`check_outputs` first, before it trains anything: every output's folder must exist
and be writable, no output may be a folder or a special file, and no output may be (after
resolving symbolic and hard links) one of the command's inputs or another output. Each file
is then written by :func:`write_atomically`: to a hidden temporary file beside it, flushed to
disk, and renamed over the target only when complete. A full disk, an error or Ctrl-C leaves
the old file as it was and no temporary file behind.
"""

from __future__ import annotations

import os
import signal
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from lstm_study.errors import OutputFileError

#: a temporary file older than this (seconds) was left by a killed writer, not by one still at work
STALE_SECONDS = 600


def remove_stale_temporaries(path: Path) -> None:
    """Delete the temporary files that killed writers of ``path`` left beside it (older than STALE_SECONDS)."""
    now = time.time()
    for stale in path.absolute().parent.glob(f".{path.name}.*.tmp"):
        try:
            if now - stale.stat().st_mtime > STALE_SECONDS:
                stale.unlink()
        except OSError:
            pass  # another writer took it, or it is not ours to delete


def same_file(a: Path, b: Path) -> bool:
    """Whether two paths name one file: the same inode (hard and symbolic links), or one real path."""
    try:
        return os.path.samefile(a, b)
    except OSError:  # one of them does not exist (yet)
        return os.path.realpath(a) == os.path.realpath(b)


def check_output(name: str, path: Path) -> None:
    """Refuse an output path that is a folder, a special file, or in a missing or read-only folder."""
    if path.is_dir():
        raise OutputFileError(
            f"{name} {path} is a folder; give a file name, for example {path / 'out'}"
        )
    if path.exists() and not path.is_file():
        raise OutputFileError(
            f"{name} {path} exists and is not a regular file; choose another path"
        )
    folder = path.absolute().parent
    if not folder.is_dir():
        raise OutputFileError(
            f"{name}: the folder {folder} does not exist; create it or choose another path"
        )
    if not os.access(folder, os.W_OK | os.X_OK):
        raise OutputFileError(
            f"{name}: cannot write into {folder} (permission denied); choose another folder"
        )
    try:  # the permission bits are not the whole truth (/proc, /sys, a read-only mount, root)
        tempfile.NamedTemporaryFile(
            dir=folder, prefix=f".{path.name}.", suffix=".tmp"
        ).close()
    except OSError as error:
        raise OutputFileError(
            f"{name}: cannot write into {folder} ({error.strerror or error}); "
            "choose another folder"
        ) from None


def check_outputs(
    outputs: Mapping[str, Path], inputs: Mapping[str, Path] | None = None
) -> None:
    """Check every output (see :func:`check_output`) and refuse any that aliases an input or another output.

    ``outputs`` and ``inputs`` map a name the user knows (``--json``) to a path. Every file the
    command may read is an input (a ticker's cache file, the bundled snapshot, the weights), even
    one that does not exist yet: the command may create it (the cache) before it writes its
    outputs. Call it before any work, so that a mistake costs nothing.
    """
    for name, path in outputs.items():
        check_output(name, path)
        for input_name, input_path in (inputs or {}).items():
            if same_file(path, input_path):
                raise OutputFileError(
                    f"{name} {path} is the input {input_name} ({input_path}): writing it "
                    "would destroy your data; "
                    "choose another file name"
                )
    names = list(outputs)
    for n, first in enumerate(names):
        for second in names[n + 1 :]:
            if same_file(outputs[first], outputs[second]):
                raise OutputFileError(
                    f"{first} and {second} both name {outputs[first]}: one would overwrite the other; "
                    "give each its own file"
                )


def write_atomically(
    path: Path,
    data: str | bytes | Callable[[BinaryIO], None],
    what: str = "the output",
    error: type[OSError] = OutputFileError,
    advice: str = "",
) -> Path:
    """Write ``data`` to ``path`` through a temporary file beside it; return the path.

    ``data`` is the text or bytes to write, or a function that writes them into the open file.

    The temporary file is removed on any failure, including Ctrl-C; an OSError (a full disk,
    a read-only folder) becomes ``error`` naming the file, followed by ``advice``.
    """
    return write_together({Path(path): (data, what)}, error, advice)[0]


def _stage(
    path: Path,
    data: str | bytes | Callable[[BinaryIO], None],
    what: str,
    error: type[OSError],
    advice: str,
) -> str:
    """Write ``data`` completely to a temporary file beside ``path``; return its name."""
    write = data if callable(data) else None
    payload = data.encode("utf-8") if isinstance(data, str) else data
    temporary: str | None = None
    try:
        handle = tempfile.NamedTemporaryFile(
            dir=path.absolute().parent,
            prefix=f".{path.name}.",
            suffix=".tmp",
            delete=False,
        )
        temporary = handle.name
        with handle:
            if write is not None:
                write(handle)
            else:
                handle.write(payload)
            handle.flush()
            os.fsync(handle.fileno())
        umask = os.umask(0)
        os.umask(umask)
        # what open() would have given; mkstemp gives 0o600
        os.chmod(temporary, 0o666 & ~umask)
        staged, temporary = temporary, None
        return staged
    except OSError as failure:
        raise error(
            f"cannot write {what} to {path}: {failure.strerror or failure}{advice}"
        ) from None
    finally:
        if temporary is not None:
            Path(temporary).unlink(missing_ok=True)


def write_together(
    files: Mapping[Path, tuple[str | bytes | Callable[[BinaryIO], None], str]],
    error: type[OSError] = OutputFileError,
    advice: str = "",
) -> list[Path]:
    """Write several files as one: all of them, or none; return their paths.

    ``files`` maps each path to ``(data, what)`` as :func:`write_atomically` takes them. Each
    file is first written completely to a temporary beside it; only when all are written are
    they renamed over their targets, in the order given, with Ctrl-C and SIGTERM held back
    until the last rename. A full disk, an error or Ctrl-C while writing leaves every old
    file as it was and no temporary behind; only a crash of the machine (or SIGKILL) between
    two renames can leave the first files new and the others old, so a reader that must
    know records in the last file a checksum of the first ones.
    """
    staged: list[tuple[str, Path, str]] = []
    try:
        for path, (data, what) in files.items():
            path = Path(path)
            staged.append((_stage(path, data, what, error, advice), path, what))
        with signals_held():
            while staged:
                temporary, path, what = staged[0]
                try:
                    os.replace(temporary, path)
                except OSError as failure:
                    raise error(
                        f"cannot write {what} to {path}: {failure.strerror or failure}"
                        f"{advice}"
                    ) from None
                staged.pop(0)
    finally:
        for temporary, _, _ in staged:
            Path(temporary).unlink(missing_ok=True)
    return [Path(path) for path in files]


@contextmanager
def signals_held() -> Iterator[None]:
    """Hold Ctrl-C and SIGTERM back until the block ends (then they are delivered)."""
    mask = getattr(signal, "pthread_sigmask", None)
    if mask is None:  # Windows
        yield
        return
    held = (signal.SIGINT, signal.SIGTERM)
    mask(signal.SIG_BLOCK, held)
    try:
        yield
    finally:
        mask(signal.SIG_UNBLOCK, held)
