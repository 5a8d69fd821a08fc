"""PackIndex: which pack holds each blob, loaded from the index files a storage holds.

Index files are immutable, so each one is read from storage once and then kept in a local copy
folder (when given) for the next process.
"""

from __future__ import annotations

import contextlib
import os
import threading
import uuid
from collections.abc import Iterable
from pathlib import Path

from deltaset.errors import NotFoundError
from deltaset.packs.format import Location, decode_index, encode_index
from deltaset.storage.base import Storage

INDEX_PREFIX = "index/"


def index_key(name: str) -> str:
    return f"{INDEX_PREFIX}{name}.idx"


class PackIndex:
    def __init__(self, storage: Storage, local_copies: Path | None = None) -> None:
        self.storage = storage
        self.local_copies = local_copies
        self._locations: dict[str, Location] = {}
        self._loaded: set[str] = set()
        self._lock = threading.Lock()

    def refresh(self) -> None:
        """Read the index files written since the last refresh (by any process)."""
        for key in sorted(self.storage.list(INDEX_PREFIX)):
            if key not in self._loaded and key.endswith(".idx"):
                try:
                    self._learn(key, decode_index(self._read(key)))
                except NotFoundError:
                    continue  # superseded and removed while we listed

    def _learn(self, key: str, locations: Iterable[Location]) -> None:
        with self._lock:
            for loc in locations:
                self._locations[loc.entry.blob_id] = loc
            self._loaded.add(key)

    def _read(self, key: str) -> bytes:
        local = self.local_copies / key.rsplit("/", 1)[-1] if self.local_copies else None
        if local is not None and local.is_file():
            return local.read_bytes()
        data = self.storage.get_bytes(key)
        if local is not None:
            with contextlib.suppress(OSError):  # a local copy is an optimisation only
                local.parent.mkdir(parents=True, exist_ok=True)
                tmp = local.with_suffix(f".{uuid.uuid4().hex}.tmp")
                tmp.write_bytes(data)
                os.replace(tmp, local)
        return data

    def publish(self, locations: list[Location]) -> str:
        """Write an index file for newly written packs, then make their blobs findable."""
        key = index_key(uuid.uuid4().hex)
        self.storage.put_bytes(key, encode_index(locations))
        self._learn(key, locations)
        return key

    def get(self, blob_id: str) -> Location | None:
        return self._locations.get(blob_id)

    def __contains__(self, blob_id: object) -> bool:
        return blob_id in self._locations

    def __len__(self) -> int:
        return len(self._locations)

    def locations(self) -> list[Location]:
        with self._lock:
            return list(self._locations.values())

    def pack_ids(self) -> set[str]:
        with self._lock:
            return {loc.pack_id for loc in self._locations.values()}

    def index_keys(self) -> set[str]:
        return set(self._loaded)
