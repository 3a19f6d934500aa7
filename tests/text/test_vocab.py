"""The character vocabulary: a round trip for known text, one code for everything unknown."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from lstm_study.errors import ConfigError
from lstm_study.text.vocab import UNKNOWN, Vocabulary

VOCAB = Vocabulary(tuple("\n abcdefghijklmnopqrstuvwxyzABC_*"))


@given(st.text(alphabet=VOCAB.chars))
def test_known_text_round_trips(text):
    codes = VOCAB.encode(text)
    assert codes.dtype == torch.long and codes.shape == (len(text),)
    assert VOCAB.decode(codes) == text
    assert (codes >= 1).all() and (codes < len(VOCAB)).all()


@given(st.text())
def test_any_text_encodes_without_error_and_unknowns_become_zero(text):
    codes = VOCAB.encode(text)
    assert len(codes) == len(text)
    assert [c == 0 for c in codes.tolist()] == [ch not in VOCAB for ch in text]
    assert VOCAB.decode(codes) == "".join(ch if ch in VOCAB else UNKNOWN for ch in text)


def test_build_keeps_characters_seen_often_enough():
    vocab = Vocabulary.build("aaab" + "c" * 5, min_count=3)
    assert vocab.chars == ("a", "c") and len(vocab) == 3
    assert vocab.unknown_in("abcd b") == ["b", "d", " "]


def test_a_vocabulary_refuses_repeated_or_long_symbols():
    with pytest.raises(ConfigError):
        Vocabulary(("a", "a"))
    with pytest.raises(ConfigError):
        Vocabulary(("ab",))
