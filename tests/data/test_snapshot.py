"""The bundled snapshot is the file we think it is, holds real prices, and shows the MSFT split."""

import hashlib
from pathlib import Path

import pandas as pd
import pytest

from lstm_study.data import schema, snapshot
from lstm_study.errors import NoDataError

ROWS = {"AAPL": 3270, "GOOG": 2148, "IBM": 3270, "MSFT": 3270}
# Read from bokeh_sampledata 2026.1 _data/stocks.csv.gz (Quandl WIKI), unadjusted closes.
KNOWN = [
    ("MSFT", "2003-02-14", 48.30, 16.076442938105),
    ("MSFT", "2003-02-18", 24.96, 16.61565282547),
    ("AAPL", "2000-03-01", 130.31, 4.186662803811),
    ("GOOG", "2010-01-04", 626.75, 314.34535399391206),
    ("IBM", "2003-02-14", 77.45, 57.918985747581),
]


def test_the_shipped_file_has_the_recorded_checksum():
    digest = hashlib.sha256(snapshot.SNAPSHOT_PATH.read_bytes()).hexdigest()
    assert digest == snapshot.SNAPSHOT_SHA256
    assert snapshot.SNAPSHOT_SHA256 in snapshot.PROVENANCE_PATH.read_text()


def test_rows_per_ticker_and_span():
    frame = snapshot.load_snapshot(list(ROWS))
    assert frame.groupby("Ticker").size().to_dict() == ROWS
    assert frame["Date"].min() == pd.Timestamp("2000-03-01") and frame[
        "Date"
    ].max() == pd.Timestamp("2013-03-01")
    schema.validate(frame)


@pytest.mark.parametrize(("ticker", "day", "close", "adj_close"), KNOWN)
def test_known_historical_closes(ticker, day, close, adj_close):
    row = snapshot.load_snapshot(ticker, day, day)
    assert len(row) == 1
    assert row["Close"].item() == close
    assert row["Adj Close"].item() == adj_close


def test_msft_split_halves_close_but_not_adj_close():
    rows = snapshot.load_snapshot("MSFT", "2003-02-14", "2003-02-18").set_index("Date")
    assert list(rows.index.strftime("%Y-%m-%d")) == [
        "2003-02-14",
        "2003-02-18",
    ]  # a weekend and a holiday between
    close_ratio = rows["Close"].iloc[1] / rows["Close"].iloc[0]
    adjusted_ratio = rows["Adj Close"].iloc[1] / rows["Adj Close"].iloc[0]
    assert 0.45 < close_ratio < 0.55
    assert 0.95 < adjusted_ratio < 1.05


def test_the_snapshot_matches_its_source_exactly():
    pytest.importorskip("bokeh_sampledata")
    import bokeh_sampledata

    source = Path(bokeh_sampledata.__file__).parent / "_data" / "stocks.csv.gz"
    raw = pd.read_csv(source)
    raw = raw[raw["Ticker"] != "FB"]
    raw["Date"] = pd.to_datetime(raw["Date"])
    pd.testing.assert_frame_equal(
        snapshot.load_snapshot(list(ROWS)), schema.tidy(raw), check_exact=True
    )


def test_a_ticker_outside_the_snapshot_is_named():
    with pytest.raises(NoDataError, match="NFLX") as error:
        snapshot.load_snapshot(["MSFT", "NFLX"])
    assert error.value.tickers == ("NFLX",)


def test_a_range_outside_the_snapshot_is_reported():
    with pytest.raises(NoDataError, match="2013-03-01"):
        snapshot.load_snapshot("MSFT", "2020-01-01", "2020-12-31")


def test_callers_cannot_modify_the_shared_copy():
    frame = snapshot.load_snapshot("MSFT")
    frame["Close"] = 0.0
    assert snapshot.load_snapshot("MSFT")["Close"].iloc[0] > 0
