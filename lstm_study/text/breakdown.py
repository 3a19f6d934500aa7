"""Where a language model's bits go: its loss on each kind of character, beside another model's.

A model's bits per character is an average over very different characters: the first letter of
a word is hard, the last letters of a long word are nearly given, a speaker's name depends on
who is on stage. :func:`character_kinds` labels every character of a text from the Markdown
alone, and :func:`bits_by_kind` averages two models' per-character bits over each label, on the
same characters.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from lstm_study.errors import ConfigError, check_int
from lstm_study.text.units import text_features


def target_positions(length: int, batch_size: int) -> np.ndarray:
    """Where in the text each character scored by ``position_losses`` sits.

    :func:`lstm_study.text.model.position_losses` cuts ``length`` codes into ``batch_size``
    streams of ``length // batch_size`` and scores every character of a stream but its first:
    the result has its shape, (batch_size, length // batch_size - 1), and holds text indices.
    """
    check_int("batch_size", batch_size)
    stream = length // batch_size
    if stream < 2:
        raise ConfigError(
            f"{length:,} characters are too few for {batch_size} streams of at least 2"
        )
    return np.arange(batch_size)[:, None] * stream + np.arange(1, stream)[None, :]


def _letters_so_far(text: str) -> np.ndarray:
    """For each character, how many letters in a row end at it (0 for a non-letter)."""
    run = np.zeros(len(text), dtype=np.int64)
    count = 0
    for n, char in enumerate(text):
        count = count + 1 if char.isalpha() else 0
        run[n] = count
    return run


def character_kinds(text: str) -> dict[str, np.ndarray]:
    """Boolean masks over ``text``: the place of a letter in its word, spaces and line ends,
    punctuation, and the characters of a speaker's name (``**NAME**``, stars excluded)."""
    run = _letters_so_far(text)
    chars = np.array(list(text))
    speaker = text_features(text)["inside a speaker's name"] > 0
    star = chars == "*"
    return {
        "1st letter of a word": run == 1,
        "2nd letter": run == 2,
        "3rd letter": run == 3,
        "4th letter or later": run >= 4,
        "space or line end": (chars == " ") | (chars == "\n"),
        "punctuation": ~np.char.isalpha(chars)
        & (chars != " ")
        & (chars != "\n")
        & ~star,
        "a speaker's name": speaker & ~star,
    }


def bits_by_kind(
    kinds: dict[str, np.ndarray], bits: dict[str, np.ndarray], positions: np.ndarray
) -> pd.DataFrame:
    """Mean bits of each model on each kind of character, over the scored ``positions``.

    ``bits`` maps a model's name to its bits at ``positions`` (same shape); ``kinds`` holds
    masks over the whole text. One row per kind: its share of the scored characters and each
    model's mean bits; a last row, "all characters", holds the overall means.
    """
    flat = positions.ravel()
    rows = {}
    for kind, mask in {**kinds, "all characters": None}.items():
        chosen = np.ones(flat.size, bool) if mask is None else mask[flat]
        if not chosen.any():
            raise ConfigError(f"no scored character is of the kind {kind!r}")
        rows[kind] = {"share of characters": chosen.mean()} | {
            name: float(np.asarray(values).ravel()[chosen].mean())
            for name, values in bits.items()
        }
    return pd.DataFrame.from_dict(rows, orient="index")
