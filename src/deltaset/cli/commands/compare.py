"""``deltaset compare``: what one version adds, modifies and removes relative to another."""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from typing import Any

from deltaset.api.dataset import Dataset
from deltaset.cli import options
from deltaset.cli.app import App
from deltaset.cli.commands.common import human_size
from deltaset.core.names import to_text
from deltaset.errors import InvalidInputError


def register(sub: Any) -> None:
    parser = sub.add_parser(
        "compare",
        help="list the files a target version adds, modifies and removes",
        description="Each side is a version id (--source, --target: whole or a unique start) "
        "or a version of --project/--name (--source-version, --target-version). Example: "
        "deltaset compare --project vision --name pets --source-version 1.0.0 "
        "--target-version 1.0.2",
    )
    parser.add_argument("--source", metavar="ID", help="the version compared from")
    parser.add_argument("--target", metavar="ID", help="the version compared to")
    parser.add_argument("--project", help="dataset project (with --name and the versions)")
    parser.add_argument("--name", help="dataset name (with --project and the versions)")
    parser.add_argument(
        "--source-version", metavar="VERSION", help="the version of --project/--name compared from"
    )
    parser.add_argument(
        "--target-version", metavar="VERSION", help="the version of --project/--name compared to"
    )
    options.add_output(parser)
    parser.set_defaults(handler=run)


def run(app: App, args: argparse.Namespace) -> None:
    source = _side(args, args.source, args.source_version, "source")
    target = _side(args, args.target, args.target_version, "target")
    found = Dataset.compare(source, target)
    if app.as_json:
        app.data(_as_json(found))
        return
    app.table(["change", "path", "size"], _rows(found))
    app.say(_summary(found))
    app.clearml_line(
        f"Comparison summary: {len(found['removed'])} files removed, "
        f"{len(found['modified'])} files modified, {len(found['added'])} files added"
    )


def _side(args: argparse.Namespace, version_id: str | None, version: str | None, side: str) -> str:
    """The id of one side: given, or the version of --project/--name."""
    if version_id and version:
        raise InvalidInputError(f"Give --{side} ID or --{side}-version VERSION, not both.")
    if version_id:
        return version_id
    if not version:
        raise InvalidInputError(
            f"Name the {side} version: --{side} ID, or --{side}-version VERSION with --project "
            "and --name."
        )
    if not (args.project and args.name):
        raise InvalidInputError(f"--{side}-version needs --project and --name.")
    found = Dataset.get(
        dataset_project=args.project, dataset_name=args.name, dataset_version=version
    )
    return found.id


def _as_json(found: dict[str, Any]) -> dict[str, Any]:
    """``found`` with its paths as text (see :mod:`deltaset.core.names`)."""
    shown = dict(found)
    for kind in ("added", "modified", "removed"):
        shown[kind] = [{**change, "path": to_text(change["path"])} for change in found[kind]]
    return shown


def _rows(found: dict[str, Any]) -> Iterator[list[str]]:
    for change in found["added"]:
        yield ["added", change["path"], human_size(change["size"])]
    for change in found["modified"]:
        sizes = f"{human_size(change['source_size'])} -> {human_size(change['size'])}"
        yield ["modified", change["path"], sizes]
    for change in found["removed"]:
        yield ["removed", change["path"], human_size(change["source_size"])]


def _summary(found: dict[str, Any]) -> str:
    added = sum(c["size"] for c in found["added"])
    modified = sum(c["size"] - c["source_size"] for c in found["modified"])
    removed = sum(c["source_size"] for c in found["removed"])
    sign = "+" if modified >= 0 else "-"
    return (
        f"{len(found['added'])} added ({human_size(added)}), "
        f"{len(found['modified'])} modified ({sign}{human_size(abs(modified))}), "
        f"{len(found['removed'])} removed ({human_size(removed)}) "
        f"from {found['source']} to {found['target']}"
    )
