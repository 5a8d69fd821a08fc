"""Entry point of the ``deltaset`` command: parse, run one command, turn errors into exit codes."""

from __future__ import annotations

import argparse
import gc
import logging
import os
import sys
from collections.abc import Sequence
from typing import Any, NoReturn

from deltaset import __version__
from deltaset.cli import allocator, commands, examples, options
from deltaset.cli.app import App
from deltaset.cli.escapes import EscapingFormatter, escaped
from deltaset.core import paths
from deltaset.engine.context import default_context
from deltaset.errors import DeltasetError, shown
from deltaset.extras import missing_extra

DEBUG_ENV = "DELTASET_DEBUG"


class _Parser(argparse.ArgumentParser):
    """Usage mistakes are one ``error:`` line and exit code 1, like every other failure."""

    def error(self, message: str) -> NoReturn:
        self.exit(1, f"error: {escaped(message)} (see '{self.prog} --help').\n")

    def _get_value(self, action: argparse.Action, arg_string: str) -> Any:
        # Every argument passes here (a sub-command's arguments first as its parser's, then as
        # its own): names, ids and tags must be text; local paths need not be.
        local = action.type in options.NAMES_OF_FILES or action.nargs == argparse.PARSER
        if not local and not paths.is_text(arg_string):
            raise argparse.ArgumentError(
                action, f"{shown(arg_string)} is not UTF-8 text (it holds undecodable bytes)"
            )
        return super()._get_value(action, arg_string)


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser of every command, or of ``command`` alone (what running it needs)."""
    parser = _Parser(
        prog="deltaset",
        description="Dataset version control for machine learning (ClearML Data compatible).",
    )
    parser.add_argument("--version", action="version", version=f"deltaset {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    known = command if command in commands.BY_NAME else None
    for module in [commands.module_of(known)] if known else commands.every_module():
        module.register(sub)
    examples.attach(parser)
    return parser


def main(argv: Sequence[str] | None = None) -> None:
    # The program's process only: the library, inside a user's process, leaves it as it was.
    allocator.tune()
    given = list(sys.argv[1:] if argv is None else argv)
    args = build_parser(given[0] if given else None).parse_args(given)
    # What the imports made lives as long as the process: frozen, it is no longer walked by
    # every collection the command's own work triggers (a few percent of a short command).
    gc.freeze()
    # On deltaset's own logger, so the API's verbose reporting finds it and adds no second one.
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(EscapingFormatter("%(message)s"))
    log = logging.getLogger("deltaset")
    log.addHandler(handler)
    log.setLevel(logging.INFO if getattr(args, "verbose", False) else logging.WARNING)
    sys.exit(run(args))


def run(args: argparse.Namespace) -> int:
    try:
        app = App(args)
        default_context().progress = app.progress()
        args.handler(app, args)
    except DeltasetError as exc:
        print(f"error: {escaped(str(exc))}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("error: interrupted; nothing final was changed.", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
    except Exception as exc:
        needed = missing_extra(exc) if isinstance(exc, ImportError) else None
        if needed is not None:  # a module of an extra that is not installed
            print(f"error: {escaped(str(needed))}", file=sys.stderr)
            return needed.exit_code
        if os.environ.get(DEBUG_ENV):
            raise
        what = escaped(f"{type(exc).__name__}: {exc}")
        print(
            f"internal error: {what}; rerun with {DEBUG_ENV}=1 for details.",
            file=sys.stderr,
        )
        return 2
    return 0
