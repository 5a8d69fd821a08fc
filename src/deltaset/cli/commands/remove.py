"""``deltaset remove``: remove in-dataset paths (wildcards, folders) from a draft."""

from __future__ import annotations

import argparse
from typing import Any

from deltaset.api.dataset import Dataset
from deltaset.cli import options
from deltaset.cli.app import App
from deltaset.cli.versions import version_doc
from deltaset.core import paths
from deltaset.errors import InvalidInputError


def register(sub: Any) -> None:
    parser = sub.add_parser("remove", help="remove files from a draft version")
    options.add_id(parser)
    parser.add_argument(
        "--files",
        nargs="*",
        required=True,
        metavar="DATASET_PATH",
        type=options.dataset_path,
        help="paths inside the dataset, folders or wildcards; one that matches nothing is named "
        "in a warning (the exit code stays 0)",
    )
    parser.add_argument(
        "--non-recursive", action="store_true", help="do not match inside sub-folders"
    )
    options.add_output(parser)
    parser.set_defaults(handler=run)


def run(app: App, args: argparse.Namespace) -> None:
    for pattern in args.files:  # check all first: a bad one must not follow a partial removal
        if not pattern.strip():
            raise InvalidInputError("An empty --files path names nothing; use '*' for every file.")
        paths.check_pattern(paths.relative(pattern.strip()))
    dataset = Dataset.get(dataset_id=app.dataset_id())
    removed = sum(
        dataset.remove_files(pattern, recursive=not args.non_recursive, verbose=args.verbose)
        for pattern in args.files
    )
    if app.as_json:
        app.data({"version": version_doc(dataset.record), "files_removed": removed})
    app.say(f"{removed} files removed from {dataset.id}")
    app.clearml_line(f"{removed} file{'' if removed == 1 else 's'} removed")
