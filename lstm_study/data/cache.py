"""The local price cache: one gzip CSV per ticker, written atomically, validated on every read.

A write goes to a temporary file in the same folder, is flushed to disk, then renamed over the
old file (``os.replace`` is atomic on POSIX and Windows), so a fetch interrupted at any point
leaves either the old file or the new one, never a half-written or emptied cache.
"""

from __future__ import annotations

import gzip
import io
import os
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

try:
    import fcntl
except ImportError:  # Windows: fetches of one ticker are not serialised there
    fcntl = None

import pandas as pd
import platformdirs

from lstm_study.data import schema
from lstm_study.data.query import normalise_ticker
from lstm_study.errors import (
    CacheCorruptError,
    CacheWriteError,
    InvalidPricesError,
    shorten,
)
from lstm_study.files import remove_stale_temporaries, write_atomically

SUFFIX = ".csv.gz"
ENV_DATA_DIR = "LSTM_STUDY_DATA_DIR"


def _expand(path: str | os.PathLike[str], where: str) -> Path:
    """``path`` with ``~`` or ``~user`` expanded; a home that cannot be found is one clear error."""
    try:
        return Path(path).expanduser()
    except RuntimeError:  # ~nouser, or ~ with no HOME and no password entry
        user = str(path)[1:].split("/", 1)[0].split(os.sep, 1)[0]
        who = f"the user {user!r}, who does not exist" if user else "your home folder"
        raise CacheWriteError(
            f"{where} is {shorten(str(path))}: its ~ names {who} here; "
            "give the cache folder as a full path"
        ) from None


def default_data_dir() -> Path:
    """Return the cache folder: ``$LSTM_STUDY_DATA_DIR`` if set, else the user's cache dir."""
    override = os.environ.get(ENV_DATA_DIR)
    if override:
        return _expand(override, f"${ENV_DATA_DIR}")
    return Path(platformdirs.user_cache_dir("lstm-study")) / "prices"


def resolve_data_dir(data_dir: str | os.PathLike[str] | None) -> Path:
    """Return ``data_dir`` as a Path, or the default cache folder when it is None."""
    return default_data_dir() if data_dir is None else _expand(data_dir, "--data-dir")


def cache_path(ticker: str, data_dir: str | os.PathLike[str] | None = None) -> Path:
    """Return the cache file of ``ticker`` (the symbol is validated first: it becomes a file name)."""
    return resolve_data_dir(data_dir) / f"{normalise_ticker(ticker)}{SUFFIX}"


def _write_frame(frame: pd.DataFrame, handle: io.BufferedIOBase) -> None:
    """Write a tidy frame as gzip CSV into an open binary file."""
    text = frame.to_csv(index=False, date_format="%Y-%m-%d", lineterminator="\n")
    # mtime=0 and no file name in the header: identical frames give identical bytes (checksums hold).
    handle.write(gzip.compress(text.encode("utf-8"), compresslevel=9, mtime=0))


def write_prices_file(frame: pd.DataFrame, path: str | os.PathLike[str]) -> Path:
    """Validate a tidy frame and write it to ``path`` atomically; return the path.

    Raises :class:`CacheWriteError` (one line, no traceback in the CLI) when the folder cannot be
    created or written: read-only, full, or a file where a folder should be.
    """
    path = Path(path)
    schema.validate(frame, f"the frame to write to {path}")
    advice = f"; free some space, fix the folder's permissions, or choose another folder (--data-dir or ${ENV_DATA_DIR})"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise CacheWriteError(
            f"cannot create the cache folder {path.parent}: {error.strerror or error}{advice}"
        ) from None
    remove_stale_temporaries(path)  # left by a fetch that was killed outright
    return write_atomically(
        path,
        lambda handle: _write_frame(frame, handle),
        "the cache file",
        CacheWriteError,
        advice,
    )


@contextmanager
def locked(data_dir: str | os.PathLike[str] | None = None) -> Iterator[Path]:
    """Hold an exclusive lock on the cache folder while the block runs (POSIX; elsewhere, no lock).

    Two fetches of one ticker then read, merge and write the cache one after the other, so the
    second merges into what the first wrote instead of replacing it with less.
    """
    folder = resolve_data_dir(data_dir)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(folder, os.O_RDONLY)
    except OSError as error:
        raise CacheWriteError(
            f"cannot use the cache folder {folder}: {error.strerror or error}"
        ) from None
    try:
        if fcntl is not None:
            fcntl.flock(descriptor, fcntl.LOCK_EX)
        yield folder
    finally:
        os.close(descriptor)  # closing releases the lock


def read_prices_file(path: str | os.PathLike[str]) -> pd.DataFrame:
    """Read and validate a tidy gzip CSV; raise CacheCorruptError naming the file if it is unsound."""
    path = Path(path)
    advice = f"delete {path} and fetch again (lstm-study fetch TICKER), or use --source snapshot"
    try:
        frame = pd.read_csv(path, compression="gzip", dtype={"Ticker": str})
    except FileNotFoundError:
        raise
    except (
        EOFError,
        gzip.BadGzipFile,
        zlib.error,
        OSError,
        UnicodeDecodeError,
        ValueError,
        pd.errors.ParserError,
        pd.errors.EmptyDataError,
    ) as error:
        raise CacheCorruptError(
            f"cache file {path} is truncated or unreadable ({error}); {advice}"
        ) from error
    try:
        frame["Date"] = (
            pd.to_datetime(frame["Date"], format="%Y-%m-%d")
            if "Date" in frame
            else frame.get("Date")
        )
        return schema.validate(schema.tidy(frame), f"cache file {path}")
    except (InvalidPricesError, ValueError, TypeError) as error:
        raise CacheCorruptError(
            f"cache file {path} fails validation ({error}); {advice}"
        ) from error


def read_cache(
    ticker: str, data_dir: str | os.PathLike[str] | None = None
) -> pd.DataFrame | None:
    """Return the cached tidy frame of one ticker, None if it has no cache file."""
    path = cache_path(ticker, data_dir)
    if not path.exists():
        return None
    frame = read_prices_file(path)
    symbol = normalise_ticker(ticker)
    others = sorted(set(frame["Ticker"]) - {symbol})
    if others:
        raise CacheCorruptError(
            f"cache file {path} holds rows for {others}, not only {symbol}; delete it and fetch again"
        )
    return frame


def write_cache(
    frame: pd.DataFrame, ticker: str, data_dir: str | os.PathLike[str] | None = None
) -> Path:
    """Atomically replace the cache file of one ticker with ``frame`` (its rows only); return the path."""
    symbol = normalise_ticker(ticker)
    if set(frame["Ticker"]) - {symbol}:
        raise InvalidPricesError(
            f"write_cache({symbol!r}) got rows for other tickers: {sorted(set(frame['Ticker']))}"
        )
    return write_prices_file(frame, cache_path(symbol, data_dir))
