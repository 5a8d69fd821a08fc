"""``deltaset rebuild-catalog``: recover the catalog from storage alone."""

from __future__ import annotations

import argparse
from typing import Any

from deltaset.cli import options
from deltaset.cli.app import App
from deltaset.engine.context import default_context
from deltaset.engine.rebuild import rebuild_catalog
from deltaset.errors import StorageError


def register(sub: Any) -> None:
    parser = sub.add_parser(
        "rebuild-catalog", help="re-import every final version found in a storage"
    )
    options.add_storage(parser)
    options.add_output(parser, json=True)
    parser.set_defaults(handler=run)


def run(app: App, args: argparse.Namespace) -> None:
    report = rebuild_catalog(default_context(), args.storage)
    count, skipped = report.imported, len(report.skipped)
    if app.as_json:
        app.data(report.to_dict())
    else:
        app.say(f"{count} version{'' if count == 1 else 's'} imported into the catalog")
        for version in report.skipped:  # on stderr, even with --quiet: each is a problem
            app.problem(f"skipped {version.id}: {version.reason}")
    if skipped:
        raise StorageError(
            f"{skipped} version{'' if skipped == 1 else 's'} found in {report.storage} could "
            "not be imported (each is named above with the reason)."
        )
