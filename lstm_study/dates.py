"""One strict reader of the dates people type: ``YYYY-MM-DD``, optionally with a time of day.

``--start 2012`` must not quietly mean 2012-01-01, nor ``--start 20120105`` a moment in 1970:
a date argument is either a calendar day written ``YYYY-MM-DD`` (a time of day, and a UTC
offset, may follow and mean that day), a ``date``/``datetime``/``Timestamp``, or an error that
says how to write it. Days before 1900 or more than a year ahead are refused as implausible.
"""

from __future__ import annotations

import datetime as dt
import re

import numpy as np
import pandas as pd

from lstm_study.errors import LSTMStudyError, shorten

ISO_DAY = re.compile(r"\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?")
EARLIEST = pd.Timestamp("1900-01-01")


def latest() -> pd.Timestamp:
    """The last plausible day: one year from today."""
    return pd.Timestamp.today().normalize() + pd.DateOffset(years=1)


def parse_day(value: object, name: str, error: type[LSTMStudyError]) -> pd.Timestamp:
    """Return ``value`` as a timezone-naive midnight Timestamp, or raise ``error`` saying what is wrong.

    A value with a UTC offset keeps its own calendar day (``2020-03-01T23:00-05:00`` is March 1).
    """
    if isinstance(value, str):
        text = value.strip()
        if not ISO_DAY.fullmatch(text):
            raise error(f"{name}={shorten(value)} is not a date: write it as YYYY-MM-DD (for example 2010-03-01)")
        try:
            stamp = pd.Timestamp(text)
        except ValueError:
            raise error(f"{name}={shorten(value)} is not a calendar day: check the month and the day of YYYY-MM-DD") from None
    elif isinstance(value, (dt.date, np.datetime64)):  # datetime and pd.Timestamp are dates too
        stamp = pd.Timestamp(value)
    else:
        raise error(f"{name}={shorten(value)} is a {type(value).__name__}, not a date: write it as 'YYYY-MM-DD'")
    if stamp is pd.NaT:
        raise error(f"{name} is empty (NaT); write the date as YYYY-MM-DD")
    if stamp.tzinfo is not None:
        stamp = stamp.tz_localize(None)
    day = stamp.normalize()
    last = latest()
    if not EARLIEST <= day <= last:
        raise error(
            f"{name}={day:%Y-%m-%d} is not a plausible day: use one between {EARLIEST:%Y-%m-%d} and {last:%Y-%m-%d}"
        )
    return day
