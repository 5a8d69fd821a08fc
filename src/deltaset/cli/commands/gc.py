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
        "--repack",
        action="store_true",
        help="with --delete, also store each dataset's newest version whole and older ones as "
        "deltas against newer content, rewrite packs mostly unused (half or more of their "
        "bytes), and others until at most 5 percent of the packs' bytes are unused, keeping "
        "only what versions need",
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
    if args.repack and not args.delete:
        raise InvalidInputError("--repack rewrites packs, so it goes with --delete.")
    ctx = default_context()
    url = ctx.storage_url(args.storage)
    report = gc.collect(
        ctx, url, delete=args.delete, keep_recent=args.keep_recent * 3600, repack=args.repack
    )
    if app.as_json:
        app.data(report.to_dict())
        return
    _say(app, report, args.keep_recent)


def _say(app: App, report: gc.GcReport, keep_hours: float) -> None:
    found = report.unused_bytes + report.orphan_bytes + report.upload_part_bytes
    verb = "Would free" if report.dry_run else "Freed"
    app.say(
        f"{verb} {human_size(found if report.dry_run else report.freed_bytes)} in {report.storage}:"
    )
    app.say(f"  {report.unused_packs} packs no version uses ({human_size(report.unused_bytes)})")
    app.say(
        f"  {report.orphan_packs} packs of interrupted uploads ({human_size(report.orphan_bytes)})"
    )
    app.say(
        f"  {report.upload_parts} parts of unfinished server uploads "
        f"({human_size(report.upload_part_bytes)})"
    )
    if report.missing_packs:
        lost = (
            "are lost; --delete drops the index entries naming them"
            if report.dry_run
            else "were lost; their index entries were dropped"
        )
        app.say(f"  {report.missing_packs} packs named by an index {lost}")
    repacked = bool(report.repacked_packs)
    if repacked:
        app.say(
            f"  {report.repacked_packs} packs in use copied into new ones without what no "
            f"version needs ({human_size(report.repack_written_bytes)} kept)"
        )
    if report.rewritten_blobs:
        app.say(
            f"  {report.rewritten_blobs} blobs stored again, newest versions whole and older "
            f"ones as deltas against newer content ({human_size(report.rewrite_written_bytes)})"
        )
    app.say(
        f"Kept: {report.recent_packs_kept} unused packs newer than {keep_hours:g} hours; "
        f"{report.partly_used_packs} packs in use that also hold "
        f"{human_size(report.partly_unused_bytes)} no version needs"
    )
    if report.sparse_packs and not repacked:
        app.say(
            f"{report.sparse_packs} of those are mostly unused "
            f"({human_size(report.sparse_unused_bytes)}): --delete --repack rewrites them."
        )
    if report.more_packs and not repacked:
        app.say(
            f"{report.more_packs} more packs in use hold bytes no version needs, or are many "
            "and small: --delete --repack copies them."
        )
    if report.dry_run and found:
        app.say("Nothing was deleted; run again with --delete to delete it.")
    if report.local_leftovers:
        app.say(f"Removed {report.local_leftovers} leftovers of deleted drafts on this machine.")
