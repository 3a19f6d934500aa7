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
import tempfile
import time
from collections.abc import Callable, Mapping
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


def check_outputs(
    outputs: Mapping[str, Path], inputs: Mapping[str, Path] | None = None
) -> None:
    """Check every output (see :func:`check_output`) and refuse any that aliases an input or another output.

    ``outputs`` and ``inputs`` map a name the user knows (``--json``) to a path. Call it before
    any work, so that a mistake costs nothing.
    """
    for name, path in outputs.items():
        check_output(name, path)
        for input_name, input_path in (inputs or {}).items():
            if input_path.exists() and same_file(path, input_path):
                raise OutputFileError(
                    f"{name} {path} is the input {input_name} {input_path}: writing it would destroy your data; "
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
    path = Path(path)
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
        os.chmod(
            temporary, 0o666 & ~umask
        )  # what open() would have given; mkstemp gives 0o600
        os.replace(temporary, path)
        temporary = None
    except OSError as failure:
        raise error(
            f"cannot write {what} to {path}: {failure.strerror or failure}{advice}"
        ) from None
    finally:
        if temporary is not None:
            Path(temporary).unlink(missing_ok=True)
    return path
