"""``deltaset add``: add local files, folders or wildcards to a draft."""

from __future__ import annotations

import argparse
from typing import Any

from deltaset.api.dataset import Dataset
from deltaset.cli import options
from deltaset.cli.app import App


def register(sub: Any) -> None:
    parser = sub.add_parser("add", help="add files or folders to a draft version")
    options.add_id(parser)
    parser.add_argument(
        "--files",
        nargs="+",
        required=True,
        metavar="PATH",
        help="files, folders or wildcards such as ~/data/*.jpg",
    )
    parser.add_argument(
        "--wildcard", nargs="+", metavar="PATTERN", help="only add files matching these wildcards"
    )
    parser.add_argument(
        "--dataset-folder",
        metavar="FOLDER",
        help="folder inside the dataset to add to (default: the root)",
    )
    parser.add_argument(
        "--non-recursive", action="store_true", help="do not descend into sub-folders"
    )
    parser.add_argument("--max-workers", type=int, metavar="N", help="parallel hashing threads")
    options.add_output(parser)
    parser.set_defaults(handler=run)


def run(app: App, args: argparse.Namespace) -> None:
    dataset = Dataset.get(dataset_id=app.dataset_id())
    added = dataset.add_files(  # all paths at once: a bad one leaves the draft unchanged
        args.files,
        wildcard=args.wildcard,
        dataset_path=args.dataset_folder,
        recursive=not args.non_recursive,
        verbose=args.verbose,
        max_workers=args.max_workers,
    )
    app.say(f"{added} files added to {dataset.id}")
