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


def register(sub: Any) -> None:
    parser = sub.add_parser(
        "compare", help="list the files a target version adds, modifies and removes"
    )
    parser.add_argument("--source", required=True, metavar="ID", help="the version compared from")
    parser.add_argument("--target", required=True, metavar="ID", help="the version compared to")
    options.add_output(parser, json=True)
    parser.set_defaults(handler=run)


def run(app: App, args: argparse.Namespace) -> None:
    found = Dataset.compare(args.source, args.target)
    if app.as_json:
        app.data(_as_json(found))
        return
    app.table(["change", "path", "size"], _rows(found))
    app.say(_summary(found))


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
