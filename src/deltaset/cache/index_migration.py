"""Moving a cache index of the first format to the second, in place, when the cache is opened.

The first format kept four B-trees a blob, each keyed by its id as 64 hex characters:
``blobs`` (size, last use), ``blob_stats`` (the stat of its file), ``tree_blobs`` (folder key,
blob) and an index of it by blob: about 400 bytes a blob. The second keeps two, keyed by the
id's 32 raw bytes (see :mod:`deltaset.cache.index`). The index is migrated, not rebuilt: a
rebuilt one would forget every recorded stat (each cached file hashed again at its next use)
and every folder (out of eviction's reach until a purge).

The whole move is one SQLite transaction, taken up front (``BEGIN IMMEDIATE``: the index's
write lock, which every other process opening or writing the cache waits for), so a process
killed during it leaves the old tables whole for the next opening to migrate again, and two
processes opening an old cache at once migrate it once. A release of the first format that
opens a migrated cache makes its old tables again, empty, and works with them; the next
opening by this one moves whatever they hold.
"""

from __future__ import annotations

import contextlib
import sqlite3

from deltaset import sqlitedb
from deltaset.faults import failpoint

OLD_TABLES = ("tree_blobs", "blob_stats", "blobs", "trees")  # in the order they are dropped
_VACUUM_WAIT_S = 1.0


def migrate(db: sqlite3.Connection) -> None:
    """Move the rows of the first format's tables into the second's, then drop them."""
    if not _old_tables(db):
        return
    db.create_function("raw_id", 1, _raw_id, deterministic=True)
    with sqlitedb.transaction(db):
        found = _old_tables(db)  # another process may have migrated it meanwhile
        if "trees" in found:
            db.execute(
                "INSERT OR IGNORE INTO folders (key, copied, used) "
                "SELECT key, copied, used FROM trees"
            )
        if "blobs" in found:
            db.execute(_blob_rows("blob_stats" in found))
        if "tree_blobs" in found:
            db.execute(
                "INSERT OR IGNORE INTO folder_blobs SELECT raw_id(blob_id), folders.id "
                "FROM tree_blobs JOIN folders USING (key) "
                "WHERE raw_id(blob_id) IS NOT NULL ORDER BY blob_id"
            )
        for table in OLD_TABLES:
            if table in found:
                db.execute(f"DROP TABLE {table}")
        failpoint("cache.index_migrated")  # all done but the commit
    # The old tables' pages are free, but the file keeps them (74 of 98 MB at 200,000 blobs)
    # until rewritten: once, if the disk has room and no other process is writing now.
    with sqlitedb.brief_wait(db, _VACUUM_WAIT_S), contextlib.suppress(sqlite3.OperationalError):
        db.execute("VACUUM")


def _old_tables(db: sqlite3.Connection) -> set[str]:
    marks = ",".join("?" * len(OLD_TABLES))
    rows = db.execute(
        f"SELECT name FROM sqlite_master WHERE type = 'table' AND name IN ({marks})", OLD_TABLES
    )
    return {row[0] for row in rows}


def _blob_rows(with_stats: bool) -> str:
    """The statement that copies each blob's row, with its stat if the old index has one. (A
    stat without a row, which deltaset never wrote, is dropped: that file is hashed again.)"""
    stat = "s.ino, s.size, s.mtime_ns, s.ctime_ns" if with_stats else "NULL, NULL, NULL, NULL"
    join = "LEFT JOIN blob_stats AS s USING (blob_id)" if with_stats else ""
    return (
        f"INSERT OR IGNORE INTO cached_blobs SELECT raw_id(b.blob_id), b.size, "
        f"CAST(b.used AS INTEGER), {stat} FROM blobs AS b {join} "
        "WHERE raw_id(b.blob_id) IS NOT NULL ORDER BY b.blob_id"
    )


def _raw_id(text: object) -> bytes | None:
    """The raw bytes of a hex id; None for anything else (never in an index deltaset wrote)."""
    if not isinstance(text, str):
        return None
    try:
        return bytes.fromhex(text)
    except ValueError:
        return None
