"""``deltaset import-offline``: move what offline mode made into the configured catalog."""

from __future__ import annotations

import argparse
from typing import Any

from deltaset.api import sharing
from deltaset.cli import options
from deltaset.cli.app import App
from deltaset.cli.commands.transfer import WHERE, say_copies


def register(sub: Any) -> None:
    parser = sub.add_parser(
        "import-offline",
        help="import the versions made in offline mode into the configured catalog",
        description="Copy the versions an offline session made (DELTASET_OFFLINE=1) with their "
        "ids, lineage, tags and metadata into this machine's configured catalog and storage "
        "(the server's, with api-url), or --to another place; only the bytes the target lacks "
        "are sent. Run again, it finishes an interrupted import and changes nothing after a "
        "complete one. Drafts stay in the session unless --finalize closes them first. "
        "Example: deltaset import-offline --session offline.zip",
    )
    parser.add_argument(
        "--session",
        metavar="PATH",
        help="the session folder, or a zip of it (default: this machine's, $DELTASET_HOME/offline)",
    )
    parser.add_argument("--to", metavar="URL", help=f"where to import: {WHERE}")
    parser.add_argument(
        "--finalize", action="store_true", help="close the session's drafts, then import them"
    )
    parser.add_argument(
        "--no-upload",
        dest="upload",
        action="store_false",
        help="send nothing (with --finalize: only close the drafts in the session)",
    )
    parser.add_argument(
        "--max-workers", type=int, metavar="N", help="parallel transfers (default: a few per core)"
    )
    options.add_output(parser, json=True)
    parser.set_defaults(handler=run)


def run(app: App, args: argparse.Namespace) -> None:
    report = sharing.import_offline_session(
        args.session, args.to, args.upload, args.finalize, args.max_workers
    )
    if app.as_json:
        app.data(report.to_dict())
        return
    for version_id in report.finalized:
        app.say(f"closed the draft {version_id}")
    say_copies(app, report, "imported", "into")
