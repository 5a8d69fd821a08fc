"""``deltaset sync``: make a version mirror a local folder, then upload and close it."""

from __future__ import annotations

import argparse
from typing import Any

from deltaset.api.dataset import Dataset
from deltaset.cli import options
from deltaset.cli.app import App
from deltaset.errors import DeltasetError, NotFoundError


def register(sub: Any) -> None:
    parser = sub.add_parser("sync", help="reflect a local folder's changes in a version")
    options.add_id(parser)
    parser.add_argument(
        "--folder",
        required=True,
        type=options.local_path,
        help="the local folder to mirror; special files (FIFOs, sockets, devices) and names a "
        "pull would refuse (such as ..\\x.txt or C:\\x.txt) are skipped with a warning",
    )
    parser.add_argument(
        "--dataset-folder",
        metavar="FOLDER",
        help="folder inside the dataset that mirrors it (default: the root)",
    )
    parser.add_argument(
        "--parents",
        nargs="+",
        default=[],
        metavar="ID",
        help="create a new version with these parents first",
    )
    parser.add_argument("--project", help="create a new version in this project first")
    parser.add_argument("--name", help="create a new version with this name first")
    parser.add_argument("--version", dest="dataset_version", help="version of the new version")
    parser.add_argument(
        "--tags", nargs="+", default=[], metavar="TAG", help="user tags of the new version"
    )
    options.add_storage(parser)
    parser.add_argument(
        "--skip-close", action="store_true", help="leave the version a draft after syncing"
    )
    options.add_transfer(parser)
    options.add_output(parser)
    parser.set_defaults(handler=run)


def run(app: App, args: argparse.Namespace) -> None:
    creating = bool(args.parents or (args.project and args.name))
    if creating:
        parents = args.parents or _latest(args.project, args.name)
        dataset = Dataset.create(
            dataset_name=args.name,
            dataset_project=args.project,
            dataset_tags=args.tags,
            parent_datasets=parents,
            dataset_version=args.dataset_version,
            output_uri=args.storage,
        )
    else:
        dataset = Dataset.get(dataset_id=app.dataset_id())
    try:
        removed, added, modified = dataset.sync_folder(
            args.folder, dataset_path=args.dataset_folder, verbose=args.verbose
        )
    except DeltasetError:
        if creating:  # a failed sync (say, a missing folder) leaves no empty draft behind
            Dataset.delete(dataset_id=dataset.id, force=True)
        raise
    if creating:
        app.remember(dataset.id)
    app.say(f"Sync of {args.folder}: {added} added, {modified} modified, {removed} removed")
    if args.skip_close:
        return
    if creating and not (removed or added or modified):
        Dataset.delete(dataset_id=dataset.id, force=True)
        app.remember(None)
        app.say("Nothing changed since the parents; no version was created.")
        return
    dataset.close(
        show_progress=not app.quiet,
        output_url=args.storage,
        chunk_size=args.chunk_size,
        max_workers=args.max_workers,
    )
    if app.remembered_id() == dataset.id:
        app.remember(None)
    app.say(f"Closed {dataset.project}/{dataset.name} version {dataset.version}: id={dataset.id}")


def _latest(project: str, name: str) -> list[str]:
    """A sync into an existing dataset continues from its highest final version."""
    try:
        return [Dataset.get(dataset_project=project, dataset_name=name, only_completed=True).id]
    except NotFoundError:
        return []
