"""``deltaset rename`` and ``deltaset move``: a dataset's name or project, all versions at once."""

from __future__ import annotations

import argparse
from typing import Any

from deltaset.api.dataset import Dataset
from deltaset.catalog.base import Query
from deltaset.cli import options
from deltaset.cli.app import App
from deltaset.cli.versions import version_doc
from deltaset.engine.context import default_context


def register(sub: Any) -> None:
    rename = sub.add_parser("rename", help="rename a dataset (every version)")
    rename.add_argument("--new-name", required=True, help="the dataset's new name")
    move = sub.add_parser("move", help="move a dataset (every version) to another project")
    move.add_argument("--new-project", required=True, help="the project to move it to")
    for parser in (rename, move):
        parser.add_argument("--project", required=True, help="the dataset's project")
        parser.add_argument("--name", required=True, help="the dataset's name")
        options.add_output(parser)
    rename.set_defaults(handler=run_rename)
    move.set_defaults(handler=run_move)


def run_rename(app: App, args: argparse.Namespace) -> None:
    Dataset.rename(args.new_name, dataset_project=args.project, dataset_name=args.name)
    _print_versions(app, args.project, args.new_name)
    app.say(f"Renamed {args.project}/{args.name} to {args.project}/{args.new_name}")
    app.clearml_line("Dataset(s) renamed")


def run_move(app: App, args: argparse.Namespace) -> None:
    Dataset.move_to_project(args.new_project, dataset_project=args.project, dataset_name=args.name)
    _print_versions(app, args.new_project, args.name)
    app.say(f"Moved {args.project}/{args.name} to {args.new_project}/{args.name}")
    app.clearml_line("Dataset(s) moved")


def _print_versions(app: App, project: str, name: str) -> None:
    """With --json, every version of the dataset under its new name."""
    if not app.as_json:
        return
    query = Query(project=project.strip().strip("/"), name=name.strip(), recursive_project=False)
    found = default_context().catalog.search(query)
    app.data({"versions": [version_doc(r) for r in found]})
