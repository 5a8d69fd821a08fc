"""``deltaset sync``: make a version mirror a local folder, then upload and close it."""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from deltaset.api.dataset import Dataset
from deltaset.cli import options
from deltaset.cli.app import App
from deltaset.engine import query, sync
from deltaset.engine.context import Context, default_context
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
        type=options.dataset_path,
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
    options.add_read_policy(parser)
    options.add_output(parser)
    parser.set_defaults(handler=run)


def run(app: App, args: argparse.Namespace) -> None:
    if args.parents or (args.project and args.name):
        _run_creating(app, args, default_context())
        return
    dataset = Dataset.get(dataset_id=app.dataset_id())
    _say_changes(app, args, _sync(dataset, args))
    if not args.skip_close:
        _finish(app, args, dataset)


def _run_creating(app: App, args: argparse.Namespace, ctx: Context) -> None:
    """Sync into a new version, or into the draft an interrupted run of this sync left."""
    key = _run_key(ctx, args)
    resumed = sync.unfinished_draft(ctx, key.key)
    if resumed is not None and sync.was_closing(ctx, resumed):
        _finish(app, args, Dataset.get(dataset_id=resumed.id))
        sync.forget_run(ctx, key.key)
        _run_creating(app, args, ctx)  # the folder may have changed since: a new version
        return
    if resumed is not None:
        dataset = Dataset.get(dataset_id=resumed.id)
        app.say(f"Continuing the draft {dataset.id} an interrupted run of this sync left")
    else:
        dataset = Dataset.create(
            dataset_name=args.name,
            dataset_project=args.project,
            dataset_tags=args.tags,
            parent_datasets=key.parents,
            dataset_version=args.dataset_version,
            output_uri=args.storage,
        )
        sync.mark_run(ctx, key.key, dataset.id)
    try:
        changes = _sync(dataset, args)
    except DeltasetError:
        if resumed is None:  # a failed sync (say, a missing folder) leaves no draft behind
            _drop(ctx, dataset, key)
        raise
    if resumed is not None:  # the changes since the parents, those of the interrupted run too
        since = query.changes(ctx, ctx.catalog.get(dataset.id))  # one diff, not one per kind
        changes = (len(since.removed), len(since.added), len(since.modified))
    app.remember(dataset.id)
    _say_changes(app, args, changes)
    if args.skip_close:
        return
    if not any(changes):
        _drop(ctx, dataset, key)
        app.remember(None)
        app.say("Nothing changed since the parents; no version was created.")
        return
    _finish(app, args, dataset)
    sync.forget_run(ctx, key.key)


def _sync(dataset: Dataset, args: argparse.Namespace) -> tuple[int, int, int]:
    """(removed, added, modified)"""
    return dataset.sync_folder(
        args.folder,
        dataset_path=args.dataset_folder,
        verbose=args.verbose,
        ignore_failed_read=args.ignore_failed_read,
        copy_unsafe_links=args.copy_unsafe_links,
    )


def _say_changes(app: App, args: argparse.Namespace, changes: tuple[int, int, int]) -> None:
    removed, added, modified = changes
    app.say(f"Sync of {args.folder}: {added} added, {modified} modified, {removed} removed")


def _finish(app: App, args: argparse.Namespace, dataset: Dataset) -> None:
    dataset.close(
        show_progress=not app.quiet,
        output_url=args.storage,
        chunk_size=args.chunk_size,
        max_workers=args.max_workers,
    )
    if app.remembered_id() == dataset.id:
        app.remember(None)
    app.say(f"Closed {dataset.project}/{dataset.name} version {dataset.version}: id={dataset.id}")


@dataclass(frozen=True)
class _RunKey:
    """What makes two runs of sync the same: the draft one leaves, the other continues."""

    key: str
    parents: list[str]


def _run_key(ctx: Context, args: argparse.Namespace) -> _RunKey:
    parents = args.parents or _latest(args.project, args.name)
    key = sync.run_key(
        args.project,
        args.name,
        parents,
        args.dataset_version,
        sorted(args.tags),
        ctx.storage_url(args.storage),
        str(Path(args.folder).expanduser().absolute()),
        args.dataset_folder,
    )
    return _RunKey(key, parents)


def _drop(ctx: Context, dataset: Dataset, key: _RunKey) -> None:
    Dataset.delete(dataset_id=dataset.id, force=True)
    sync.forget_run(ctx, key.key)


def _latest(project: str, name: str) -> list[str]:
    """A sync into an existing dataset continues from its highest final version."""
    try:
        return [Dataset.get(dataset_project=project, dataset_name=name, only_completed=True).id]
    except NotFoundError:
        return []
