"""Changing what is said of versions: description, publication, dataset name and project.

A final version's record is kept in its storage too (storage alone rebuilds the catalog), so
each change is written there first, then in the catalog: a change cut short shows in a catalog
rebuilt from storage, and running it again completes it.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from deltaset.catalog.base import Query
from deltaset.catalog.rows import number_taken
from deltaset.core.records import State, VersionRecord
from deltaset.engine.context import Context
from deltaset.engine.views import require_final
from deltaset.errors import InvalidInputError, NotFoundError, StateError
from deltaset.faults import failpoint
from deltaset.storage.layout import record_key

SETTLE_ROUNDS = 8


def _store(ctx: Context, record: VersionRecord) -> None:
    if record.state.is_final:
        data = json.dumps(record.to_dict(), indent=1).encode()
        ctx.storage(record.storage).put_bytes(record_key(record.id), data)


def _settle(ctx: Context, stored: VersionRecord) -> VersionRecord:
    """Store the catalog's record again while it differs from the one just stored.

    Two clients editing one version at once may store their records in the other order than
    their catalog edits; whichever stores last then sees the catalog's final state here and
    stores it, so the storage ends as the catalog is.
    """
    for _ in range(SETTLE_ROUNDS):
        current = ctx.catalog.get(stored.id)
        if current.to_dict() == stored.to_dict():
            break
        _store(ctx, current)
        stored = current
    return stored


def set_description(ctx: Context, record: VersionRecord, description: str) -> VersionRecord:
    changed = record.evolve(description=description)
    _store(ctx, changed)
    ctx.catalog.update(changed)
    return _settle(ctx, changed)


def set_version(ctx: Context, record: VersionRecord, version: str) -> VersionRecord:
    """Give a draft another version string (ClearML's ``Dataset.version = ...``). A final
    version's number never changes: runs recorded it and URLs name it."""
    from deltaset.engine.create import checked_version

    clean = checked_version(version)
    if clean == record.version:
        return record
    if record.state.is_final:
        raise StateError(
            f"The dataset version {record.id} is final: its version {record.version} never "
            "changes; make a new version with dataset_version= (--version) instead."
        )
    taken = ctx.catalog.search(
        Query(record.project, record.name, version=clean, recursive_project=False)
    )
    if taken:
        raise number_taken(record.project, record.name, clean)
    changed = record.evolve(version=clean)
    ctx.catalog.update(changed)
    return changed


def edit_tags(
    ctx: Context, record: VersionRecord, add: Sequence[str] = (), remove: Sequence[str] = ()
) -> VersionRecord:
    """Add and remove tags: atomically in the catalog (no concurrent edit lost), then in the
    stored record."""
    changed = record.evolve(tags=ctx.catalog.edit_tags(record.id, add, remove))
    failpoint("records.before_store")
    _store(ctx, changed)
    return _settle(ctx, changed)


def publish(ctx: Context, record: VersionRecord) -> VersionRecord:
    """Mark a final version published (ClearML's last step of review); publishing twice is
    harmless."""
    require_final(record, "publish it")
    if record.state is State.PUBLISHED:
        return record
    changed = record.evolve(state=State.PUBLISHED)
    _store(ctx, changed)
    ctx.catalog.update(changed)
    return _settle(ctx, changed)


def rename_dataset(ctx: Context, project: str, name: str, new_project: str, new_name: str) -> int:
    """Move every version of ``project/name`` to ``new_project/new_name``; returns how many."""
    new_project, new_name = new_project.strip().strip("/"), new_name.strip()
    if not new_project or not new_name:
        raise InvalidInputError("A dataset needs a project and a name, neither of them empty.")
    found = ctx.catalog.search(Query(project=project, name=name, recursive_project=False))
    if not found:
        raise NotFoundError(f"No dataset {project}/{name} was found.")
    if (new_project, new_name) == (project, name):
        return 0
    target = Query(project=new_project, name=new_name, recursive_project=False)
    clash = {r.version for r in ctx.catalog.search(target)} & {r.version for r in found}
    if clash:
        raise StateError(
            f"The dataset {new_project}/{new_name} already has version {min(clash)}; choose "
            "another name or delete that version first."
        )
    for record in found:
        _store(ctx, record.evolve(project=new_project, name=new_name))
    return ctx.catalog.rename_dataset(project, name, new_project, new_name)
