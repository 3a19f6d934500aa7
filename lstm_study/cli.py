"""The ``lstm-study`` command line: ``lstm-study fetch ...`` and ``lstm-study backtest ...``.

Each subcommand lives beside the code it drives (``lstm_study.data.commands``,
``lstm_study.forecast.commands``) and registers itself here.
"""

from __future__ import annotations

import argparse
import importlib
import signal
import sys
import threading
from collections.abc import Sequence

from lstm_study.errors import LSTMStudyError

# module path -> name of its `register(subparsers)` function
SUBCOMMAND_MODULES = (
    "lstm_study.data.commands",
    "lstm_study.forecast.commands",
    "lstm_study.experiments.ablation",
    "lstm_study.experiments.adding",
    "lstm_study.forecast.tuning",
    "lstm_study.text.commands",
)


def build_parser() -> argparse.ArgumentParser:
    """Return the top-level parser with every available subcommand registered."""
    parser = argparse.ArgumentParser(
        prog="lstm-study", description="Tools behind the book 'A Study on LSTM'."
    )
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module_name in SUBCOMMAND_MODULES:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as error:
            if error.name != module_name and not module_name.startswith(
                str(error.name)
            ):
                raise
            continue
        module.register(subparsers)
    return parser


#: the longest error line printed: a message never echoes a megabyte of input
MESSAGE_LIMIT = 500


def _say(command: str, text: str) -> None:
    """Print one line of error to stderr, cut to :data:`MESSAGE_LIMIT` characters."""
    line = " ".join(str(text).split())
    if len(line) > MESSAGE_LIMIT:
        line = line[: MESSAGE_LIMIT - 20] + f"... ({len(line):,} characters)"
    print(f"lstm-study {command}: {line}", file=sys.stderr)


_interrupted = False


def _interrupt(signum: int, frame: object) -> None:
    """Ctrl-C and SIGTERM end the command: cleanup runs, no temporary file is left behind."""
    global _interrupted
    _interrupted = True
    raise KeyboardInterrupt


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the process exit code (0 ok, 1 failure, 2 usage, 130 interrupted).

    Every failure ends with one line naming the problem and what to do. Errors the tool
    foresees (``LSTMStudyError``, file-system errors, running out of memory) never show a
    traceback; an unexpected error does only with ``--debug``.
    """
    command = "command"
    global _interrupted
    _interrupted = False
    in_main_thread = threading.current_thread() is threading.main_thread()
    signals = (signal.SIGINT, signal.SIGTERM)
    previous = (
        {number: signal.signal(number, _interrupt) for number in signals}
        if in_main_thread
        else {}
    )
    try:
        parser = (
            build_parser()
        )  # imports the subcommands (and torch): Ctrl-C may come already
        parser.add_argument(
            "--debug",
            action="store_true",
            help="show the full traceback of an unexpected error",
        )
        args = parser.parse_args(argv)
        command = args.command
        return int(args.handler(args) or 0)
    except KeyboardInterrupt:
        _say(command, "interrupted")
        return 130
    except LSTMStudyError as error:
        _say(command, f"error: {error}")
        return 1
    except MemoryError:
        _say(
            command,
            "error: out of memory; use a shorter series or smaller settings (--seeds, --lookback)",
        )
        return 1
    except OSError as error:
        where = f" ({error.filename})" if getattr(error, "filename", None) else ""
        _say(command, f"error: {error.strerror or error}{where}")
        return 1
    except Exception as error:  # noqa: BLE001 - the last line of defence against a traceback
        if (
            _interrupted
        ):  # Ctrl-C while a library imported turns into its ImportError, say
            _say(command, "interrupted")
            return 130
        if "args" in locals() and getattr(args, "debug", False):
            raise
        _say(
            command,
            f"unexpected error: {type(error).__name__}: {error} (run again with --debug for the traceback)",
        )
        return 1
    finally:
        for number, handler in previous.items():
            signal.signal(
                number, handler
            )  # a caller's own handlers (a notebook's kernel) come back


if __name__ == "__main__":
    sys.exit(main())
