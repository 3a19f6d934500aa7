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
