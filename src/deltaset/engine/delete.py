"""Deleting versions; bytes are removed only when no remaining version in the storage uses them."""

from __future__ import annotations

import logging

from deltaset.catalog.base import Query
from deltaset.core.manifest import Manifest
from deltaset.core.records import State, VersionRecord
from deltaset.engine.context import Context
from deltaset.errors import NotFoundError, StateError
from deltaset.storage.base import Storage
from deltaset.storage.layout import manifest_key, record_key

log = logging.getLogger("deltaset")


def delete(
    ctx: Context, record: VersionRecord, force: bool = False, delete_files: bool = True
) -> None:
    children = ctx.catalog.children(record.id)
    if children and not force:
        names = ", ".join(f"{c.name} {c.version} ({c.id})" for c in children[:3])
        raise StateError(
            f"The dataset version {record.id} is a parent of {len(children)} other version(s) "
            f"({names}); pass --force (force=True) to delete it anyway."
        )
    drafts = [c for c in children if not c.state.is_final]
    if drafts:
        # A draft still reads its files through its parents, so even force cannot orphan it.
        raise StateError(
            f"The dataset version {record.id} is a parent of the draft {drafts[0].id}; "
            "close or delete that draft first."
        )
    store = ctx.blobs(record.storage)
    storage = store.storage
    doomed = _own_blobs(ctx, record)
    storage.delete(record_key(record.id))
    storage.delete(manifest_key(record.id))
    ctx.catalog.delete(record.id)
    if delete_files and doomed:
        live = _live_ids(ctx, storage)
        if doomed - live:
            freed = store.drop_unreferenced(live)
            log.info("freed %d stored bytes no other version uses", freed)


def _own_blobs(ctx: Context, record: VersionRecord) -> set[str]:
    if record.state.is_final:
        data = ctx.catalog.manifest(record.id)
        return Manifest.from_bytes(data).stored_ids() if data else set()
    return _staged_ids(ctx, record)


def _staged_ids(ctx: Context, record: VersionRecord) -> set[str]:
    staged = {c.blob_id for c in ctx.catalog.staged(record.id) if not c.removed}
    chunks = ctx.catalog.chunk_lists(staged)
    return staged | {c for ids in chunks.values() for c in ids}


def _live_ids(ctx: Context, storage: Storage) -> set[str]:
    """Everything a version left in ``storage``, or a draft of this catalog, still needs."""
    live: set[str] = set()
    for key in storage.list("manifests/"):
        try:
            live |= Manifest.from_bytes(storage.get_bytes(key)).stored_ids()
        except NotFoundError:
            continue  # deleted concurrently: it needs nothing any more
    for draft in ctx.catalog.search(Query(states=(State.DRAFT,))):
        if draft.storage == storage.url:
            live |= _staged_ids(ctx, draft)
    return live
