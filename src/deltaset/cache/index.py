"""CacheIndex: sizes and last use of cached blobs and trees, for byte-based LRU eviction.

Any failure of the index database is one sentence naming the cache (a full disk says how to
free it); the writes that are only an optimisation (last use, recorded stats) fail silently.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import sqlite3
import time
from collections.abc import Callable, Iterable
from operator import itemgetter
from pathlib import Path
from typing import Any, TypeVar

from deltaset import sqlitedb
from deltaset.cache.trees import FileStat
from deltaset.errors import CatalogError, DeltasetError, DiskFullError

# Tables keyed by text are WITHOUT ROWID: each row is then written into one B-tree instead of
# a table and an index on its key (the index writes of a cold pull of 200,000 files: 3.4 s of
# CPU -> 2.1 s). Caches made before keep their tables; the statements are the same for both.
_SCHEMA = [
    "CREATE TABLE IF NOT EXISTS blobs (blob_id TEXT PRIMARY KEY, size INTEGER, used REAL) "
    "WITHOUT ROWID",
    "CREATE TABLE IF NOT EXISTS trees (key TEXT PRIMARY KEY, copied INTEGER, used REAL)",
    "CREATE TABLE IF NOT EXISTS tree_blobs (key TEXT, blob_id TEXT, PRIMARY KEY (key, blob_id)) "
    "WITHOUT ROWID",
    "CREATE INDEX IF NOT EXISTS tree_blobs_by_blob ON tree_blobs (blob_id)",
    # The stat each blob file had when deltaset last wrote, checked or linked it.
    "CREATE TABLE IF NOT EXISTS blob_stats (blob_id TEXT PRIMARY KEY, ino INTEGER, "
    "size INTEGER, mtime_ns INTEGER, ctime_ns INTEGER) WITHOUT ROWID",
]
_QUERY_BATCH = 500  # ids per query: SQLite limits the parameters of one statement
IF_FULL = (
    "free space on its disk, empty the cache with 'deltaset cache purge' or keep it smaller "
    "with 'deltaset cache --limit SIZE'"
)


def index_error(path: Path, exc: sqlite3.Error) -> DeltasetError:
    """The one sentence for a failure of the cache index at ``path``."""
    found = sqlitedb.open_error(path, "cache index", exc)
    if isinstance(found, DiskFullError):
        return DiskFullError(
            f"Cannot write to the cache {path.parent} (its index): no space left on the "
            f"device; {IF_FULL}."
        )
    return CatalogError(
        f"The cache index {path} cannot be used ({exc}); move the folder {path.parent} aside: "
        "it holds only copies, fetched again as needed."
    )


Index = TypeVar("Index", bound="CacheIndex")


def _naming_failures(cls: type[Index]) -> type[Index]:
    """Make every public method of the index fail in one sentence (see :func:`index_error`)."""
    for name, method in list(vars(cls).items()):
        if not name.startswith("_") and inspect.isfunction(method):
            setattr(cls, name, functools.wraps(method)(_named(method)))
    return cls


def _named(method: Callable[..., Any]) -> Callable[..., Any]:
    def call(self: CacheIndex, *args: Any, **kwargs: Any) -> Any:
        try:
            return method(self, *args, **kwargs)
        except sqlite3.Error as exc:
            raise index_error(self.path, exc) from exc

    return call


@_naming_failures
class CacheIndex:
    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            self._db = sqlitedb.connect(path)
            for statement in _SCHEMA:
                self._db.execute(statement)
        except sqlite3.Error as exc:
            raise index_error(path, exc) from exc

    def _write(self, sql: str, rows: Iterable[tuple[Any, ...]], in_order: bool = False) -> None:
        """Run ``sql`` for each row, in the order of their first column (a blob id): random
        ids inserted in order fill the B-tree page after page instead of all over it. In
        random order, once the index outgrew SQLite's 2 MiB page cache (a few thousand blobs),
        every insert read and wrote pages again: a cold pull of 200,000 files spent most of
        its time there. (A larger page cache was measured too: no faster once rows are
        sorted, and 170 MB more memory at 200,000 files.)"""
        with sqlitedb.transaction(self._db) as db:
            db.executemany(sql, rows if in_order else sorted(rows, key=itemgetter(0)))

    def add_blobs(self, blobs: Iterable[tuple[str, int]]) -> None:
        now = time.time()
        self._write(
            "INSERT OR REPLACE INTO blobs VALUES (?, ?, ?)", [(b, size, now) for b, size in blobs]
        )

    def add_tree(
        self, key: str, copied: int, blobs: Callable[[], Iterable[tuple[str, int]]]
    ) -> None:
        """Record a tree and the blobs (id, size) it links to, which eviction must keep,
        adding those the index lacks (those the pull that built the tree fetched) and marking
        all as used now. ``blobs`` is called twice and lists them in id order (see
        :meth:`_write`): no list of a million rows is made here to sort them."""
        now = time.time()
        with sqlitedb.transaction(self._db) as db:
            db.execute("INSERT OR REPLACE INTO trees VALUES (?, ?, ?)", (key, copied, now))
            db.executemany(
                "INSERT OR IGNORE INTO tree_blobs VALUES (?, ?)", ((key, b) for b, _ in blobs())
            )
            db.executemany(  # one pass: new blobs are added, known ones marked as used
                "INSERT INTO blobs VALUES (?, ?, ?) "
                "ON CONFLICT (blob_id) DO UPDATE SET used = excluded.used",
                ((b, size, now) for b, size in blobs()),
            )

    def touch_tree(self, key: str) -> None:
        """Mark folder ``key`` as used now, if the disk has room: only eviction's order."""
        with contextlib.suppress(sqlite3.OperationalError):
            self._db.execute("UPDATE trees SET used = ? WHERE key = ?", (time.time(), key))

    def usage(self) -> int:
        blobs = self._db.execute("SELECT COALESCE(SUM(size), 0) FROM blobs").fetchone()[0]
        trees = self._db.execute("SELECT COALESCE(SUM(copied), 0) FROM trees").fetchone()[0]
        return int(blobs) + int(trees)

    def blob_totals(self) -> tuple[int, int]:
        """How many blobs the cache holds, and their bytes."""
        count, size = self._db.execute(
            "SELECT COUNT(*), COALESCE(SUM(size), 0) FROM blobs"
        ).fetchone()
        return int(count), int(size)

    def trees(self) -> list[tuple[str, float]]:
        """Every materialised folder (key, last use), most recently used first."""
        rows = self._db.execute("SELECT key, used FROM trees ORDER BY used DESC").fetchall()
        return [(str(key), float(used)) for key, used in rows]

    def trees_by_age(self) -> list[str]:
        return [row[0] for row in self._db.execute("SELECT key FROM trees ORDER BY used")]

    def tree_copied_bytes(self, key: str) -> int:
        row = self._db.execute("SELECT copied FROM trees WHERE key = ?", (key,)).fetchone()
        return int(row[0]) if row else 0

    def drop_tree(self, key: str) -> None:
        self._write("DELETE FROM tree_blobs WHERE key = ?", [(key,)])
        self._db.execute("DELETE FROM trees WHERE key = ?", (key,))

    def unreferenced_blobs_by_age(self) -> list[tuple[str, int]]:
        rows = self._db.execute(
            "SELECT blob_id, size FROM blobs WHERE blob_id NOT IN "
            "(SELECT blob_id FROM tree_blobs) ORDER BY used"
        ).fetchall()
        return [(str(blob_id), int(size)) for blob_id, size in rows]

    def drop_blob(self, blob_id: str) -> None:
        self._db.execute("DELETE FROM blobs WHERE blob_id = ?", (blob_id,))
        self._db.execute("DELETE FROM blob_stats WHERE blob_id = ?", (blob_id,))

    def record_stats(self, stats: Iterable[tuple[str, FileStat]], in_order: bool = False) -> None:
        """Remember the stat of each blob file as deltaset last saw it whole, if the disk has
        room: a file without a record is only checked the long way (hashed) when next used.
        ``in_order`` when ``stats`` come in id order already: streamed, not sorted here."""
        with contextlib.suppress(sqlite3.OperationalError):
            self._write(
                "INSERT OR REPLACE INTO blob_stats VALUES (?, ?, ?, ?, ?)",
                ((blob_id, *stat) for blob_id, stat in stats),
                in_order,
            )

    def forget_stats(self, blob_ids: Iterable[str]) -> None:
        self._write("DELETE FROM blob_stats WHERE blob_id = ?", ((b,) for b in blob_ids))

    def stats(self, blob_ids: Iterable[str]) -> dict[str, FileStat]:
        """The recorded stat of each of ``blob_ids`` that has one."""
        ids = list(blob_ids)
        found: dict[str, FileStat] = {}
        for start in range(0, len(ids), _QUERY_BATCH):
            batch = ids[start : start + _QUERY_BATCH]
            rows = self._db.execute(
                "SELECT blob_id, ino, size, mtime_ns, ctime_ns FROM blob_stats "
                f"WHERE blob_id IN ({','.join('?' * len(batch))})",
                batch,
            )
            found.update((row[0], (row[1], row[2], row[3], row[4])) for row in rows)
        return found

    def known(self, blob_ids: Iterable[str]) -> dict[str, FileStat | None]:
        """Those of ``blob_ids`` the index accounts for, each with its recorded stat, or
        None when it has none. (Every blob with a stat has a row of its size: stats alone
        are not looked up, which halves the lookups of a cold pull.)"""
        ids = list(blob_ids)
        found: dict[str, FileStat | None] = {}
        for start in range(0, len(ids), _QUERY_BATCH):
            batch = ids[start : start + _QUERY_BATCH]
            marks = ",".join("?" * len(batch))
            rows = self._db.execute(f"SELECT blob_id FROM blobs WHERE blob_id IN ({marks})", batch)
            found.update((row[0], None) for row in rows)
        found.update(self.stats(found))
        return found

    def blobs_of(self, keys: Iterable[str]) -> set[str]:
        """The blobs the folders ``keys`` link to."""
        found: set[str] = set()
        for key in keys:
            rows = self._db.execute("SELECT blob_id FROM tree_blobs WHERE key = ?", (key,))
            found.update(row[0] for row in rows)
        return found

    def forget(self, keys: Iterable[str], blob_ids: Iterable[str]) -> None:
        """Drop the folders ``keys`` and the blobs ``blob_ids``, whose files are gone, and
        every blob no folder left links to (what emptying the cache removed)."""
        with sqlitedb.transaction(self._db) as db:
            removed = [(key,) for key in keys]
            db.executemany("DELETE FROM tree_blobs WHERE key = ?", removed)
            db.executemany("DELETE FROM trees WHERE key = ?", removed)
            db.executemany("DELETE FROM blob_stats WHERE blob_id = ?", ((b,) for b in blob_ids))
            db.execute("DELETE FROM blobs WHERE blob_id NOT IN (SELECT blob_id FROM tree_blobs)")

    def trees_holding(self, blob_id: str) -> list[str]:
        rows = self._db.execute("SELECT key FROM tree_blobs WHERE blob_id = ?", (blob_id,))
        return [row[0] for row in rows]
