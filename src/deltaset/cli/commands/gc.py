"""``deltaset gc``: find, and with ``--delete`` remove, stored bytes no version needs."""

from __future__ import annotations

import argparse
from typing import Any

from deltaset.cli import options
from deltaset.cli.app import App
from deltaset.cli.commands.common import human_size
from deltaset.engine import gc
from deltaset.engine.context import default_context
from deltaset.errors import InvalidInputError


def register(sub: Any) -> None:
    parser = sub.add_parser(
        "gc", help="find (and with --delete remove) stored bytes no version references"
    )
    options.add_storage(parser)
    parser.add_argument(
        "--delete", action="store_true", help="delete what is unused (without it: a dry run)"
    )
    parser.add_argument(
        "--keep-recent",
        type=float,
        default=gc.KEEP_RECENT_S / 3600,
        metavar="HOURS",
        help="keep packs written in the last HOURS whatever they hold, for uploads "
        "in progress on other machines (default: %(default)g)",
    )
    options.add_output(parser, json=True)
    parser.set_defaults(handler=run)


def run(app: App, args: argparse.Namespace) -> None:
    if args.keep_recent < 0:
        raise InvalidInputError("--keep-recent is a number of hours, 0 or more.")
    ctx = default_context()
    url = ctx.storage_url(args.storage)
    report = gc.collect(ctx, url, delete=args.delete, keep_recent=args.keep_recent * 3600)
    if app.as_json:
        app.data(report.to_dict())
        return
    found = report.unused_bytes + report.orphan_bytes + report.upload_part_bytes
    verb = "Would free" if report.dry_run else "Freed"
    freed = found if report.dry_run else report.freed_bytes
    app.say(f"{verb} {human_size(freed)} in {url}:")
    app.say(f"  {report.unused_packs} packs no version uses ({human_size(report.unused_bytes)})")
    app.say(
        f"  {report.orphan_packs} packs of interrupted uploads ({human_size(report.orphan_bytes)})"
    )
    app.say(
        f"  {report.upload_parts} parts of unfinished server uploads "
        f"({human_size(report.upload_part_bytes)})"
    )
    app.say(
        f"Kept: {report.recent_packs_kept} unused packs newer than {args.keep_recent:g} hours; "
        f"{report.partly_used_packs} packs still in use that also hold "
        f"{human_size(report.partly_unused_bytes)} no version needs"
    )
    if report.dry_run and found:
        app.say("Nothing was deleted; run again with --delete to delete it.")
    if report.local_leftovers:
        app.say(f"Removed {report.local_leftovers} leftovers of deleted drafts on this machine.")
