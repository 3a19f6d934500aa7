"""Interpolated Kneser-Ney: proper distributions, the unigram at order 1, and better with context."""

from __future__ import annotations

import math
from collections import Counter

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


def _naive_probability(
    train: list[int], history: list[int], code: int, order: int, vocab_size: int
) -> float:
    """Interpolated Kneser-Ney of one character, from Python counters: the formula as written."""
    raw = {
        k: Counter(tuple(train[i - k + 1 : i + 1]) for i in range(k - 1, len(train)))
        for k in range(1, order + 1)
    }

    def table(k: int, top: bool) -> Counter:
        if top:
            return raw[k]
        return Counter(gram[1:] for gram in raw[k + 1])  # distinct characters before it

    p = 1.0 / vocab_size
    for k in range(1, order + 1):
        counts = table(k, k == order)
        n1 = sum(v == 1 for v in counts.values())
        n2 = sum(v == 2 for v in counts.values())
        discount = n1 / (n1 + 2 * n2) if n1 + n2 else 0.5
        context = tuple(history[len(history) - (k - 1) :]) if k > 1 else ()
        following = {g: v for g, v in counts.items() if g[:-1] == context}
        total = sum(following.values())
        if total:
            seen = following.get((*context, code), 0)
            p = max(seen - discount, 0) / total + discount * len(following) / total * p
    return p


def test_every_order_in_one_pass_matches_the_formula_counted_by_hand():
    pad = VOCAB.encode(" ").item()
    model = KneserNey(len(VOCAB), max_order=4, pad=pad).fit(VOCAB.encode(TEXT))
    train = [pad] * 3 + VOCAB.encode(TEXT).tolist()
    query = VOCAB.encode("the rat sat on a dog hat, zq").tolist()
    by_order = model.probabilities_by_order(query)
    assert sorted(by_order) == [1, 2, 3, 4]
    padded = [pad] * 3 + query
    for order, p in by_order.items():
        expected = [
            _naive_probability(train, padded[t : t + 3], query[t], order, len(VOCAB))
            for t in range(len(query))
        ]
        assert p == pytest.approx(expected, rel=1e-12)
        assert np.array_equal(p, model.probabilities(query, order))
    bits = model.bits_by_order(query, max_order=3)
    assert list(bits) == [1, 2, 3]
    assert bits[3] == model.bits_per_character(query, 3)
    assert model.probabilities_by_order([])[4].size == 0
