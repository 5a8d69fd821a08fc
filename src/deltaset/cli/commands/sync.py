"""``deltaset sync``: make a version mirror a local folder, then upload and close it."""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from deltaset.api.dataset import Dataset
from deltaset.cli import options
from deltaset.cli.app import App
from deltaset.cli.versions import version_doc
from deltaset.engine import ids, query, sync, sync_base
from deltaset.engine.context import Context, default_context
from deltaset.errors import DeltasetError


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
        nargs="*",
        default=[],
        metavar="ID",
        help="create a new version with these parents first",
    )
    parser.add_argument("--project", help="create a new version in this project first")
    parser.add_argument("--name", help="create a new version with this name first")
    parser.add_argument("--version", dest="dataset_version", help="version of the new version")
    parser.add_argument(
        "--tags", nargs="*", default=[], metavar="TAG", help="user tags of the new version"
    )
    parser.add_argument(
        "--rebase",
        action="store_true",
        help="when the folder is a copy (get --copy) of a version that newer ones followed, "
        "apply its changes since that version on top of the newest; without it such a sync is "
        "refused rather than undo the newer versions' changes",
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
    _say_parents(app, [Dataset.get(dataset_id=p) for p in dataset.parents], "the draft's")
    changes = _sync(dataset, args)
    _say_changes(app, args, changes)
    if not args.skip_close:
        _finish(app, args, dataset)
    _report(app, dataset, changes)


def _run_creating(app: App, args: argparse.Namespace, ctx: Context) -> None:
    """Sync into a new version, or into the draft an interrupted run of this sync left."""
    key = _run_key(ctx, args)
    _say_parents(app, [Dataset.get(dataset_id=p) for p in key.parents], key.reason)
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
        app.clearml_line(f"New dataset created id={dataset.id}")
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
        _report(app, dataset, changes)
        return
    if not any(changes):
        _drop(ctx, dataset, key)
        app.remember(None)
        app.say("Nothing changed since the parents; no version was created.")
        app.clearml_line("Zero modifications on local copy, reverting dataset creation.")
        _report(app, None, changes)
        return
    _finish(app, args, dataset)
    sync.forget_run(ctx, key.key)
    _report(app, dataset, changes)


def _sync(dataset: Dataset, args: argparse.Namespace) -> tuple[int, int, int]:
    """(removed, added, modified)"""
    return dataset.sync_folder(
        args.folder,
        dataset_path=args.dataset_folder,
        verbose=args.verbose,
        ignore_failed_read=args.ignore_failed_read,
        copy_unsafe_links=args.copy_unsafe_links,
        rebase=args.rebase,
    )


def _say_parents(app: App, parents: list[Dataset], reason: str) -> None:
    if not parents:
        app.say("Parent: none (a new dataset)")
    for parent in parents:
        app.say(
            f"Parent: {parent.project}/{parent.name} {parent.version} id={parent.id} ({reason})"
        )


def _say_changes(app: App, args: argparse.Namespace, changes: tuple[int, int, int]) -> None:
    removed, added, modified = changes
    app.say(f"Sync of {args.folder}: {added} added, {modified} modified, {removed} removed")
    app.clearml_line(f"Sync completed: {removed} files removed, {added} added, {modified} modified")


def _report(app: App, dataset: Dataset | None, changes: tuple[int, int, int]) -> None:
    """With --json, the version synced into (none when nothing changed) and its changes."""
    if not app.as_json:
        return
    removed, added, modified = changes
    app.data(
        {
            "version": version_doc(dataset.record) if dataset else None,
            "added": added,
            "modified": modified,
            "removed": removed,
            "closed": dataset is not None and dataset.record.state.is_final,
        }
    )


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
    app.say(f"Storage: {dataset.get_default_storage()}")
    app.clearml_line("Dataset closed and finalized")


@dataclass(frozen=True)
class _RunKey:
    """What makes two runs of sync the same: the draft one leaves, the other continues."""

    key: str
    parents: list[str]
    reason: str


def _run_key(ctx: Context, args: argparse.Namespace) -> _RunKey:
    chosen = _parents(ctx, args)
    parents = [r.id for r in chosen.records]
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
    return _RunKey(key, parents, chosen.reason)


def _drop(ctx: Context, dataset: Dataset, key: _RunKey) -> None:
    Dataset.delete(dataset_id=dataset.id, force=True)
    sync.forget_run(ctx, key.key)


def _parents(ctx: Context, args: argparse.Namespace) -> sync_base.ChosenParents:
    if args.parents:
        given = ids.resolve_all(ctx.catalog, args.parents)
        return sync_base.ChosenParents([ctx.catalog.get(p) for p in given], "given")
    return sync_base.choose_parents(
        ctx, args.project, args.name, Path(args.folder).expanduser(), args.rebase
    )
