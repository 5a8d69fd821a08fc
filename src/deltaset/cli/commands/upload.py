"""``deltaset upload``: send a draft's pending files to storage."""

from __future__ import annotations

import argparse
from typing import Any

from deltaset.api.dataset import Dataset
from deltaset.cli import options
from deltaset.cli.app import App
from deltaset.cli.versions import version_doc


def register(sub: Any) -> None:
    parser = sub.add_parser("upload", help="upload the pending files of a draft version")
    options.add_id(parser)
    options.add_storage(parser)
    options.add_transfer(parser)
    options.add_output(parser)
    parser.set_defaults(handler=run)


def run(app: App, args: argparse.Namespace) -> None:
    dataset = Dataset.get(dataset_id=app.dataset_id())
    dataset.upload(
        show_progress=not app.quiet,
        verbose=args.verbose,
        output_url=args.storage,
        chunk_size=args.chunk_size,
        max_workers=args.max_workers,
    )
    if app.as_json:
        app.data(version_doc(dataset.record))
    app.say(f"Uploaded {dataset.id} to {dataset.get_default_storage()}")
    app.clearml_line("Dataset upload completed")
