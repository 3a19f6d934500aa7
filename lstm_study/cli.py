"""The ``lstm-study`` command line: ``lstm-study fetch ...`` and ``lstm-study backtest ...``.

Each subcommand lives beside the code it drives (``lstm_study.data.commands``,
``lstm_study.forecast.commands``) and registers itself here.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from lstm_study.errors import LSTMStudyError

# module path -> name of its `register(subparsers)` function
SUBCOMMAND_MODULES = ("lstm_study.data.commands", "lstm_study.forecast.commands")


def build_parser() -> argparse.ArgumentParser:
    """Return the top-level parser with every available subcommand registered."""
    parser = argparse.ArgumentParser(prog="lstm-study", description="Tools behind the book 'A Study on LSTM'.")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module_name in SUBCOMMAND_MODULES:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as error:
            if error.name != module_name and not module_name.startswith(str(error.name)):
                raise
            continue
        module.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the process exit code (0 ok, 1 failure, 2 usage)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.handler(args) or 0)
    except LSTMStudyError as error:
        print(f"lstm-study {args.command}: error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"lstm-study {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
