"""``deltaset delete``: delete a version, refusing one that others inherit from unless forced."""

from __future__ import annotations

import argparse
from typing import Any

from deltaset.api.dataset import Dataset
from deltaset.cli import options
from deltaset.cli.app import App


def register(sub: Any) -> None:
    parser = sub.add_parser("delete", help="delete a dataset version")
    options.add_selector(parser)
    parser.add_argument(
        "--force", action="store_true", help="delete even if other versions inherit from it"
    )
    parser.add_argument(
        "--entire-dataset",
        action="store_true",
        help="delete every version of --project/--name (needs --force)",
    )
    options.add_output(parser)
    parser.set_defaults(handler=run)


def run(app: App, args: argparse.Namespace) -> None:
    by_name = bool(args.project or args.name) and not args.id
    dataset_id = None if by_name else app.dataset_id()
    deleted = Dataset.delete(
        dataset_id=dataset_id,
        dataset_project=args.project if by_name else None,
        dataset_name=args.name if by_name else None,
        force=args.force,
        dataset_version=args.dataset_version,
        entire_dataset=args.entire_dataset,
        raise_on_error=True,  # a command that deletes nothing says so with an error
    )
    if app.remembered_id() in deleted:
        app.remember(None)
    if app.as_json:
        app.data({"deleted": deleted})
    app.say(f"Deleted {', '.join(deleted) if dataset_id else f'{args.project}/{args.name}'}")
    app.clearml_line("Dataset(s) deleted")
