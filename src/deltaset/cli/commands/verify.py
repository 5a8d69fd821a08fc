"""``deltaset verify``: check a version's stored bytes, or a local folder against it."""

from __future__ import annotations

import argparse
from typing import Any

from deltaset.cli import options
from deltaset.cli.app import App
from deltaset.cli.commands.common import human_size, selected
from deltaset.core.names import to_text
from deltaset.errors import IntegrityError


def register(sub: Any) -> None:
    parser = sub.add_parser(
        "verify", help="check a version's stored bytes, or a local copy, against its hashes"
    )
    options.add_selector(parser)
    parser.add_argument(
        "--folder",
        metavar="DIR",
        type=options.local_path,
        help="check this local copy instead of the stored bytes",
    )
    parser.add_argument(
        "--filesize", action="store_true", help="with --folder, compare sizes only (fast)"
    )
    parser.add_argument("--max-workers", type=int, metavar="N", help="parallel reads")
    options.add_output(parser, json=True)
    parser.set_defaults(handler=run)


def run(app: App, args: argparse.Namespace) -> None:
    dataset = selected(app, args)
    if args.folder:
        wrong = dataset.verify_dataset_hash(args.folder, skip_hash=args.filesize)
        if app.as_json:
            mismatched = [to_text(path) for path in wrong]
            app.data({"id": dataset.id, "folder": to_text(args.folder), "mismatched": mismatched})
        for path in wrong if args.verbose and not app.as_json else []:
            app.say(f"differs: {path}")
        if wrong:
            raise IntegrityError(
                f"{len(wrong)} files of {args.folder} differ from dataset version {dataset.id}."
            )
        if not app.as_json:
            app.say(f"{args.folder} matches dataset version {dataset.id}")
        return
    checked = dataset.verify_storage(args.max_workers)
    if app.as_json:  # the JSON alone: scripts parse the whole of stdout
        app.data({"id": dataset.id, "stored_bytes_checked": checked})
    else:
        app.say(f"Every stored byte of {dataset.id} matches its hash ({human_size(checked)} read)")
