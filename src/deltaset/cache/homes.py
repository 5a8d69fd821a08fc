"""Where the file of a blob that lives in a cached folder is.

A cold get writes each blob it fetches straight into the folder it builds, and links it
nowhere else: that folder's file is the blob's home (the cache index names the folder, see
:mod:`deltaset.cache.index`), found at the blob's position in the folder's record. A second
directory entry a file under ``blobs/`` cost a cold get of 200,000 files about 1.9 s of
kernel time, and more at a million files, whose ``blobs/`` folders hold thousands each.

A path found here is only where the blob's file should be: every reader compares the stat
of what it finds there with the one the index recorded, as for a file under ``blobs/``.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

from deltaset.cache.trees import TreeRecords

_ID = 32  # bytes of a raw blob id in a record
_KEPT = 2  # folders whose positions are kept at once: a million-file one takes ~100 MB


class HomeFiles:
    """Paths of blobs in the folders under ``trees`` (a string), by their records; safe to
    use from several threads (reads in place may come from any)."""

    def __init__(self, trees: str, records: TreeRecords) -> None:
        self._trees = trees
        self._records = records
        self._folders: OrderedDict[str, tuple[list[str], dict[bytes, int]]] = OrderedDict()
        self._lock = threading.Lock()

    def path(self, key: str, blob_id: str) -> str | None:
        """The path of ``blob_id``'s file in folder ``key``; None when its record is gone or
        does not name it."""
        with self._lock:
            found = self._positions(key)
        if found is None:
            return None
        paths, positions = found
        at = positions.get(bytes.fromhex(blob_id))
        return None if at is None else f"{self._trees}/{key}/{paths[at]}"

    def _positions(self, key: str) -> tuple[list[str], dict[bytes, int]] | None:
        found = self._folders.get(key)
        if found is not None:
            self._folders.move_to_end(key)
            return found
        record = self._records.load(key)
        if record is None:
            return None
        ids = record.raw_ids()
        positions: dict[bytes, int] = {}
        for at in range(len(record)):
            positions.setdefault(ids[at * _ID : (at + 1) * _ID], at)
        found = self._folders[key] = (record.paths, positions)
        while len(self._folders) > _KEPT:
            self._folders.popitem(last=False)
        return found

    def forget(self, key: str) -> None:
        """Drop what is kept of folder ``key`` (removed, or its record replaced)."""
        with self._lock:
            self._folders.pop(key, None)
