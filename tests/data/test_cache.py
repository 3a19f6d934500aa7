"""The cache reads back exactly what was written, refuses corrupt files, and never half-writes."""

import gzip

import hypothesis.strategies as st
import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings

from lstm_study.data import cache, schema
from lstm_study.errors import CacheCorruptError, InvalidPricesError, InvalidTickerError

from .conftest import make_prices

MSFT = make_prices({"MSFT": ("2021-01-01", "2021-03-31")})


def test_a_written_frame_reads_back_identical(tmp_path):
    path = cache.write_cache(MSFT, "MSFT", tmp_path)
    assert path == tmp_path / "MSFT.csv.gz"
    pd.testing.assert_frame_equal(cache.read_cache("msft", tmp_path), MSFT)


@settings(max_examples=25, deadline=None)
@given(
    st.lists(
        st.floats(0.01, 1e6, allow_nan=False, allow_subnormal=False),
        min_size=1,
        max_size=30,
    )
)
def test_any_sound_frame_round_trips_bit_for_bit(tmp_path_factory, closes):
    closes = np.array(closes)
    frame = schema.tidy(
        pd.DataFrame(
            {
                "Date": pd.bdate_range("2000-01-03", periods=len(closes)),
                "Ticker": "X",
                "Open": closes,
                "High": closes * 1.5,
                "Low": closes / 1.5,
                "Close": closes,
                "Adj Close": closes / 3.0,
                "Volume": np.arange(len(closes)),
            }
        )
    )
    path = cache.write_prices_file(frame, tmp_path_factory.mktemp("rt") / "X.csv.gz")
    pd.testing.assert_frame_equal(cache.read_prices_file(path), frame, check_exact=True)


def test_identical_frames_give_identical_bytes(tmp_path):
    first = cache.write_prices_file(MSFT, tmp_path / "a.csv.gz").read_bytes()
    second = cache.write_prices_file(MSFT, tmp_path / "b.csv.gz").read_bytes()
    assert first == second


def test_an_interrupted_write_leaves_the_old_file_intact(tmp_path, monkeypatch):
    path = cache.write_cache(MSFT, "MSFT", tmp_path)
    before = path.read_bytes()

    def crash_halfway(frame, handle):
        handle.write(b"\x1f\x8b half a file")
        raise OSError("disk full")

    monkeypatch.setattr(cache, "_write_frame", crash_halfway)
    longer = make_prices({"MSFT": ("2021-01-01", "2021-06-30")})
    with pytest.raises(OSError, match="disk full"):
        cache.write_cache(longer, "MSFT", tmp_path)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "MSFT.csv.gz"
    ]  # no temporary file left


def test_a_keyboard_interrupt_during_write_also_leaves_the_old_file(
    tmp_path, monkeypatch
):
    path = cache.write_cache(MSFT, "MSFT", tmp_path)
    before = path.read_bytes()

    def interrupted(frame, handle):
        raise KeyboardInterrupt

    monkeypatch.setattr(cache, "_write_frame", interrupted)
    with pytest.raises(KeyboardInterrupt):
        cache.write_cache(MSFT.iloc[:3], "MSFT", tmp_path)
    assert path.read_bytes() == before and len(list(tmp_path.iterdir())) == 1


def test_a_truncated_file_is_reported_with_its_path_and_the_fix(tmp_path):
    path = cache.write_cache(MSFT, "MSFT", tmp_path)
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(CacheCorruptError) as error:
        cache.read_cache("MSFT", tmp_path)
    assert str(path) in str(error.value) and "delete" in str(error.value)


@pytest.mark.parametrize(
    "content",
    [
        b"",
        b"not gzip at all",
        gzip.compress(b""),
        gzip.compress(b"\x00\xff\xfe garbage"),
    ],
)
def test_unreadable_files_are_corrupt(tmp_path, content):
    (tmp_path / "MSFT.csv.gz").write_bytes(content)
    with pytest.raises(CacheCorruptError, match="MSFT.csv.gz"):
        cache.read_cache("MSFT", tmp_path)


def _write_raw(tmp_path, frame):
    """Write a frame without validation, as a buggy or foreign program could."""
    text = frame.to_csv(index=False, date_format="%Y-%m-%d")
    (tmp_path / "MSFT.csv.gz").write_bytes(gzip.compress(text.encode()))


@pytest.mark.parametrize(
    ("spoil", "message"),
    [
        (lambda f: f.assign(High=f["Close"] * 0.5), "High below"),
        (lambda f: f.assign(Low=f["Close"] * 2.0), "Low above"),
        (lambda f: f.assign(Volume=-f["Volume"]), "negative Volume"),
        (lambda f: pd.concat([f, f.iloc[[3]]]).sort_values("Date"), "duplicate"),
        (lambda f: f.drop(columns="Adj Close"), "Adj Close"),
        (lambda f: f.assign(Close=f["Close"].where(f.index != 2)), "missing values"),
        (lambda f: f.assign(Date="someday"), "fails validation"),
        (lambda f: f.assign(Ticker="AAPL"), "not only MSFT"),
    ],
)
def test_files_that_break_a_rule_are_corrupt_and_say_which(tmp_path, spoil, message):
    _write_raw(tmp_path, spoil(MSFT))
    with pytest.raises(CacheCorruptError, match=message):
        cache.read_cache("MSFT", tmp_path)


def test_a_missing_cache_file_is_none(tmp_path):
    assert cache.read_cache("MSFT", tmp_path) is None


def test_a_bad_ticker_is_rejected_before_touching_the_disk(tmp_path):
    for bad in ("../x", "", " ", "a/b"):
        with pytest.raises(InvalidTickerError):
            cache.write_cache(MSFT, bad, tmp_path / "cache")
        with pytest.raises(InvalidTickerError):
            cache.read_cache(bad, tmp_path / "cache")
    assert not (tmp_path / "cache").exists() and not (tmp_path / "x.csv.gz").exists()


def test_write_refuses_unsound_frames_and_foreign_rows(tmp_path):
    with pytest.raises(InvalidPricesError):
        cache.write_cache(MSFT.assign(High=0.0), "MSFT", tmp_path)
    with pytest.raises(InvalidPricesError, match="other tickers"):
        cache.write_cache(MSFT, "AAPL", tmp_path)
    assert not list(tmp_path.iterdir())


def test_written_files_are_readable_by_others(tmp_path):
    path = cache.write_cache(MSFT, "MSFT", tmp_path)
    assert path.stat().st_mode & 0o044 == 0o044


def test_the_data_dir_defaults_to_the_environment_or_the_user_cache(
    monkeypatch, tmp_path
):
    monkeypatch.setenv(cache.ENV_DATA_DIR, str(tmp_path / "mine"))
    assert cache.cache_path("ibm") == tmp_path / "mine" / "IBM.csv.gz"
    monkeypatch.delenv(cache.ENV_DATA_DIR)
    assert "lstm-study" in str(cache.default_data_dir())
