"""Character n-gram language models with interpolated Kneser-Ney smoothing: the baselines to beat.

An order-n model predicts a character from the n - 1 before it. Interpolated Kneser-Ney
(Kneser and Ney, 1995; in the interpolated form of Chen and Goodman, 1999) subtracts a discount
``D`` from every seen count and gives the mass freed to the next lower order:

    P_k(c | h) = max(N_k(h c) - D_k, 0) / N_k(h .) + D_k T_k(h) / N_k(h .) * P_{k-1}(c | h')

where h' is h without its first character, N_k is the raw count at the highest order and the
*continuation* count (how many distinct characters precede the k-gram) below it, N_k(h .) sums
N_k(h c) over c, T_k(h) counts the c with N_k(h c) > 0, and P_0 is uniform over the vocabulary.
A context never seen passes the whole probability down. D_k = n_1 / (n_1 + 2 n_2) from the
numbers of k-grams counted once and twice (Ney, Essen and Kneser, 1994). Order 1 is the unigram.

Everything is counted with NumPy: a k-gram is one integer (its codes in base ``vocab_size``),
tables are sorted arrays of those integers, and lookups are binary searches.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
from torch import Tensor

from lstm_study.errors import ConfigError, check_int

#: the highest order whose k-grams fit one int64 for any vocabulary of up to 150 codes
MAX_ORDER = 8


@dataclass(frozen=True)
class _Table:
    """Sorted k-gram keys with their counts, and per context (the key without its last code) sums."""

    keys: np.ndarray
    counts: np.ndarray
    contexts: np.ndarray
    context_totals: np.ndarray
    context_types: np.ndarray
    discount: float


def _all_keys(codes: np.ndarray, max_order: int, base: int) -> dict[int, np.ndarray]:
    """For every k up to ``max_order``, the k-gram ending at each position ``k - 1 .. len - 1``
    as one integer: each order's keys from the order below (one multiply-add per order)."""
    keys = {1: codes.astype(np.int64, copy=True)}
    for k in range(2, min(max_order, codes.size) + 1):
        keys[k] = keys[k - 1][:-1] * base + codes[k - 1 :]
    return keys


def _table(keys: np.ndarray, counts: np.ndarray, base: int) -> _Table:
    """Group sorted ``keys`` by context and pick the discount from the count-of-counts."""
    prefix = keys // base
    contexts, starts = np.unique(prefix, return_index=True)
    totals = np.add.reduceat(counts, starts)
    types = np.diff(np.append(starts, keys.size))
    n1, n2 = int((counts == 1).sum()), int((counts == 2).sum())
    discount = n1 / (n1 + 2 * n2) if n1 + n2 > 0 else 0.5
    return _Table(keys, counts, contexts, totals, types, discount)


def _lookup(
    keys: np.ndarray, query: np.ndarray, *values: np.ndarray
) -> tuple[np.ndarray, ...]:
    """Each of ``values`` at the positions of ``query`` in the sorted ``keys``; 0 where a query
    is absent (one binary search shared by all the ``values``)."""
    if keys.size == 0:
        return tuple(np.zeros(query.size, dtype=np.int64) for _ in values)
    where = np.minimum(np.searchsorted(keys, query), keys.size - 1)
    found = keys[where] == query
    return tuple(np.where(found, value[where], 0) for value in values)


