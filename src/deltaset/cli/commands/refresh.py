"""``deltaset refresh``: pick up now the versions other machines wrote to the shared storages."""

from __future__ import annotations

import argparse
from typing import Any

from deltaset.api import sharing
from deltaset.cli import options
from deltaset.cli.app import App
from deltaset.errors import StorageError


def register(sub: Any) -> None:
    parser = sub.add_parser(
        "refresh",
        help="import the versions other machines wrote to the storages this catalog knows",
        description="Import the final versions other machines wrote since the last look to "
        "the storages this machine's catalog knows (those its versions live in, and the "
        "default storage), or to --storage: one listing of each, no record read twice. "
        "Commands that look versions up do this on their own every discover-interval "
        "seconds. Example: deltaset refresh --storage s3://team-bucket/datasets",
    )
    options.add_storage(parser)
    options.add_output(parser, json=True)
    parser.set_defaults(handler=run)


def run(app: App, args: argparse.Namespace) -> None:
    reports = sharing.refresh(args.storage)
    if app.as_json:
        app.data([r.to_dict() for r in reports])
    for report in reports:
        count = len(report.imported)
        if not app.as_json:
            app.say(f"{report.storage}: {count} new version{'' if count == 1 else 's'}")
        for skipped in report.skipped:
            app.problem(f"skipped {skipped.id}: {skipped.reason}")
        if report.error is not None:
            app.problem(f"cannot read {report.storage}: {report.error}")
    failed = [r.storage for r in reports if r.error is not None or r.skipped]
    if failed:
        raise StorageError(
            f"Not every new version could be imported from {', '.join(failed)} "
            "(each problem is named above)."
        )
