"""``deltaset add``: add local files, folders or wildcards to a draft, or external files by
reference."""

from __future__ import annotations

import argparse
from typing import Any

from deltaset.api.dataset import Dataset
from deltaset.cli import options
from deltaset.cli.app import App
from deltaset.cli.versions import version_doc
from deltaset.errors import InvalidInputError


def register(sub: Any) -> None:
    parser = sub.add_parser("add", help="add files or folders to a draft version")
    options.add_id(parser)
    parser.add_argument(
        "--files",
        nargs="*",
        metavar="PATH",
        type=options.local_path,
        help="files, folders or wildcards such as ~/data/*.jpg; regular files only: a FIFO, "
        "socket or device, or a name a pull would refuse (such as ..\\x.txt or C:\\x.txt), is "
        "an error when named, and skipped with a warning when in a folder or matched",
    )
    parser.add_argument(
        "--links",
        nargs="*",
        metavar="URL",
        type=options.local_path,
        help="external files or folders (s3://, gs://, azure://, http(s)://, paths) to add by "
        "reference, without copying them",
    )
    parser.add_argument(
        "--wildcard",
        nargs="*",
        metavar="PATTERN",
        help="only add files matching these wildcards; one that matches no file is named in a "
        "warning (the exit code stays 0)",
    )
    parser.add_argument(
        "--dataset-folder",
        metavar="FOLDER",
        type=options.dataset_path,
        help="folder inside the dataset to add to (default: the root)",
    )
    parser.add_argument(
        "--non-recursive", action="store_true", help="do not descend into sub-folders"
    )
    parser.add_argument("--max-workers", type=int, metavar="N", help="parallel hashing threads")
    options.add_read_policy(parser)
    options.add_output(parser)
    parser.set_defaults(handler=run)


def run(app: App, args: argparse.Namespace) -> None:
    if args.files is None and args.links is None:  # an empty list, as ClearML, adds nothing
        raise InvalidInputError(
            "Name what to add: --files PATH... or --links URL... (see 'deltaset add --help')."
        )
    dataset = Dataset.get(dataset_id=app.dataset_id())
    added = linked = 0
    if args.files:
        added = dataset.add_files(  # all paths at once: a bad one leaves the draft unchanged
            args.files,
            wildcard=args.wildcard,
            dataset_path=args.dataset_folder,
            recursive=not args.non_recursive,
            verbose=args.verbose,
            max_workers=args.max_workers,
            ignore_failed_read=args.ignore_failed_read,
            copy_unsafe_links=args.copy_unsafe_links,
        )
    if args.files is not None:
        app.say(f"{added} files added to {dataset.id}")
    if args.links:
        linked = dataset.add_external_files(
            args.links,
            wildcard=args.wildcard,
            dataset_path=args.dataset_folder,
            recursive=not args.non_recursive,
            verbose=args.verbose,
            max_workers=args.max_workers,
        )
    if args.links is not None:
        app.say(f"{linked} external files added to {dataset.id}")
    app.clearml_line(f"{added + linked} file{'' if added + linked == 1 else 's'} added")
    if app.as_json:
        doc = version_doc(dataset.record)
        app.data({"version": doc, "files_added": added, "links_added": linked})