class KneserNey:
    """Interpolated Kneser-Ney character models of every order from 1 to ``max_order``, fitted once."""

    def __init__(self, vocab_size: int, max_order: int = 6, pad: int = 0) -> None:
        check_int("vocab_size", vocab_size, minimum=2, maximum=150)
        check_int("max_order", max_order, maximum=MAX_ORDER)
        self.vocab_size, self.max_order, self.pad = vocab_size, max_order, pad
        self.raw: dict[int, _Table] = {}
        self.continuation: dict[int, _Table] = {}

    def _padded(self, codes: Tensor | np.ndarray) -> np.ndarray:
        """The codes as int64, after ``max_order - 1`` pad codes (the context of the first character)."""
        array = np.asarray(codes, dtype=np.int64)
        if array.size and (array.min() < 0 or array.max() >= self.vocab_size):
            raise ConfigError(
                f"codes must lie in [0, {self.vocab_size}); encode text with the same vocabulary"
            )
        return np.concatenate(
            [np.full(self.max_order - 1, self.pad, dtype=np.int64), array]
        )

    def fit(self, codes: Tensor | np.ndarray) -> KneserNey:
        """Count every k-gram of the training ``codes`` (raw counts and continuation counts)."""
        data, base = self._padded(codes), self.vocab_size
        grams = _all_keys(data, self.max_order, base)
        for k in range(1, self.max_order + 1):
            keys, counts = np.unique(grams.pop(k), return_counts=True)
            self.raw[k] = _table(keys, counts, base)
            if k >= 2:
                # continuation count of a (k-1)-gram: distinct characters seen before it
                suffixes, follow = np.unique(keys % base ** (k - 1), return_counts=True)
                self.continuation[k - 1] = _table(suffixes, follow, base)
        return self

    def probabilities(self, codes: Tensor | np.ndarray, order: int) -> np.ndarray:
        """P(c_t | the order - 1 codes before it) for every position t of ``codes``."""
        check_int("order", order, maximum=self.max_order)
        return self._scan(codes, order, (order,))[order]

    def probabilities_by_order(
        self, codes: Tensor | np.ndarray, max_order: int | None = None
    ) -> dict[int, np.ndarray]:
        """:meth:`probabilities` of every order from 1 to ``max_order`` (default: all fitted).

        One pass: the orders share the lower levels (continuation counts), so each level is
        looked up once, and each order adds its top level (raw counts) on them.
        """
        max_order = self.max_order if max_order is None else max_order
        check_int("max_order", max_order, maximum=self.max_order)
        return self._scan(codes, max_order, range(1, max_order + 1))

    def _scan(
        self, codes: Tensor | np.ndarray, max_order: int, orders: Iterable[int]
    ) -> dict[int, np.ndarray]:
        """The probabilities of ``orders``, walking the levels up to ``max_order`` once."""
        if not self.raw:
            raise ConfigError("fit the model on training codes before scoring")
        wanted = set(orders)
        data, base = self._padded(codes), self.vocab_size
        n = data.size - (self.max_order - 1)
        if n == 0:
            return {k: np.ones(0) for k in sorted(wanted)}
        grams = _all_keys(data, max_order, base)
        lower, out = np.full(n, 1.0 / base), {}
        for k in range(1, max_order + 1):
            gram = grams[k][-n:]
            if k in wanted:
                out[k] = self._level(self.raw[k], gram, lower)
            if k < max_order:
                lower = self._level(self.continuation[k], gram, lower)
        return out

    def _level(self, table: _Table, grams: np.ndarray, lower: np.ndarray) -> np.ndarray:
        """One level of the interpolation: the table's discounted counts over ``lower``."""
        context = grams // self.vocab_size
        (count,) = _lookup(table.keys, grams, table.counts)
        total, types = _lookup(
            table.contexts, context, table.context_totals, table.context_types
        )
        seen = total > 0
        safe = np.where(seen, total, 1)
        smoothed = (
            np.maximum(count - table.discount, 0) / safe
            + table.discount * types / safe * lower
        )
        return np.where(seen, smoothed, lower)

    def bits_per_character(self, codes: Tensor | np.ndarray, order: int) -> float:
        """Mean -log2 P of ``codes`` under the order-``order`` model."""
        return float(-np.log2(self.probabilities(codes, order)).mean())

    def bits_by_order(
        self, codes: Tensor | np.ndarray, max_order: int | None = None
    ) -> dict[int, float]:
        """:meth:`bits_per_character` of every order from 1 to ``max_order``, in one pass."""
        return {
            k: float(-np.log2(p).mean())
            for k, p in self.probabilities_by_order(codes, max_order).items()
        }


def best_order(
    model: KneserNey, valid: Tensor | np.ndarray
) -> tuple[int, dict[int, float]]:
    """The order with the lowest bits per character on ``valid``, and every order's figure."""
    scores = model.bits_by_order(valid)
    return min(scores, key=lambda k: (scores[k], k)), scores


def unigram_entropy(codes: Tensor | np.ndarray, vocab_size: int) -> float:
    """Entropy in bits of the code frequencies of ``codes`` (a unigram scored on its own text)."""
    counts = np.bincount(np.asarray(codes, dtype=np.int64), minlength=vocab_size)
    share = counts[counts > 0] / counts.sum()
    return float(-(share * np.log2(share)).sum()) if share.size else math.nan
