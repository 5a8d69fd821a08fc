"""Deleting versions; bytes are removed only when no remaining version in the storage uses them."""

from __future__ import annotations

import logging

from deltaset.core.manifest import Manifest
from deltaset.core.records import VersionRecord
from deltaset.engine.context import Context
from deltaset.errors import NotFoundError, StateError
from deltaset.storage.base import Storage
from deltaset.storage.layout import blob_key, manifest_key, record_key
from deltaset.storage.registry import open_storage

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
    storage = open_storage(record.storage)
    doomed = _own_blobs(ctx, record)
    storage.delete(record_key(record.id))
    storage.delete(manifest_key(record.id))
    ctx.catalog.delete(record.id)
    if delete_files and doomed:
        freed = _delete_unreferenced(storage, doomed)
        log.info("deleted %d stored files no other version uses", freed)


def _own_blobs(ctx: Context, record: VersionRecord) -> set[str]:
    if record.state.is_final:
        data = ctx.catalog.manifest(record.id)
        return Manifest.from_bytes(data).blob_ids() if data else set()
    return {c.blob_id for c in ctx.catalog.staged(record.id) if not c.removed and c.uploaded}


def _delete_unreferenced(storage: Storage, candidates: set[str]) -> int:
    """Delete the ``candidates`` that no manifest left in ``storage`` references."""
    for key in storage.list("manifests/"):
        try:
            candidates -= Manifest.from_bytes(storage.get_bytes(key)).blob_ids()
        except NotFoundError:
            continue  # deleted concurrently: it references nothing any more
        if not candidates:
            return 0
    for blob_id in candidates:
        storage.delete(blob_key(blob_id))
    return len(candidates)
