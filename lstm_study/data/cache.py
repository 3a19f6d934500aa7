"""The local price cache: one gzip CSV per ticker, written atomically, validated on every read.

A write goes to a temporary file in the same folder, is flushed to disk, then renamed over the
old file (``os.replace`` is atomic on POSIX and Windows), so a fetch interrupted at any point
leaves either the old file or the new one, never a half-written or emptied cache.
"""

from __future__ import annotations

import gzip
import io
import os
import tempfile
import zlib
from pathlib import Path

import pandas as pd
import platformdirs

from lstm_study.data import schema
from lstm_study.data.query import normalise_ticker
from lstm_study.errors import CacheCorruptError, InvalidPricesError

SUFFIX = ".csv.gz"
ENV_DATA_DIR = "LSTM_STUDY_DATA_DIR"


def default_data_dir() -> Path:
    """Return the cache folder: ``$LSTM_STUDY_DATA_DIR`` if set, else the user's cache dir."""
    override = os.environ.get(ENV_DATA_DIR)
    if override:
        return Path(override).expanduser()
    return Path(platformdirs.user_cache_dir("lstm-study")) / "prices"


def resolve_data_dir(data_dir: str | os.PathLike[str] | None) -> Path:
    """Return ``data_dir`` as a Path, or the default cache folder when it is None."""
    return default_data_dir() if data_dir is None else Path(data_dir).expanduser()


def cache_path(ticker: str, data_dir: str | os.PathLike[str] | None = None) -> Path:
    """Return the cache file of ``ticker`` (the symbol is validated first: it becomes a file name)."""
    return resolve_data_dir(data_dir) / f"{normalise_ticker(ticker)}{SUFFIX}"


def _write_frame(frame: pd.DataFrame, handle: io.BufferedWriter) -> None:
    """Write a tidy frame as gzip CSV into an open binary file."""
    text = frame.to_csv(index=False, date_format="%Y-%m-%d", lineterminator="\n")
    # mtime=0 and no file name in the header: identical frames give identical bytes (checksums hold).
    handle.write(gzip.compress(text.encode("utf-8"), compresslevel=9, mtime=0))


def write_prices_file(frame: pd.DataFrame, path: str | os.PathLike[str]) -> Path:
    """Validate a tidy frame and write it to ``path`` atomically; return the path."""
    path = Path(path)
    schema.validate(frame, f"the frame to write to {path}")
    path.parent.mkdir(parents=True, exist_ok=True)
    handle = tempfile.NamedTemporaryFile(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp", delete=False)
    try:
        with handle:
            _write_frame(frame, handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(handle.name, 0o644)  # mkstemp creates files readable by their owner only
        os.replace(handle.name, path)
    except BaseException:
        Path(handle.name).unlink(missing_ok=True)
        raise
    return path


def read_prices_file(path: str | os.PathLike[str]) -> pd.DataFrame:
    """Read and validate a tidy gzip CSV; raise CacheCorruptError naming the file if it is unsound."""
    path = Path(path)
    advice = f"delete {path} and fetch again (lstm-study fetch TICKER), or use --source snapshot"
    try:
        frame = pd.read_csv(path, compression="gzip", dtype={"Ticker": str})
    except FileNotFoundError:
        raise
    except (EOFError, gzip.BadGzipFile, zlib.error, OSError, UnicodeDecodeError, ValueError,
            pd.errors.ParserError, pd.errors.EmptyDataError) as error:
        raise CacheCorruptError(f"cache file {path} is truncated or unreadable ({error}); {advice}") from error
    try:
        frame["Date"] = pd.to_datetime(frame["Date"], format="%Y-%m-%d") if "Date" in frame else frame.get("Date")
        return schema.validate(schema.tidy(frame), f"cache file {path}")
    except (InvalidPricesError, ValueError, TypeError) as error:
        raise CacheCorruptError(f"cache file {path} fails validation ({error}); {advice}") from error


def read_cache(ticker: str, data_dir: str | os.PathLike[str] | None = None) -> pd.DataFrame | None:
    """Return the cached tidy frame of one ticker, None if it has no cache file."""
    path = cache_path(ticker, data_dir)
    if not path.exists():
        return None
    frame = read_prices_file(path)
    symbol = normalise_ticker(ticker)
    others = sorted(set(frame["Ticker"]) - {symbol})
    if others:
        raise CacheCorruptError(f"cache file {path} holds rows for {others}, not only {symbol}; delete it and fetch again")
    return frame


def write_cache(frame: pd.DataFrame, ticker: str, data_dir: str | os.PathLike[str] | None = None) -> Path:
    """Atomically replace the cache file of one ticker with ``frame`` (its rows only); return the path."""
    symbol = normalise_ticker(ticker)
    if set(frame["Ticker"]) - {symbol}:
        raise InvalidPricesError(f"write_cache({symbol!r}) got rows for other tickers: {sorted(set(frame['Ticker']))}")
    return write_prices_file(frame, cache_path(symbol, data_dir))
