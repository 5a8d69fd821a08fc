"""``deltaset rebuild-catalog``: recover the catalog from storage alone."""

from __future__ import annotations

import argparse
from typing import Any

from deltaset.cli import options
from deltaset.cli.app import App
from deltaset.engine.context import default_context
from deltaset.engine.rebuild import rebuild_catalog


def register(sub: Any) -> None:
    parser = sub.add_parser(
        "rebuild-catalog", help="re-import every final version found in a storage"
    )
    options.add_storage(parser)
    options.add_output(parser)
    parser.set_defaults(handler=run)


def run(app: App, args: argparse.Namespace) -> None:
    count = rebuild_catalog(default_context(), args.storage)
    app.say(f"{count} version{'' if count == 1 else 's'} imported into the catalog")
