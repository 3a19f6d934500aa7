"""The bundled corpus: its checksum, its provenance, and a split by play that leaks nothing."""

from __future__ import annotations

import hashlib

import pytest

from lstm_study.errors import ConfigError
from lstm_study.text import corpus


def test_snapshot_checksum_is_the_recorded_one():
    digest = hashlib.sha256(corpus.SNAPSHOT_PATH.read_bytes()).hexdigest()
    assert digest == corpus.SNAPSHOT_SHA256, (
        "the snapshot changed: rebuild it with scripts/make_corpus.py"
    )
    assert digest in corpus.PROVENANCE_PATH.read_text()


def test_there_are_38_plays_and_every_one_is_in_exactly_one_split():
    plays = corpus.load_plays()
    assert len(plays) == 38
    named = [name for split in corpus.SPLIT_NAMES for name in corpus.split_plays(split)]
    assert sorted(named) == sorted(plays)


def test_no_line_of_a_test_play_is_a_training_play():
    train = set(corpus.split_plays("train"))
    assert not train & set(corpus.split_plays("test")) and not train & set(
        corpus.split_plays("valid")
    )
    text = corpus.load_corpus("train")
    for name in corpus.split_plays("test"):
        assert corpus.load_plays()[name] not in text
        title = corpus.load_plays()[name].splitlines()[0]
        assert title.startswith("# ") and title not in text.splitlines()


@pytest.mark.parametrize("split", corpus.SPLIT_NAMES)
def test_load_corpus_returns_the_plays_text(split):
    text = corpus.load_corpus(split)
    assert isinstance(text, str) and len(text) > 100_000
    assert (
        "\r" not in text and "  \n" not in text
    )  # the Markdown line breaks were removed


@pytest.mark.parametrize("bad", ["training", "", "TEST", None, 1])
def test_an_unknown_split_is_a_clear_error(bad):
    with pytest.raises(ConfigError, match="split must be one of train, valid, test"):
        corpus.load_corpus(bad)
