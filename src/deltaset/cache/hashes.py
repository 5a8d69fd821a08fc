"""Hashes of local files keyed by device, inode, size and mtime: unchanged files are not re-read."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from pathlib import Path

from deltaset import sqlitedb

_SCHEMA = """
CREATE TABLE IF NOT EXISTS hashes (
    device INTEGER NOT NULL,
    inode INTEGER NOT NULL,
    size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    blob_id TEXT NOT NULL,
    PRIMARY KEY (device, inode)
)
"""

Key = tuple[int, int, int, int]
LOOKUP_BATCH = 900  # inodes per query, under SQLite's limit of bound parameters


class HashCache:
    def __init__(self, path: Path) -> None:
        try:
            self._db = sqlitedb.connect(path)
            self._db.execute(_SCHEMA)
        except sqlite3.Error as exc:
            raise sqlitedb.open_error(path, "hash cache", exc) from exc

    def lookup(self, keys: Iterable[Key]) -> dict[Key, str]:
        """The known blob id of each file whose size and mtime are unchanged."""
        wanted = {(k[0], k[1]): k for k in keys}
        found: dict[Key, str] = {}
        by_device: dict[int, list[int]] = {}
        for device, inode in wanted:
            by_device.setdefault(device, []).append(inode)
        # Batched point lookups on the primary key: memory follows the files asked about, not
        # the size of the table.
        for device, inodes in by_device.items():
            for start in range(0, len(inodes), LOOKUP_BATCH):
                batch = inodes[start : start + LOOKUP_BATCH]
                rows = self._db.execute(
                    "SELECT inode, size, mtime_ns, blob_id FROM hashes "
                    f"WHERE device = ? AND inode IN ({','.join('?' * len(batch))})",
                    [device, *batch],
                )
                for inode, size, mtime_ns, blob_id in rows:
                    key = wanted[(device, inode)]
                    if key[2] == size and key[3] == mtime_ns:
                        found[key] = blob_id
        return found

    def remember(self, hashed: Iterable[tuple[Key, str]]) -> None:
        with sqlitedb.transaction(self._db) as db:
            db.executemany(
                "INSERT OR REPLACE INTO hashes VALUES (?, ?, ?, ?, ?)",
                [(*key, blob_id) for key, blob_id in hashed],
            )

    def close(self) -> None:
        self._db.close()
