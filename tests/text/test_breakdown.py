"""Where the bits go: positions match position_losses, labels match the text, means are right."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lstm_study.errors import ConfigError
from lstm_study.text.breakdown import bits_by_kind, character_kinds, target_positions
from lstm_study.text.model import CharLSTM, position_losses
from lstm_study.text.vocab import Vocabulary

TEXT = "**ROMEO**\nBut soft, what light!\n**JULIET**\nAy me.\n"


def test_target_positions_are_the_characters_position_losses_scores():
    vocab = Vocabulary(tuple(sorted(set(TEXT))))
    codes = vocab.encode(TEXT)
    model = CharLSTM(len(vocab), hidden_size=4).eval()
    losses = position_losses(model, codes, batch_size=3, window=5)
    positions = target_positions(len(codes), 3)
    assert positions.shape == losses.shape
    # each stream's targets are the text after its first character, in order
    stream = len(codes) // 3
    assert positions[1, 0] == stream + 1 and positions[2, -1] == 3 * stream - 1
    assert len(set(positions.ravel())) == positions.size


def test_too_short_a_text_is_refused():
    with pytest.raises(ConfigError):
        target_positions(5, 3)


def test_kinds_label_the_text_as_read():
    kinds = character_kinds(TEXT)
    picked = {k: "".join(np.array(list(TEXT))[m]) for k, m in kinds.items()}
    assert picked["a speaker's name"] == "ROMEOJULIET"
    assert picked["1st letter of a word"] == "RBswlJAm"
    assert picked["3rd letter"] == "MtfagL"
    assert picked["2nd letter"] == "OuohiUye"
    assert picked["4th letter or later"] == "EOtthtIET"
    assert picked["punctuation"] == ",!."
    assert picked["space or line end"].count("\n") == 4
    # every character but the stars has one kind of the word kinds, spaces or punctuation
    word_kinds = [k for k in kinds if k != "a speaker's name"]
    counted = sum(kinds[k].astype(int) for k in word_kinds)
    stars = np.array(list(TEXT)) == "*"
    assert (counted[~stars] == 1).all() and (counted[stars] == 0).all()


def test_bits_by_kind_averages_each_model_over_each_kind():
    text = "ab ab"
    kinds = {
        "a": np.array([c == "a" for c in text]),
        "b": np.array([c == "b" for c in text]),
    }
    positions = np.array([[1, 2, 3, 4]])
    bits = {"m": torch.tensor([[1.0, 2.0, 3.0, 5.0]]).numpy()}
    table = bits_by_kind(kinds, bits, positions)
    assert table.loc["a", "m"] == 3.0 and table.loc["b", "m"] == 3.0
    assert table.loc["all characters", "m"] == 2.75
    assert table.loc["a", "share of characters"] == 0.25
