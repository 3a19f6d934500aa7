"""The ``lstm-study`` command line: ``lstm-study fetch ...`` and ``lstm-study backtest ...``.

Each subcommand lives beside the code it drives (``lstm_study.data.commands``,
``lstm_study.forecast.commands``) and registers itself here.
"""

from __future__ import annotations

import argparse
import importlib
import os
import signal
import sys
import threading
from collections.abc import Sequence

from lstm_study.arguments import Parser, for_cli
from lstm_study.errors import LSTMStudyError
from lstm_study.files import signals_held

DEBUG_HELP = "show the full traceback of an unexpected error"

# module path -> name of its `register(subparsers)` function
SUBCOMMAND_MODULES = (
    "lstm_study.data.commands",
    "lstm_study.forecast.commands",
    "lstm_study.experiments.ablation",
    "lstm_study.experiments.adding",
    "lstm_study.forecast.tuning",
    "lstm_study.text.commands",
    "lstm_study.experiments.after_lstm",
)


def build_parser() -> argparse.ArgumentParser:
    """Return the top-level parser with every available subcommand registered.

    ``--debug`` is accepted before the subcommand and after it (every error line offers it).
    """
    parser = Parser(
        prog="lstm-study", description="Tools behind the book 'A Study on LSTM'."
    )
    parser.add_argument("--debug", action="store_true", help=DEBUG_HELP)
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
    for subparser in subparsers.choices.values():
        # SUPPRESS: absent after the subcommand, it leaves the top level's value alone
        subparser.add_argument(
            "--debug", action="store_true", default=argparse.SUPPRESS, help=DEBUG_HELP
        )
    return parser


#: the longest error line printed: a message never echoes a megabyte of input
MESSAGE_LIMIT = 500


def _say(command: str, text: str) -> None:
    """Print one line of error to stderr, cut to :data:`MESSAGE_LIMIT` characters."""
    line = " ".join(for_cli(str(text)).split())
    if len(line) > MESSAGE_LIMIT:
        line = line[: MESSAGE_LIMIT - 20] + f"... ({len(line):,} characters)"
    print(f"lstm-study {command}: {line}", file=sys.stderr)


_interrupted = False
SIGNALS = (signal.SIGINT, signal.SIGTERM)
#: what torch and the C++ allocator say when memory runs out
OUT_OF_MEMORY = ("can't allocate memory", "bad_alloc", "alloc_cpu.cpp", "out of memory")


def _interrupt(signum: int, frame: object) -> None:
    """Ctrl-C and SIGTERM end the command: cleanup runs, no temporary file is left behind."""
    global _interrupted
    _interrupted = True
    raise KeyboardInterrupt


def _command_in(argv: Sequence[str]) -> str:
    """The subcommand's name as typed (before the parser exists): the first word not an option."""
    for word in argv:
        if not word.startswith("-"):
            return word[:40]
    return "command"


def _ended(signum: int, frame: object) -> None:
    """A signal that comes after the program's command ended: exit 130 at once, quietly."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(130)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the process exit code (0 ok, 1 failure, 2 usage, 130 interrupted).

    Every failure ends with one line naming the problem and what to do. Errors the tool
    foresees (``LSTMStudyError``, file-system errors, running out of memory) never show a
    traceback; an unexpected error does only with ``--debug``.

    Called with ``argv`` (from Python: a notebook, a test), it gives the caller's signal
    handlers back when it returns. Called without (the ``lstm-study`` program), a signal that
    comes after the command ended exits with 130 at once: the program is over, and a second
    KeyboardInterrupt at exit would otherwise end it with a traceback and status -2.
    """
    as_program = argv is None
    argv = sys.argv[1:] if argv is None else list(argv)
    command = _command_in(argv)
    global _interrupted
    _interrupted = False
    in_main_thread = threading.current_thread() is threading.main_thread()
    with signals_held():
        previous = (
            {number: signal.signal(number, _interrupt) for number in SIGNALS}
            if in_main_thread
            else {}
        )
    try:
        # imports the subcommands (and torch): Ctrl-C may come already
        parser = build_parser()
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
        _say(command, OUT_OF_MEMORY_LINE)
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
        if isinstance(error, RuntimeError) and any(
            text in str(error) for text in OUT_OF_MEMORY
        ):
            _say(command, OUT_OF_MEMORY_LINE)
            return 1
        _say(
            command,
            f"unexpected error: {type(error).__name__}: {error} (run again with --debug for the traceback)",
        )
        return 1
    finally:
        with signals_held():  # a signal now waits for the handler that follows
            for number, handler in previous.items():
                # the program's own end; or a caller's handlers (a notebook's kernel) come back
                signal.signal(number, _ended if as_program else handler)


OUT_OF_MEMORY_LINE = (
    "error: out of memory; use a shorter series or smaller settings "
    "(fewer --seeds, a smaller --lookback, --hidden-size or --batch-size)"
)


if __name__ == "__main__":
    sys.exit(main())
