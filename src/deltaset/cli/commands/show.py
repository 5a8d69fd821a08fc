"""``deltaset show``: everything about one version, for people or (``--json``) scripts."""

from __future__ import annotations

import argparse
from typing import Any

from deltaset.api.content import METADATA_NAME as CONTENT
from deltaset.cli import options
from deltaset.cli.app import App
from deltaset.cli.commands.common import human_size, selected
from deltaset.cli.versions import version_doc
from deltaset.core.records import VersionRecord
from deltaset.engine import metadata, query
from deltaset.engine.context import default_context
from deltaset.engine.views import current_view
from deltaset.errors import NotFoundError

SHOWN_GROUPS = 5  # extensions and folders named on the line; the rest are counted


def register(sub: Any) -> None:
    parser = sub.add_parser(
        "show",
        help="show one dataset version: identity, state, lineage, storage, files and bytes",
        description="Example: deltaset show --id 3f2a (any unique start of an id will do).",
    )
    options.add_selector(parser)
    options.add_output(parser)
    parser.set_defaults(handler=run)


def run(app: App, args: argparse.Namespace) -> None:
    record = selected(app, args).record
    doc = version_doc(record)
    if not record.state.is_final:
        doc.update(_draft_counts(record))
    if app.as_json:
        app.data(doc)
        return
    lines = _lines(doc) + _content_lines(record)
    app.lines(f"{key + ':':<13}{value}" for key, value in lines)


def _draft_counts(record: VersionRecord) -> dict[str, Any]:
    """What a final version's statistics hold, worked out from a draft's files so far."""
    ctx = default_context()
    view = current_view(ctx, record)
    changes = query.changes(ctx, record)
    return {
        "files": len(view),
        "bytes": view.total_size,
        "changes": {
            "added": len(changes.added),
            "modified": len(changes.modified),
            "removed": len(changes.removed),
        },
    }


def _lines(doc: dict[str, Any]) -> list[tuple[str, str]]:
    changes = doc["changes"]
    return [
        ("id", doc["id"]),
        ("dataset", f"{doc['project']}/{doc['name']}"),
        ("version", doc["version"]),
        ("state", doc["state"]),
        ("parents", ", ".join(doc["parents"]) or "(none)"),
        ("tags", ", ".join(doc["tags"]) or "(none)"),
        ("description", doc["description"] or "(none)"),
        ("storage", doc["storage"]),
        ("files", str(doc["files"])),
        ("bytes", f"{human_size(doc['bytes'])} ({doc['bytes']} bytes)"),
        ("stored", f"{human_size(doc['stored_bytes'])} stored by this version"),
        (
            "changes",
            f"{changes['added']} added, {changes['modified']} modified, "
            f"{changes['removed']} removed (since the parents)",
        ),
        ("created", f"{doc['created']} by {doc['user']}"),
    ]


def _content_lines(record: VersionRecord) -> list[tuple[str, str]]:
    """The largest extensions and top-level folders of the stored content summary, if any."""
    try:
        summary = metadata.get_metadata(default_context(), record, CONTENT)
    except NotFoundError:
        return []
    return [("types", _groups(summary["by_extension"])), ("folders", _groups(summary["by_folder"]))]


def _groups(groups: dict[str, dict[str, int]]) -> str:
    named = [
        f"{key} {counts['files']} ({human_size(counts['bytes'])})"
        for key, counts in list(groups.items())[:SHOWN_GROUPS]
    ]
    if len(groups) > SHOWN_GROUPS:
        named.append(f"{len(groups) - SHOWN_GROUPS} more")
    return ", ".join(named) or "(none)"
