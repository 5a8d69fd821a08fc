"""``deltaset remove``: remove in-dataset paths (wildcards, folders) from a draft."""

from __future__ import annotations

import argparse
from typing import Any

from deltaset.api.dataset import Dataset
from deltaset.cli import options
from deltaset.cli.app import App


def register(sub: Any) -> None:
    parser = sub.add_parser("remove", help="remove files from a draft version")
    options.add_id(parser)
    parser.add_argument(
        "--files",
        nargs="+",
        required=True,
        metavar="DATASET_PATH",
        help="paths inside the dataset, folders or wildcards",
    )
    parser.add_argument(
        "--non-recursive", action="store_true", help="do not match inside sub-folders"
    )
    options.add_output(parser)
    parser.set_defaults(handler=run)


def run(app: App, args: argparse.Namespace) -> None:
    dataset = Dataset.get(dataset_id=app.dataset_id())
    removed = sum(
        dataset.remove_files(pattern, recursive=not args.non_recursive, verbose=args.verbose)
        for pattern in args.files
    )
    app.say(f"{removed} files removed from {dataset.id}")
