"""The character vocabulary: characters <-> integer codes, with one code for unknown characters."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import torch
from torch import Tensor

from lstm_study.errors import ConfigError, check_int

#: how an unknown character is shown when codes are decoded
UNKNOWN = "\ufffd"


@dataclass(frozen=True)
class Vocabulary:
    """The characters a model knows; code 0 stands for every other character."""

    chars: tuple[str, ...]

    @classmethod
    def build(cls, text: str, min_count: int = 20) -> Vocabulary:
        """The characters seen at least ``min_count`` times in ``text``, sorted.

        Rarer characters (digits, a stray ``$``) share the unknown code, so a model learns a small
        probability for it in training and meets an unseen character in held-out text with that
        probability rather than with none.
        """
        check_int("min_count", min_count)
        counts = Counter(text)
        return cls(tuple(sorted(c for c, n in counts.items() if n >= min_count)))

    def __post_init__(self) -> None:
        if len(set(self.chars)) != len(self.chars) or any(
            len(c) != 1 for c in self.chars
        ):
            raise ConfigError(
                "a vocabulary's characters must be distinct single characters"
            )
        object.__setattr__(self, "_index", {c: n + 1 for n, c in enumerate(self.chars)})

    def __len__(self) -> int:
        """The number of codes: the known characters and the unknown one."""
        return len(self.chars) + 1

    def __contains__(self, char: object) -> bool:
        return char in self._index  # type: ignore[attr-defined]

    def unknown_in(self, text: str) -> list[str]:
        """The distinct characters of ``text`` outside the vocabulary, in order of appearance."""
        return list(dict.fromkeys(c for c in text if c not in self))

    def encode(self, text: str) -> Tensor:
        """The codes of ``text`` (int64, shape (len(text),)); unknown characters become 0."""
        index = self._index  # type: ignore[attr-defined]
        return torch.tensor([index.get(c, 0) for c in text], dtype=torch.long)

    def decode(self, codes: Tensor | list[int]) -> str:
        """The text of ``codes``; code 0 shows as U+FFFD."""
        table = (UNKNOWN, *self.chars)
        return "".join(table[int(n)] for n in codes)
