"""Where each kind of object lives in a storage, and the self-description at its root."""

from __future__ import annotations

import json
import uuid

from deltaset.errors import StorageError
from deltaset.storage.base import Storage

STORAGE_FORMAT = 2
DESCRIPTOR_KEY = "deltaset.json"


def record_key(version_id: str) -> str:
    return f"versions/{version_id}.json"


def manifest_key(version_id: str) -> str:
    return f"manifests/{version_id}.zst"


def version_id_of_record_key(key: str) -> str | None:
    if key.startswith("versions/") and key.endswith(".json"):
        return key[len("versions/") : -len(".json")]
    return None


def describe(storage: Storage) -> str:
    """The storage id, writing the descriptor on first use; refuses an unknown format."""
    if not storage.exists(DESCRIPTOR_KEY):
        doc = {"format": STORAGE_FORMAT, "storage_id": uuid.uuid4().hex, "kind": "deltaset"}
        storage.put_bytes(DESCRIPTOR_KEY, json.dumps(doc).encode(), overwrite=False)
    data = storage.get_bytes(DESCRIPTOR_KEY)  # its errors are not a damaged descriptor
    try:
        doc = json.loads(data)
    except ValueError as exc:
        raise StorageError(f"The storage {storage.url} has a damaged {DESCRIPTOR_KEY}.") from exc
    if not isinstance(doc, dict):
        raise StorageError(f"The storage {storage.url} has a damaged {DESCRIPTOR_KEY}.")
    found = doc.get("format")
    if isinstance(found, int) and found < STORAGE_FORMAT:
        raise StorageError(
            f"The storage {storage.url} has format {found}, from an earlier development "
            "version of deltaset that this one cannot read; create a new storage."
        )
    if found != STORAGE_FORMAT:
        raise StorageError(
            f"The storage {storage.url} has format {found!r}, which this deltaset "
            "does not understand; upgrade deltaset."
        )
    if "storage_id" not in doc:
        raise StorageError(f"The storage {storage.url} has a damaged {DESCRIPTOR_KEY}.")
    return str(doc["storage_id"])
