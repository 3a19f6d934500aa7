"""One base exception for the package and one subclass per kind of failure.

Each subclass also derives from the built-in exception a caller would expect
(``ValueError`` for bad arguments, ``OSError`` for I/O), so code written against
PyTorch or pandas conventions keeps working.
"""

from __future__ import annotations


class LSTMStudyError(Exception):
    """Base class of every error raised on purpose by ``lstm_study``."""


class ShapeError(LSTMStudyError, ValueError):
    """A tensor or array has the wrong rank or size for the call."""


class ConfigError(LSTMStudyError, ValueError):
    """An argument or option is out of range or inconsistent with another."""


class OutputFileError(LSTMStudyError, OSError):
    """An output path cannot be written, or writing it would overwrite an input or another output."""


def shorten(value: object, limit: int = 60) -> str:
    """``repr(value)``, cut to about ``limit`` characters: messages never echo a megabyte of input."""
    text = repr(value)
    return (
        text
        if len(text) <= limit
        else f"{text[: limit - 15]}... ({len(text):,} characters)"
    )


def check_int(
    name: str, value: object, minimum: int = 1, maximum: int | None = None
) -> None:
    """Raise :class:`ConfigError` unless ``value`` is an ``int`` (not a bool) in ``[minimum, maximum]``."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigError(
            f"{name} must be an integer >= {minimum}, got {shorten(value)}"
        )
    if maximum is not None and value > maximum:
        raise ConfigError(f"{name} must be at most {maximum:,}, got {value:,}")


# --- Data (lstm_study.data): fetching, caching and loading prices --------------------------------


class DataError(LSTMStudyError):
    """Base class of every failure to obtain, store or read price data."""


class InvalidTickerError(DataError, ValueError):
    """A ticker argument is not a plausible symbol (rejected before any file or network access)."""


class DateRangeError(DataError, ValueError):
    """A start or end date cannot be parsed, or the range is inverted."""


class NetworkError(DataError, ConnectionError):
    """Yahoo Finance could not be reached; the bundled snapshot still works offline."""


class NoDataError(DataError, LookupError):
    """A source holds no rows for a ticker (unknown symbol, or nothing in the date range)."""

    def __init__(self, message: str, tickers: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.tickers = tuple(tickers)


class InvalidPricesError(DataError, ValueError):
    """A price frame breaks the tidy schema or a sanity rule (High below Close, negative volume...)."""


class CacheCorruptError(DataError, OSError):
    """A cache file is truncated, unreadable or fails validation; it is never used silently."""


class CacheWriteError(DataError, OSError):
    """The cache folder cannot be created or written (read-only, full, not a folder)."""


class DataWarning(UserWarning):
    """Something about the data the caller should know but that does not stop the call."""


class OfflineFallbackWarning(DataWarning):
    """``source="auto"`` could not reach Yahoo Finance and used the cache or the snapshot instead."""


# --- Forecasting (lstm_study.forecast): inputs, splits, walk-forward ----------------------------


class ForecastError(LSTMStudyError):
    """Base class of the failures of the forecasting pipeline (``lstm_study.forecast``)."""


class InputDataError(ForecastError, ValueError):
    """A price table cannot be forecast as given: missing column, bad dates, NaN prices."""


class InputFileError(ForecastError, OSError):
    """A price file is missing or cannot be read as CSV."""


class InsufficientDataError(ForecastError, ValueError):
    """The series is too short for the lookback window, the training and validation blocks and the test."""


# --- The compiled LSTM loop (lstm_study.nn.compiled): building the C++ extension ----------------


class BuildLockTimeoutError(LSTMStudyError, TimeoutError):
    """Another process kept building the compiled loop longer than a process waits for it."""


class CompilerMissingError(LSTMStudyError, RuntimeError):
    """No C++ compiler to build the compiled loop with (the fused loop runs instead)."""
