"""``deltaset create``: a new draft version, remembered for the commands that follow."""

from __future__ import annotations

import argparse
from typing import Any

from deltaset.api.dataset import Dataset
from deltaset.cli import options
from deltaset.cli.app import App
from deltaset.cli.versions import version_doc


def register(sub: Any) -> None:
    parser = sub.add_parser("create", help="create a new dataset version (a draft)")
    parser.add_argument("--project", help="dataset project (default: the last parent's)")
    parser.add_argument("--name", required=True, help="dataset name")
    parser.add_argument(
        "--version",
        dest="dataset_version",
        help="version string such as 1.2.0, v2 or 1.0rc1 (default: next after the latest, or "
        "1.0.0)",
    )
    parser.add_argument(
        "--parents",
        nargs="*",
        default=[],
        metavar="ID",
        help="parent version ids, merged in this order (later ones win)",
    )
    parser.add_argument("--tags", nargs="*", default=[], metavar="TAG", help="user tags")
    parser.add_argument("--description", default="", help="free text description")
    options.add_storage(parser)
    options.add_output(parser, json=True)
    parser.set_defaults(handler=run)


def run(app: App, args: argparse.Namespace) -> None:
    dataset = Dataset.create(
        dataset_name=args.name,
        dataset_project=args.project,
        dataset_tags=args.tags,
        parent_datasets=args.parents,
        dataset_version=args.dataset_version,
        output_uri=args.storage,
        description=args.description,
    )
    app.remember(dataset.id)
    if app.as_json:
        app.data(version_doc(dataset.record))
        return
    app.say(f"Created {dataset.project}/{dataset.name} version {dataset.version}: id={dataset.id}")
    app.say(f"Storage: {dataset.get_default_storage()}")
    app.clearml_line(f"New dataset created id={dataset.id}")
