"""CacheIndex: sizes and last use of cached blobs and trees, for byte-based LRU eviction.

Any failure of the index database is one sentence naming the cache (a full disk says how to
free it); the writes that are only an optimisation (last use, recorded stats) fail silently.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import itertools
import sqlite3
import time
from array import array
from collections.abc import Callable, Iterable, Iterator
from operator import itemgetter
from pathlib import Path
from typing import Any, TypeVar, cast

from deltaset import sqlitedb
from deltaset.cache import index_migration
from deltaset.cache.trees import FileStat, TreeRecords, stat_columns
from deltaset.errors import CatalogError, DeltasetError, DiskFullError

# Two B-trees a blob, keyed by its 32 raw bytes: its row (size, last use, and the stat its file
# had when deltaset last wrote, checked or linked it; NULL when none is recorded), and one row
# a folder linking it, keyed by blob first, so that eviction finds the blobs no folder links
# without an index of its own. Both WITHOUT ROWID: each row is written into one B-tree.
# Folders are few: a row each, with a small integer id for their blob rows.
# A blob a cold get wrote straight into the folder it built has no file under ``blobs/``: that
# folder's file is its home, named in ``blob_homes`` (the folder's id; the path is found in
# the folder's record). A table of its own, not a column: an older release, which inserts
# rows of seven values into ``cached_blobs`` and never reads this table, finds no file under
# ``blobs/`` for such a blob and fetches it again, as for any blob it lacks.
# A folder a cold get built by writing every one of its blobs into it, each once, has none of
# these rows at first: only a row in ``deferred_folders`` (its blobs' count and bytes). The
# rows are written from the folder's record by the first reader that needs them (see
# :meth:`CacheIndex._list_deferred`): a cold get of 200,000 files spent about 1.5 s writing
# them, alone at its end, and one get of one version is often all a machine does. Until then
# no other folder can link those blobs (a pull finds them through the index, which lists
# them first), so the folder's removal frees their bytes. A table of its own, as above.
_SCHEMA = [
    "CREATE TABLE IF NOT EXISTS cached_blobs (id BLOB PRIMARY KEY, size INTEGER, used REAL, "
    "ino INTEGER, file_size INTEGER, mtime_ns INTEGER, ctime_ns INTEGER) WITHOUT ROWID",
    "CREATE TABLE IF NOT EXISTS folders (id INTEGER PRIMARY KEY, key TEXT UNIQUE, "
    "copied INTEGER, used REAL)",
    "CREATE TABLE IF NOT EXISTS folder_blobs (blob BLOB, folder INTEGER, "
    "PRIMARY KEY (blob, folder)) WITHOUT ROWID",
    "CREATE TABLE IF NOT EXISTS blob_homes (blob BLOB PRIMARY KEY, folder INTEGER) WITHOUT ROWID",
    "CREATE TABLE IF NOT EXISTS deferred_folders (folder INTEGER PRIMARY KEY, blobs INTEGER, "
    "bytes INTEGER)",
]
_STAT = "ino, file_size, mtime_ns, ctime_ns"
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


Method = TypeVar("Method", bound=Callable[..., Any])


def _every_row_listed(method: Method) -> Method:
    """For the methods that read or write blobs' rows: the rows of folders deferred are
    written first (see ``deferred_folders``)."""

    @functools.wraps(method)
    def call(self: CacheIndex, *args: Any, **kwargs: Any) -> Any:
        self._list_deferred()
        return method(self, *args, **kwargs)

    return cast(Method, call)


@_naming_failures
class CacheIndex:
    """Blob ids are given and returned as hex text, and stored as their raw bytes."""

    def __init__(self, path: Path, records: TreeRecords | None = None) -> None:
        """``records``: the folders' records, by default those of the cache ``path`` is in."""
        self.path = path
        self._records = records or TreeRecords(path.parent / "records")
        try:
            self._db = sqlitedb.connect(path)
            for statement in _SCHEMA:
                self._db.execute(statement)
            index_migration.migrate(self._db)
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

    @_every_row_listed
    def add_blobs(self, blobs: Iterable[tuple[str, int]]) -> None:
        """Account for blobs (id, size), marked as used now; a recorded stat stays."""
        now = _now()
        self._write(
            "INSERT INTO cached_blobs (id, size, used) VALUES (?, ?, ?) ON CONFLICT (id) "
            "DO UPDATE SET size = excluded.size, used = excluded.used",
            [(fromhex(b), size, now) for b, size in blobs],
        )

    def add_tree(
        self,
        key: str,
        copied: int,
        ids: Iterable[bytes],
        blobs: Iterable[BlobRow],
        homes: Iterable[bytes] = (),
    ) -> None:
        """Record a tree and the blobs it links to, which eviction must keep: ``ids``, pieces
        holding their 32-byte raw ids end to end (repeats allowed), and ``blobs``, each once in
        id order (raw id, size, stat or None; see :meth:`_write`), adding those the index
        lacks (those the pull that built the tree fetched), marking all as used now and
        recording each stat given (that of the file the tree linked last: a link moves the
        blob's ctime). Streamed: no list of a million rows is made here to sort them.
        ``homes``: pieces as ``ids``, in id order, of the blobs whose file the tree build
        wrote into the folder itself, their home from now on (see ``blob_homes``)."""
        now = _now()
        with sqlitedb.transaction(self._db) as db:
            # (a folder's use to the fraction: folders are few)
            folder = db.execute(_ADD_FOLDER, (key, copied, time.time())).fetchone()[0]
            db.execute(_NOT_DEFERRED, (folder,))
            # The folder's rows cut from ``ids`` by SQLite itself: a row bound from Python
            # cost twice as much CPU (0.37 s against 0.16 s for 200,000).
            db.executemany(_ADD_LINKS, ((len(piece) // _RAW, piece, folder) for piece in ids))
            db.executemany(_ADD_HOMES, ((len(piece) // _RAW, piece, folder) for piece in homes))
            db.executemany(  # one pass: new blobs are added, known ones marked as used
                f"INSERT INTO cached_blobs VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) "
                f"DO UPDATE SET used = excluded.used, {_KEEP_STAT}",
                ((raw, size, now, *(stat or _NO_STAT)) for raw, size, stat in blobs),
            )
        self._empty_log()

    def add_home_folder(self, key: str, count: int, size: int) -> None:
        """Record folder ``key``, whose build wrote each of its ``count`` blobs (``size``
        bytes in all) into it, once: their home. Their rows wait for the first reader that
        needs them (see ``deferred_folders``)."""
        with sqlitedb.transaction(self._db) as db:
            folder = db.execute(_ADD_FOLDER, (key, 0, time.time())).fetchone()[0]
            db.execute(
                "INSERT INTO deferred_folders VALUES (?, ?, ?) ON CONFLICT (folder) "
                "DO UPDATE SET blobs = excluded.blobs, bytes = excluded.bytes",
                (folder, count, size),
            )

    def _list_deferred(self) -> None:
        """Write the rows of the blobs of each folder whose rows were deferred, from its
        record (see ``deferred_folders``). A folder whose record is gone or damaged gets none:
        its files are checked the long way, as any such folder's. A full disk fails the
        reader, as any write of the index does: fetching the blobs again would need more."""
        pending = self._db.execute(
            "SELECT d.folder, f.key FROM deferred_folders AS d "
            "LEFT JOIN folders AS f ON f.id = d.folder"
        ).fetchall()
        for folder, key in pending:
            columns = None if key is None else self._records.columns(key)
            with sqlitedb.transaction(self._db) as db:
                if db.execute(_NOT_DEFERRED + " RETURNING folder", (folder,)).fetchone() is None:
                    continue  # listed by another process meanwhile
                if columns is not None:
                    _list_rows(db, folder, *columns)

    def _empty_log(self) -> None:
        """Give back the write-ahead log's bytes, if no other process reads the index now.
        Left to SQLite, the log keeps the size of the largest write until the next one, past
        the end of the process: after a cold get as many bytes as the index itself (24 MB at
        200,000 files). Its pages are in the index already (SQLite copies them back as the
        write ends), so this costs milliseconds."""
        with sqlitedb.brief_wait(self._db, 0), contextlib.suppress(sqlite3.OperationalError):
            self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()

    def touch_tree(self, key: str) -> None:
        """Mark folder ``key`` as used now, if the disk has room: only eviction's order."""
        with contextlib.suppress(sqlite3.OperationalError):
            self._db.execute("UPDATE folders SET used = ? WHERE key = ?", (time.time(), key))

    def usage(self) -> int:
        blobs = self._db.execute("SELECT COALESCE(SUM(size), 0) FROM cached_blobs").fetchone()
        trees = self._db.execute("SELECT COALESCE(SUM(copied), 0) FROM folders").fetchone()
        return int(blobs[0]) + int(trees[0]) + self._deferred()[1]

    def _deferred(self) -> tuple[int, int]:
        """The blobs and bytes of the folders whose rows are deferred."""
        count, size = self._db.execute(
            "SELECT COALESCE(SUM(blobs), 0), COALESCE(SUM(bytes), 0) FROM deferred_folders "
            "WHERE folder IN (SELECT id FROM folders)"
        ).fetchone()
        return int(count), int(size)

    def blob_totals(self) -> tuple[int, int]:
        """How many blobs the cache holds, and their bytes."""
        count, size = self._db.execute(
            "SELECT COUNT(*), COALESCE(SUM(size), 0) FROM cached_blobs"
        ).fetchone()
        more, bytes_more = self._deferred()
        return int(count) + more, int(size) + bytes_more

    def trees(self) -> list[tuple[str, float]]:
        """Every materialised folder (key, last use), most recently used first."""
        rows = self._db.execute("SELECT key, used FROM folders ORDER BY used DESC").fetchall()
        return [(str(key), float(used)) for key, used in rows]

    def trees_by_age(self) -> list[str]:
        return [row[0] for row in self._db.execute("SELECT key FROM folders ORDER BY used")]

    def tree_copied_bytes(self, key: str) -> int:
        row = self._db.execute("SELECT copied FROM folders WHERE key = ?", (key,)).fetchone()
        return int(row[0]) if row else 0

    def drop_tree(self, key: str) -> int:
        """Forget folder ``key``, whose files are gone: one pass over the folders' blob rows
        (keyed by blob), far less than removing the folder's files costs. Returns the bytes of
        the blobs whose home it was and no other folder links (see :meth:`_settle_homes`)."""
        with sqlitedb.transaction(self._db) as db:
            (freed,) = db.execute(_DEFERRED_BYTES + " = ?", (key,)).fetchone()
            db.execute("DELETE FROM folders WHERE key = ?", (key,))
            db.execute(_DROP_UNLISTED_FOLDERS)
            db.execute(_DROP_UNLISTED_DEFERRED)
            return int(freed) + self._settle_homes(db)

    @staticmethod
    def _settle_homes(db: sqlite3.Connection) -> int:
        """Once folders are forgotten, with their blob rows: each blob whose home was one of
        them moves to another folder linking it (the same file: only its row changes), and
        one no folder links any more is forgotten, its bytes gone with its home. Returns
        those bytes. A blob another folder holds as a copy or a link of another file gets
        that folder as its home all the same: its recorded stat then differs from the file
        found there, which is checked, never trusted (see :meth:`BlobCache.missing`)."""
        db.execute(
            "UPDATE blob_homes SET folder = (SELECT min(folder) FROM folder_blobs "
            "WHERE blob = blob_homes.blob) WHERE folder NOT IN (SELECT id FROM folders)"
        )
        homeless = "SELECT blob FROM blob_homes WHERE folder IS NULL"
        (freed,) = db.execute(
            f"SELECT COALESCE(SUM(size), 0) FROM cached_blobs WHERE id IN ({homeless})"
        ).fetchone()
        db.execute(f"DELETE FROM cached_blobs WHERE id IN ({homeless})")
        db.execute("DELETE FROM blob_homes WHERE folder IS NULL")
        return int(freed)

    def unreferenced_blobs_by_age(self) -> list[tuple[str, int]]:
        rows = self._db.execute(
            f"SELECT id, size FROM cached_blobs WHERE {_UNLINKED} ORDER BY used"
        ).fetchall()
        return [(raw.hex(), int(size)) for raw, size in rows]

    def drop_blob(self, blob_id: str) -> None:
        with sqlitedb.transaction(self._db) as db:
            db.execute("DELETE FROM cached_blobs WHERE id = ?", (fromhex(blob_id),))
            db.execute(_NO_HOME, (fromhex(blob_id),))

    @_every_row_listed
    def record_stats(self, stats: Iterable[tuple[str, FileStat]], in_order: bool = False) -> None:
        """Remember the stat of each blob file as deltaset last saw it whole, if the disk has
        room: a file without a record is only checked the long way (hashed) when next used.
        ``in_order`` when ``stats`` come in id order already: streamed, not sorted here."""
        with contextlib.suppress(sqlite3.OperationalError):
            self._stat_rows(stats, in_order)

    @_every_row_listed
    def add_written(self, rows: Iterable[tuple[str, int, FileStat]]) -> None:
        """Account for blobs written whole (id, size, stat as written), marked as used now,
        in one write: a full disk leaves all of their rows or none, never a size without its
        stat (then the writer's log is kept for the next sweep, which adopts the files by the
        stats it lists). Their files are under ``blobs/``: a home they had is forgotten."""
        now = _now()
        found = sorted(((fromhex(b), size, now, *stat) for b, size, stat in rows), key=_FIRST)
        with sqlitedb.transaction(self._db) as db:
            db.executemany(
                "INSERT INTO cached_blobs VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) "
                "DO UPDATE SET size = excluded.size, used = excluded.used, ino = excluded.ino, "
                "file_size = excluded.file_size, mtime_ns = excluded.mtime_ns, "
                "ctime_ns = excluded.ctime_ns",
                found,
            )
            db.executemany(_NO_HOME, ((row[0],) for row in found))

    @_every_row_listed
    def add_files(self, stats: Iterable[tuple[str, FileStat]]) -> None:
        """Account for blob files under ``blobs/`` (id, stat), each with its stat and the
        size of its file (a home they had is forgotten)."""
        found = list(stats)
        self._stat_rows(found)
        self._write(_NO_HOME, ((fromhex(b),) for b, _ in found))

    def _stat_rows(self, stats: Iterable[tuple[str, FileStat]], in_order: bool = False) -> None:
        now = _now()
        self._write(
            "INSERT INTO cached_blobs VALUES (?1, ?3, ?6, ?2, ?3, ?4, ?5) ON CONFLICT (id) "
            "DO UPDATE SET ino = excluded.ino, file_size = excluded.file_size, "
            "mtime_ns = excluded.mtime_ns, ctime_ns = excluded.ctime_ns",
            ((fromhex(blob_id), *stat, now) for blob_id, stat in stats),
            in_order,
        )

    @_every_row_listed
    def forget_stats(self, blob_ids: Iterable[str]) -> None:
        """Forget the recorded stat, and the home, of each of ``blob_ids`` (files removed)."""
        ids = sorted(fromhex(b) for b in blob_ids)
        with sqlitedb.transaction(self._db) as db:
            db.executemany(_FORGET_STAT, ((raw,) for raw in ids))
            db.executemany(_NO_HOME, ((raw,) for raw in ids))

    def stats(self, blob_ids: Iterable[str]) -> dict[str, FileStat]:
        """The recorded stat of each of ``blob_ids`` that has one."""
        return {b: stat for b, stat in self.known(blob_ids).items() if stat is not None}

    @_every_row_listed
    def known(self, blob_ids: Iterable[str]) -> dict[str, FileStat | None]:
        """Those of ``blob_ids`` the index accounts for, each with its recorded stat, or
        None when it has none: one lookup a blob."""
        ids = [fromhex(b) for b in blob_ids]
        found: dict[str, FileStat | None] = {}
        for start in range(0, len(ids), _QUERY_BATCH):
            batch = ids[start : start + _QUERY_BATCH]
            rows = self._db.execute(
                f"SELECT id, {_STAT} FROM cached_blobs WHERE id IN ({','.join('?' * len(batch))})",
                batch,
            )
            found.update(
                (raw.hex(), None if ino is None else (ino, size, mtime, ctime))
                for raw, ino, size, mtime, ctime in rows
            )
        return found

    @_every_row_listed
    def locate(self, blob_ids: Iterable[str]) -> dict[str, tuple[FileStat | None, str | None]]:
        """:meth:`known`, with the key of each blob's home folder, or None when its file is
        under ``blobs/`` (or its home is a folder an older release forgot)."""
        ids = [fromhex(b) for b in blob_ids]
        found: dict[str, tuple[FileStat | None, str | None]] = {}
        for start in range(0, len(ids), _QUERY_BATCH):
            batch = ids[start : start + _QUERY_BATCH]
            rows = self._db.execute(
                f"SELECT c.id, {_STAT}, f.key FROM cached_blobs AS c "
                "LEFT JOIN blob_homes AS h ON h.blob = c.id LEFT JOIN folders AS f "
                f"ON f.id = h.folder WHERE c.id IN ({','.join('?' * len(batch))})",
                batch,
            )
            found.update(
                (raw.hex(), (None if ino is None else (ino, size, mtime, ctime), key))
                for raw, ino, size, mtime, ctime, key in rows
            )
        return found

    @_every_row_listed
    def homes(self, blob_ids: Iterable[str]) -> dict[str, str]:
        """The key of the home folder of each of ``blob_ids`` that has one."""
        ids = [fromhex(b) for b in blob_ids]
        found: dict[str, str] = {}
        for start in range(0, len(ids), _QUERY_BATCH):
            batch = ids[start : start + _QUERY_BATCH]
            rows = self._db.execute(
                "SELECT h.blob, f.key FROM blob_homes AS h JOIN folders AS f "
                f"ON f.id = h.folder WHERE h.blob IN ({','.join('?' * len(batch))})",
                batch,
            )
            found.update((raw.hex(), key) for raw, key in rows)
        return found

    def blobs_of(self, keys: Iterable[str]) -> set[str]:
        """The blobs the folders ``keys`` link to, but those of deferred folders (no file
        under ``blobs/`` is theirs: their home is the folder)."""
        found: set[str] = set()
        for key in keys:
            rows = self._db.execute(
                "SELECT blob FROM folder_blobs WHERE folder = "
                "(SELECT id FROM folders WHERE key = ?)",
                (key,),
            )
            found.update(row[0].hex() for row in rows)
        return found

    def forget(self, keys: Iterable[str], blob_ids: Iterable[str]) -> int:
        """Drop the folders ``keys`` and the blobs ``blob_ids``, whose files are gone, and
        every blob no folder left links to (what emptying the cache removed). Returns the
        bytes of the blobs whose only file went with their home (see :meth:`drop_tree`)."""
        gone = list(keys)
        with sqlitedb.transaction(self._db) as db:
            freed = sum(int(db.execute(_DEFERRED_BYTES + " = ?", (k,)).fetchone()[0]) for k in gone)
            db.executemany("DELETE FROM folders WHERE key = ?", ((key,) for key in gone))
            db.execute(_DROP_UNLISTED_FOLDERS)
            db.execute(_DROP_UNLISTED_DEFERRED)
            freed += self._settle_homes(db)
            db.executemany(_FORGET_STAT, ((fromhex(b),) for b in blob_ids))
            db.execute(f"DELETE FROM cached_blobs WHERE {_UNLINKED}")
            db.execute("DELETE FROM blob_homes WHERE blob NOT IN (SELECT id FROM cached_blobs)")
            return freed

    @_every_row_listed
    def trees_holding(self, blob_id: str) -> list[str]:
        rows = self._db.execute(
            "SELECT key FROM folders JOIN folder_blobs ON folder = folders.id WHERE blob = ?",
            (fromhex(blob_id),),
        )
        return [row[0] for row in rows]


BlobRow = tuple[bytes, int, FileStat | None]  # a blob a folder links: raw id, size, stat
_NO_STAT = (None, None, None, None)
_RAW = 32  # bytes of a raw blob id
_PIECE = 16_384  # ids cut by SQLite from one parameter
_KEEP_STAT = ", ".join(f"{c} = COALESCE(excluded.{c}, {c})" for c in _STAT.split(", "))
_FORGET_STAT = (
    "UPDATE cached_blobs SET ino = NULL, file_size = NULL, mtime_ns = NULL, ctime_ns = NULL "
    "WHERE id = ?"
)
_UNLINKED = "NOT EXISTS (SELECT 1 FROM folder_blobs WHERE blob = cached_blobs.id)"
_NO_HOME = "DELETE FROM blob_homes WHERE blob = ?"
# ?1 numbers 0 to ?1 - 1, for rows cut by SQLite from ?2, raw ids end to end.
_CUT = (
    "WITH RECURSIVE n(i) AS (SELECT 0 WHERE ?1 > 0 UNION ALL SELECT i + 1 FROM n WHERE i + 1 < ?1) "
)
# The rows of a folder's homes cut from pieces of raw ids by SQLite, as its blob rows are
# (``WHERE true``: SQLite's parser needs it before an upsert of a SELECT).
_ADD_HOMES = _CUT + (
    "INSERT INTO blob_homes SELECT substr(?2, i * 32 + 1, 32), ?3 FROM n WHERE true "
    "ON CONFLICT (blob) DO UPDATE SET folder = excluded.folder"
)
_FIRST = itemgetter(0)
_ADD_LINKS = _CUT + (
    "INSERT OR IGNORE INTO folder_blobs SELECT substr(?2, i * 32 + 1, 32), ?3 FROM n"
)
# The homes of a deferred folder's blobs, but of those the index lists already.
_ADD_DEFERRED_HOMES = _CUT + (
    "INSERT INTO blob_homes SELECT substr(?2, i * 32 + 1, 32), ?3 FROM n WHERE NOT EXISTS "
    "(SELECT 1 FROM cached_blobs WHERE id = substr(?2, i * 32 + 1, 32)) "
    "ON CONFLICT (blob) DO NOTHING"
)
_ADD_FOLDER = (
    "INSERT INTO folders (key, copied, used) VALUES (?, ?, ?) ON CONFLICT (key) "
    "DO UPDATE SET copied = excluded.copied, used = excluded.used RETURNING id"
)
_NOT_DEFERRED = "DELETE FROM deferred_folders WHERE folder = ?"
_DEFERRED_BYTES = (
    "SELECT COALESCE(SUM(d.bytes), 0) FROM deferred_folders AS d "
    "JOIN folders AS f ON f.id = d.folder WHERE f.key"
)
_DROP_UNLISTED_DEFERRED = (
    "DELETE FROM deferred_folders WHERE folder NOT IN (SELECT id FROM folders)"
)
_DROP_UNLISTED_FOLDERS = "DELETE FROM folder_blobs WHERE folder NOT IN (SELECT id FROM folders)"
fromhex = bytes.fromhex


def _list_rows(db: sqlite3.Connection, folder: int, ids: bytes, stats: array[int]) -> None:
    """The rows of a deferred folder's blobs (``ids`` and ``stats``: its record's columns),
    as :meth:`CacheIndex.add_tree` writes a folder's, in id order; each blob's size is that
    of its file there. A blob the index lists already keeps its row and home."""
    cut = [ids[at : at + _RAW] for at in range(0, len(ids), _RAW)]
    order = sorted(range(len(cut)), key=cut.__getitem__)

    def pieces() -> Iterator[tuple[int, bytes, int]]:
        for start in range(0, len(order), _PIECE):
            piece = b"".join(map(cut.__getitem__, order[start : start + _PIECE]))
            yield len(piece) // _RAW, piece, folder

    db.executemany(_ADD_DEFERRED_HOMES, pieces())
    inodes, file_sizes, mtimes, ctimes = stat_columns(stats, order)
    file_sizes, sizes = itertools.tee(file_sizes)  # taken in step: one value held at a time
    in_order = map(cut.__getitem__, order)
    rows = zip(in_order, sizes, itertools.repeat(_now()), inodes, file_sizes, mtimes, ctimes)
    db.executemany(
        "INSERT INTO cached_blobs VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING", rows
    )
    db.executemany(_ADD_LINKS, pieces())


def _now() -> int:
    """The time of a blob's use, in whole seconds: stored in 4 to 6 bytes where a fraction
    takes 8."""
    return int(time.time())
