"""``deltaset close``: upload what is pending, then make the version final."""

from __future__ import annotations

import argparse
from typing import Any

from deltaset.api.dataset import Dataset
from deltaset.cli import options
from deltaset.cli.app import App
from deltaset.cli.versions import version_doc
from deltaset.errors import StateError


def register(sub: Any) -> None:
    parser = sub.add_parser(
        "close",
        help="upload pending files and finalize the version (one that changes nothing too, "
        "with a warning)",
    )
    options.add_id(parser)
    options.add_storage(parser)
    parser.add_argument(
        "--disable-upload",
        action="store_true",
        help="finalize only; fail if files are still pending",
    )
    options.add_transfer(parser)
    options.add_output(parser)
    parser.set_defaults(handler=run)


def run(app: App, args: argparse.Namespace) -> None:
    dataset = Dataset.get(dataset_id=app.dataset_id())
    if args.id is None and dataset.record.state.is_final:
        # Run again after a close killed once the version was final, but before it forgot
        # the remembered id: the work is done (an explicit --id of a final version is refused).
        app.remember(None)
        if app.as_json:
            app.data(version_doc(dataset.record))
        app.say(f"Dataset version {dataset.id} is already closed; nothing to do.")
        return
    if args.disable_upload:
        if args.storage:
            raise StateError("--storage needs an upload; drop --disable-upload or --storage.")
        dataset.finalize(verbose=args.verbose)
    else:
        dataset.close(
            show_progress=not app.quiet,
            verbose=args.verbose,
            output_url=args.storage,
            chunk_size=args.chunk_size,
            max_workers=args.max_workers,
        )
    if app.remembered_id() == dataset.id:
        app.remember(None)
    if app.as_json:
        app.data(version_doc(dataset.record))
    stats = dataset.record.stats
    app.say(
        f"Closed {dataset.project}/{dataset.name} version {dataset.version} "
        f"({stats.file_count} files, {stats.added} added, {stats.modified} modified, "
        f"{stats.removed} removed): id={dataset.id}"
    )
    app.say(f"Storage: {dataset.get_default_storage()}")
    app.clearml_line("Dataset closed and finalized")
