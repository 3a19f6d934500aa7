"""What every ``lstm-study`` subcommand shares in reading its arguments.

- :class:`Parser`: argparse's parser, but a usage error is one line that names the argument
  and points to ``--help``, not the whole usage block.
- :data:`LIMITS`: the one table of bounds for the counts the commands take (seeds, steps,
  sizes, lengths). A count is read by :func:`count`, which refuses a value outside its bounds
  while the arguments are read, before any work: a typo of three extra zeros costs nothing,
  not 24 GB and the out-of-memory killer.
- :func:`for_cli`: a message from the library, with its Python spellings turned into the
  command line's (``source='snapshot'`` becomes ``--source snapshot``).
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from collections.abc import Callable
from typing import NoReturn

#: option -> (smallest, largest) value: generous for any real use, small enough that a
#: mistyped value is refused before it exhausts the machine
LIMITS: dict[str, tuple[int, int]] = {
    # ablate (backtest, forecast and tune check theirs in their configurations, to 100 too)
    "--seeds": (1, 100),
    # train-text
    "--hidden-size": (1, 4096),
    "--layers": (1, 16),
    "--steps": (1, 10_000_000),
    "--batch-size": (1, 4096),
    "--window": (1, 10_000),
    "--eval-every": (1, 10_000_000),
    "--warmup": (0, 10_000_000),
    "--checkpoint-every": (1, 10_000_000),
    # generate
    "--length": (1, 100_000),
    # any command's seed: NumPy takes 0 to 2**32 - 1
    "--seed": (0, 2**32 - 1),
}

#: the longest prompt ``generate`` reads (characters); the prompt is fed in pieces, so memory
#: does not grow with it, but time does (10,000 characters took 0.3 s and 6 MB more than 5
#: characters on a shared 2-core machine, 2026-12)
PROMPT_LIMIT = 10_000


def available_cores() -> int:
    """The processor cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


def _whole_number(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a whole number, got {text[:40]!r}"
        ) from None


def count(option: str) -> Callable[[str], int]:
    """An argparse type: a whole number within ``LIMITS[option]``."""
    low, high = LIMITS[option]

    def parse(text: str) -> int:
        value = _whole_number(text)
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(
                f"must be from {low:,} to {high:,}, got {value:,}"
            )
        return value

    parse.__name__ = "count"  # argparse names the type in its own messages
    return parse


def threads(text: str) -> int:
    """An argparse type: a thread count from 1 to the cores this process may use."""
    cores = available_cores()
    value = _whole_number(text)
    if not 1 <= value <= cores:
        raise argparse.ArgumentTypeError(
            f"must be from 1 to {cores}, the cores this machine gives the process; "
            f"got {value:,} (more threads than cores only wait on each other)"
        )
    return value


class Parser(argparse.ArgumentParser):
    """An argument parser whose usage errors are one line: what is wrong, and where help is."""

    def error(self, message: str) -> NoReturn:
        """Print ``PROG: usage error: MESSAGE; see PROG --help`` and exit with status 2."""
        line = " ".join(message.split())
        if len(line) > 300:
            line = line[:280] + f"... ({len(line):,} characters)"
        print(
            f"{self.prog}: usage error: {line}; see `{self.prog} --help`",
            file=sys.stderr,
        )
        sys.exit(2)


_PYTHON_SPELLINGS = (
    (re.compile(r"source='(\w+)' \(CLI: --source \1\)"), r"--source \1"),
    (re.compile(r"(?:use|with|Pass) source='(\w+)'"), r"use --source \1"),
)


def for_cli(text: str) -> str:
    """``text`` with the library's Python spellings turned into the command line's."""
    for pattern, replacement in _PYTHON_SPELLINGS:
        text = pattern.sub(replacement, text)
    return text
