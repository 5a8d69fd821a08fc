"""``deltaset squash``: several versions merged into one new version without parents."""

from __future__ import annotations

import argparse
from typing import Any

from deltaset.api.dataset import Dataset
from deltaset.cli import options
from deltaset.cli.app import App
from deltaset.cli.versions import version_doc


def register(sub: Any) -> None:
    parser = sub.add_parser(
        "squash", help="merge versions into one new version without parents (stores no bytes again)"
    )
    parser.add_argument("--name", required=True, help="name of the new dataset version")
    parser.add_argument(
        "--ids",
        nargs="*",
        required=True,
        metavar="ID",
        help="versions to merge, in order: a later one overrides an earlier one",
    )
    parser.add_argument("--project", help="project of the new version (default: the first one's)")
    options.add_storage(parser)
    options.add_output(parser)
    parser.set_defaults(handler=run)


def run(app: App, args: argparse.Namespace) -> None:
    dataset = Dataset.squash(
        args.name, dataset_ids=args.ids, output_url=args.storage, dataset_project=args.project
    )
    if app.as_json:
        app.data(version_doc(dataset.record))
    app.say(
        f"Squashed {len(args.ids)} version(s) into {dataset.project}/{dataset.name} "
        f"version {dataset.version}: id={dataset.id}"
    )
    app.say(f"Storage: {dataset.get_default_storage()}")
    app.clearml_line(f"Squashing completed, new dataset created id={dataset.id}")
