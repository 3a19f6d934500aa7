"""Interpolated Kneser-Ney: proper distributions, the unigram at order 1, and better with context."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from lstm_study.errors import ConfigError
from lstm_study.text.ngram import KneserNey, best_order, unigram_entropy
from lstm_study.text.vocab import Vocabulary

TEXT = "the cat sat on the mat. the dog sat on the log. " * 20 + "a rat ate the hat."
VOCAB = Vocabulary.build(TEXT, min_count=1)


@pytest.fixture(scope="module")
def model():
    return KneserNey(len(VOCAB), max_order=4, pad=VOCAB.encode(" ").item()).fit(
        VOCAB.encode(TEXT)
    )


@pytest.mark.parametrize("order", [1, 2, 3, 4])
@pytest.mark.parametrize("context", ["", "th", "at", "zq", "e d", "hat"])
def test_every_conditional_distribution_sums_to_one(model, order, context):
    total = 0.0
    for code in range(len(VOCAB)):
        codes = np.append(VOCAB.encode(context).numpy(), code)
        total += model.probabilities(codes, order)[-1]
    assert total == pytest.approx(1.0, abs=1e-9)


def test_order_one_is_close_to_the_unigram_entropy(model):
    codes = VOCAB.encode(TEXT)
    assert model.bits_per_character(codes, 1) == pytest.approx(
        unigram_entropy(codes, len(VOCAB)), abs=0.02
    )


def test_context_helps_on_repetitive_text(model):
    codes = VOCAB.encode(TEXT)
    scores = [model.bits_per_character(codes, k) for k in range(1, 5)]
    assert scores == sorted(scores, reverse=True) and scores[-1] < 0.5 * scores[0]
    order, by_order = best_order(model, codes)
    assert by_order[order] == min(by_order.values())


def test_unknown_codes_get_a_small_positive_probability(model):
    p = model.probabilities(torch.tensor([0, 0, 0]), 4)
    assert (
        (p > 0).all() and (p < 0.05).all() and all(math.isfinite(x) for x in np.log2(p))
    )


def test_scoring_before_fitting_or_with_foreign_codes_is_an_error():
    with pytest.raises(ConfigError, match="fit"):
        KneserNey(5).probabilities(np.array([1, 2]), 1)
    fitted = KneserNey(5, max_order=2).fit(np.array([1, 2, 3]))
    with pytest.raises(ConfigError, match="codes must lie"):
        fitted.probabilities(np.array([7]), 1)
