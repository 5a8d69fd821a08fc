"""Rebuilding the catalog from storage alone: every final version's record and manifest."""

from __future__ import annotations

import json

from deltaset.core.manifest import Manifest
from deltaset.core.records import VersionRecord
from deltaset.engine.context import Context
from deltaset.errors import NotFoundError, StorageError
from deltaset.storage.layout import DESCRIPTOR_KEY, describe, manifest_key, version_id_of_record_key
from deltaset.storage.registry import open_storage


def rebuild_catalog(ctx: Context, storage_url: str | None = None) -> int:
    """Import every final version found in the storage; returns how many were new."""
    storage = open_storage(ctx.storage_url(storage_url))
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
            record = VersionRecord.from_dict(json.loads(storage.get_bytes(key)))
            manifest = storage.get_bytes(manifest_key(version_id))
        except NotFoundError:
            continue  # a version deleted while we listed
        except (ValueError, KeyError, TypeError) as exc:
            raise StorageError(f"The stored record {key} in {storage.url} is damaged.") from exc
        Manifest.from_bytes(manifest)  # refuse damaged manifests before importing anything
        record = record.evolve(storage=storage.url)
        imported += ctx.catalog.import_final(record, manifest)
    return imported
