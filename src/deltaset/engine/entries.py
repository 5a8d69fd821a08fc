"""Where each file of a version came from: the version that brought its content in, and, for a
draft, the local file still waiting for upload (ClearML's ``parent_dataset_id`` and
``local_path`` of a file entry)."""

from __future__ import annotations

from deltaset.core.records import VersionRecord
from deltaset.engine.context import Context
from deltaset.engine.query import changes
from deltaset.engine.views import current_view, parent_records


def origins(ctx: Context, record: VersionRecord) -> dict[str, str]:
    """``{path: id of the version that added or changed it to its content here}``.

    A path unchanged by a version is followed into the parent it comes from (a later parent
    wins, as in the merge); one whose parent is gone (deleted with force) stays with the
    version that still holds it."""
    view = current_view(ctx, record)
    found: dict[str, str] = {}
    todo = [(record, {path: view[path].blob_id for path in view})]
    while todo:
        version, wanted = todo.pop()
        brought = changes(ctx, version)
        own = {**brought.added, **brought.modified}
        rest = {p: b for p, b in wanted.items() if p not in own or own[p].blob_id != b}
        found.update(dict.fromkeys(wanted.keys() - rest.keys(), version.id))
        for parent in reversed(parent_records(ctx, version)):
            if not rest:
                break
            held = current_view(ctx, parent)
            theirs = {p: b for p, b in rest.items() if p in held and held[p].blob_id == b}
            rest = {p: b for p, b in rest.items() if p not in theirs}
            if theirs:
                todo.append((parent, theirs))
        found.update(dict.fromkeys(rest, version.id))
    return found


def pending_sources(ctx: Context, record: VersionRecord) -> dict[str, str]:
    """``{path: local file}`` of a draft's files added from local files and not uploaded yet."""
    if record.state.is_final:
        return {}
    return {
        c.path: c.source
        for c in ctx.catalog.staged(record.id)
        if c.source and not c.removed and not c.uploaded
    }
