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

ISO_DAY = re.compile(
    r"\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?"
)
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
            raise error(
                f"{name}={shorten(value)} is not a date: write it as YYYY-MM-DD (for example 2010-03-01)"
            )
        try:
            stamp = pd.Timestamp(text)
        except ValueError:
            raise error(
                f"{name}={shorten(value)} is not a calendar day: check the month and the day of YYYY-MM-DD"
            ) from None
    elif isinstance(
        value, (dt.date, np.datetime64)
    ):  # datetime and pd.Timestamp are dates too
        stamp = pd.Timestamp(value)
    else:
        raise error(
            f"{name}={shorten(value)} is a {type(value).__name__}, not a date: write it as 'YYYY-MM-DD'"
        )
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


def listed(values: object, limit: int = 3) -> str:
    """Format the first few of a sequence of dates for a message: ``2003-01-02, NaT and 4 more``."""
    items = list(values)  # type: ignore[call-overload]
    shown = [
        str(pd.Timestamp(v).date()) if not pd.isna(v) else "NaT" for v in items[:limit]
    ]
    more = f" and {len(items) - limit} more" if len(items) > limit else ""
    return ", ".join(shown) + more


def _local_day(value: object) -> pd.Timestamp:
    """Parse one ISO 8601 date, keeping its local calendar day when it carries a UTC offset."""
    stamp = pd.to_datetime(value, format="ISO8601")
    return stamp.tz_localize(None) if stamp.tz is not None else stamp


def parse_day_column(
    raw: pd.Series, name: str, error: type[LSTMStudyError]
) -> pd.DatetimeIndex:
    """Return a column of dates as timezone-naive days, or raise ``error`` naming the first bad row.

    The column-wise form of :func:`parse_day`: numbers (``20030102``) are refused rather than
    read as nanoseconds after 1970, ISO dates whose UTC offset changes with daylight saving are
    read day by day, and days outside [1900, a year from today] are refused as implausible.
    """
    if pd.api.types.is_numeric_dtype(raw) or pd.api.types.is_bool_dtype(raw):
        raise error(
            f"the {name} column holds numbers (first {shorten(raw.iloc[0])}), not dates; "
            "write every date as YYYY-MM-DD"
        )
    try:
        dates = pd.DatetimeIndex(pd.to_datetime(raw, errors="raise"))
    except (ValueError, TypeError):
        parsed = []
        for row, value in enumerate(raw):
            try:
                parsed.append(_local_day(value))
            except (ValueError, TypeError):
                raise error(
                    f"the {name} column cannot be read as dates: row {row} holds {shorten(value)}, "
                    "and the rows do not share one format; write every date as YYYY-MM-DD"
                ) from None
        dates = pd.DatetimeIndex(parsed)
    if dates.tz is not None:
        dates = dates.tz_localize(None)
    if dates.hasnans:
        raise error(f"the {name} column has empty values; every row needs a date")
    implausible = dates[(dates < EARLIEST) | (dates > latest())]
    if len(implausible):
        raise error(
            f"the {name} column holds {len(implausible)} implausible date(s): {listed(implausible)}; "
            f"dates must lie between {EARLIEST:%Y-%m-%d} and a year from today"
        )
    return dates.normalize()
