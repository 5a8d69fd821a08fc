"""Hashes of local files keyed by device, inode, size and mtime: unchanged files are not re-read."""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Iterable, Iterator
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

log = logging.getLogger("deltaset")

Key = tuple[int, int, int, int]
RANGE_GAP = 16  # inodes apart that still share one range read: rows read stay near rows wanted


class HashCache:
    """An optimisation only: when its database cannot be opened, read or written (a full disk,
    a damaged file), it says so once and knows nothing from then on; files are hashed again."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._db: sqlite3.Connection | None = None
        try:
            self._db = sqlitedb.connect(path)
            self._db.execute(_SCHEMA)
        except (sqlite3.Error, OSError) as exc:
            self._give_up(exc)

    def _give_up(self, exc: Exception) -> None:
        log.warning(
            "carrying on without the hash cache %s (%s): files are hashed again", self.path, exc
        )
        if self._db is not None:
            self._db.close()
        self._db = None

    @property
    def working(self) -> bool:
        """Whether it has not given up."""
        return self._db is not None

    def lookup(self, keys: Iterable[Key]) -> dict[Key, str]:
        """The known blob id of each file whose size and mtime are unchanged."""
        if self._db is None:
            return {}
        try:
            return self._lookup(self._db, keys)
        except sqlite3.Error as exc:
            self._give_up(exc)
            return {}

    @staticmethod
    def _lookup(db: sqlite3.Connection, keys: Iterable[Key]) -> dict[Key, str]:
        by_device: dict[int, dict[int, Key]] = {}
        for key in keys:
            by_device.setdefault(key[0], {})[key[1]] = key
        found: dict[Key, str] = {}
        # Range reads of the primary key: the files of a folder mostly have neighbouring
        # inodes, so a few ranges cover thousands of files. Memory follows the files asked
        # about, not the size of the table.
        for device, wanted in by_device.items():
            for low, high in _runs(sorted(wanted)):
                rows = db.execute(
                    "SELECT inode, size, mtime_ns, blob_id FROM hashes "
                    "WHERE device = ? AND inode BETWEEN ? AND ?",
                    (device, low, high),
                )
                for inode, size, mtime_ns, blob_id in rows:
                    asked = wanted.get(inode)
                    if asked is not None and asked[2] == size and asked[3] == mtime_ns:
                        found[asked] = blob_id
        return found

    def remember(self, hashed: Iterable[tuple[Key, str]]) -> None:
        rows = [(*key, blob_id) for key, blob_id in hashed]
        if self._db is None or not rows:
            return
        try:
            with sqlitedb.transaction(self._db) as db:
                db.executemany("INSERT OR REPLACE INTO hashes VALUES (?, ?, ?, ?, ?)", rows)
        except sqlite3.Error as exc:
            self._give_up(exc)

    def close(self) -> None:
        if self._db is not None:
            self._db.close()


def _runs(inodes: list[int]) -> Iterator[tuple[int, int]]:
    """The (first, last) of each run of sorted ``inodes`` with gaps of at most RANGE_GAP."""
    if not inodes:
        return
    low = high = inodes[0]
    for inode in inodes:
        if inode - high > RANGE_GAP:
            yield low, high
            low = inode
        high = inode
    yield low, high
