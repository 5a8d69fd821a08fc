"""Rebuilding the catalog from storage alone: every final version's record and manifest."""

from __future__ import annotations

from deltaset.engine import metadata
from deltaset.engine.context import Context
from deltaset.engine.views import read_stored_record, stored_manifest
from deltaset.errors import NotFoundError
from deltaset.storage.layout import DESCRIPTOR_KEY, describe, version_id_of_record_key


def rebuild_catalog(ctx: Context, storage_url: str | None = None) -> int:
    """Import every final version found in the storage; returns how many were new."""
    url = ctx.storage_url(storage_url)
    storage = ctx.storage(url)
    if not storage.exists(DESCRIPTOR_KEY):
        if storage_url is None:
            return 0  # nothing was ever stored in the default storage
        raise NotFoundError(f"There is no deltaset storage at {storage.url}.")
    describe(storage)
    imported = 0
    for key in sorted(storage.list("versions/")):
        version_id = version_id_of_record_key(key)
        if version_id is None:
            continue
        try:
            record = read_stored_record(storage, version_id)
            manifest = stored_manifest(ctx, storage, version_id)
        except NotFoundError:
            continue  # a version deleted while we listed
        record = record.evolve(storage=url)  # as named here (a server's, not its bucket's)
        if ctx.catalog.import_final(record, manifest.to_bytes()):
            metadata.import_stored(ctx, url, version_id)
            imported += 1
    return imported
