"""The embedded catalog: one SQLite file in WAL mode, safe for many processes at once."""

from __future__ import annotations

import contextlib
import functools
import inspect
import itertools
import json
import logging
import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from deltaset import sqlitedb
from deltaset.catalog.base import DraftChange, NewVersion, Query, StagedFile, Use
from deltaset.catalog.migrations import SCHEMA_VERSION, migrate
from deltaset.catalog.rows import (
    USE_COLUMNS,
    VERSION_COLUMNS,
    edited_tags,
    in_path_order,
    new_record,
    number_taken,
    record_columns,
    record_of,
    renaming_clash,
    sources_of,
    stats_json,
    use_of,
    use_row,
)
from deltaset.core import version as semver
from deltaset.core.name_pattern import name_matcher
from deltaset.core.names import MARKER, from_text, to_text
from deltaset.core.records import VersionRecord, check_version_id
from deltaset.errors import CatalogError, NotFoundError, StateError

_BATCH = 5000
Row = TypeVar("Row")  # a staged row as one of the readers makes it
_PARAMETERS = 900  # bound values per query, under SQLite's limit
DROP_FROM = 10_000  # staged rows of a closed draft, alone in the table, dropped with it
# Paths from MARKER up to this one start with MARKER: a range the primary key's index finds.
_PAST_MARKER = MARKER[:-1] + chr(ord(MARKER[-1]) + 1)
# No key: rows are copied in the order they came, a later one replacing an earlier one of the
# same path, so no index need be kept up to date as they come. No version id either: one
# stage writes one draft's rows, and its id is given once to the copy (32 bytes less a row
# written and read back, a million times over for a folder of a million files).
_STAGING_TABLE = """
CREATE TEMP TABLE IF NOT EXISTS staging (
    path TEXT, removed INTEGER, size INTEGER, blob_id TEXT, source TEXT, uploaded INTEGER,
    link TEXT, etag TEXT
)
"""
# The local files of one draft's staged rows by content, made when an upload first asks
# (see SqliteCatalog.staged_sources).
_SOURCES_TABLE = """
CREATE TEMP TABLE sources (blob_id TEXT PRIMARY KEY, source TEXT NOT NULL) WITHOUT ROWID
"""
_COLUMNS = ", ".join(VERSION_COLUMNS)
_USE_COLUMNS = ", ".join(USE_COLUMNS)
# A zero-byte catalog younger than this is one another process is creating (a first start).
BEING_CREATED_S = 10.0

log = logging.getLogger("deltaset")


def damage_error(path: Path, exc: sqlite3.Error) -> CatalogError:
    return CatalogError(
        f"The catalog {path} is damaged ({exc}); move it aside and run 'deltaset "
        "rebuild-catalog' to recover the final versions from their storage."
    )


def _emptied(path: Path) -> bool:
    """Whether ``path`` is a zero-byte file older than a first start takes to fill it: a
    catalog emptied (by a crash, a full disk, a mistake), which SQLite would open as new."""
    try:
        info = path.stat()
    except OSError:
        return False
    return info.st_size == 0 and time.time() - info.st_mtime > BEING_CREATED_S


def _naming_damage(cls: type[SqliteCatalog]) -> type[SqliteCatalog]:
    """Make every public method of the catalog say in one sentence that its file is damaged,
    and what to do, whenever SQLite finds damaged pages (on any query, any time)."""
    for name, method in list(vars(cls).items()):
        if not name.startswith("_") and inspect.isfunction(method):
            wrap = _checked_stream if inspect.isgeneratorfunction(method) else _checked
            setattr(cls, name, functools.wraps(method)(wrap(method)))
    return cls


def _checked(method: Callable[..., Any]) -> Callable[..., Any]:
    def call(self: SqliteCatalog, *args: Any, **kwargs: Any) -> Any:
        try:
            return method(self, *args, **kwargs)
        except sqlite3.DatabaseError as exc:
            if sqlitedb.is_damaged(exc):
                raise damage_error(self.path, exc) from exc
            raise

    return call


def _checked_stream(method: Callable[..., Iterator[Any]]) -> Callable[..., Iterator[Any]]:
    def call(self: SqliteCatalog, *args: Any, **kwargs: Any) -> Iterator[Any]:
        try:
            yield from method(self, *args, **kwargs)
        except sqlite3.DatabaseError as exc:
            if sqlitedb.is_damaged(exc):
                raise damage_error(self.path, exc) from exc
            raise

    return call


@_naming_damage
class SqliteCatalog:
    """``on_lookup`` is called before each search and listing of children, and with
    ``True`` when :meth:`get` finds no such version: a hook that may import versions written
    elsewhere (see ``deltaset.engine.discovery``) before the catalog answers."""

    def __init__(self, path: Path, on_lookup: Callable[[bool], None] | None = None) -> None:
        self.path = path
        self.on_lookup = on_lookup
        self._sources_of: tuple[str, int] | None = None  # see _know_sources
        if _emptied(path):
            log.warning(
                "the catalog %s was an empty file (0 bytes), so it starts with no versions; if "
                "it held some, run 'deltaset rebuild-catalog' to recover the final versions "
                "from their storage",
                path,
            )
        try:
            self._db = sqlitedb.connect(path)
            self._db.execute("PRAGMA foreign_keys=ON")
            migrate(self._db)
            _drop_blob_index(self._db)
        except sqlite3.Error as exc:
            if sqlitedb.is_damaged(exc):
                raise damage_error(path, exc) from exc
            raise sqlitedb.open_error(path, "catalog", exc) from exc
        found = self._db.execute("PRAGMA user_version").fetchone()[0]
        if found > SCHEMA_VERSION:
            self._db.close()
            raise CatalogError(
                f"The catalog {path} was written by a newer deltaset (schema {found}); upgrade."
            )

    def close(self) -> None:
        self._db.close()

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """A write transaction that takes the database lock up front (no upgrade deadlocks)."""
        self._sources_of = None  # whatever it writes, the staged rows may change
        try:
            with sqlitedb.transaction(self._db) as db:
                yield db
        except sqlite3.OperationalError as exc:
            if "locked" in str(exc) or "busy" in str(exc):
                raise CatalogError(f"The catalog {self.path} is busy or locked: {exc}.") from exc
            raise sqlitedb.open_error(self.path, "catalog", exc) from exc

    def create_version(self, new: NewVersion) -> VersionRecord:
        with self._write() as db:
            taken = [
                row[0]
                for row in db.execute(
                    "SELECT version FROM versions WHERE project = ? AND name = ?",
                    (new.project, new.name),
                )
            ]
            number = new.version or semver.bump(taken)
            if number in taken:
                raise number_taken(new.project, new.name, number)
            record = new_record(new, number)
            self._insert(db, record)
        return record

    @staticmethod
    def _insert(db: sqlite3.Connection, record: VersionRecord) -> None:
        db.execute(
            f"INSERT INTO versions ({_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)", _row(record)
        )
        db.executemany(
            "INSERT INTO lineage (child, parent, position) VALUES (?, ?, ?)",
            [(record.id, parent, i) for i, parent in enumerate(record.parents)],
        )

    def get(self, version_id: str) -> VersionRecord:
        check_version_id(version_id)
        row = self._row_of(version_id)
        if row is None and self.on_lookup is not None:
            self.on_lookup(True)
            row = self._row_of(version_id)
        if row is None:
            raise NotFoundError(f"No dataset version has the id {version_id!r}.")
        return _record(row)

    def _row_of(self, version_id: str) -> Sequence[Any] | None:
        row: Sequence[Any] | None = self._db.execute(
            f"SELECT {_COLUMNS} FROM versions WHERE id = ?", (version_id,)
        ).fetchone()
        return row

    def storages(self) -> list[str]:
        rows = self._db.execute("SELECT DISTINCT storage FROM versions ORDER BY storage")
        return [str(row[0]) for row in rows]

    def unknown_ids(self, version_ids: Iterable[str]) -> list[str]:
        """Those of ``version_ids`` that no version of this catalog has, in their order."""
        wanted = list(dict.fromkeys(version_ids))
        known: set[str] = set()
        for start in range(0, len(wanted), _PARAMETERS):
            batch = wanted[start : start + _PARAMETERS]
            rows = self._db.execute(
                f"SELECT id FROM versions WHERE id IN ({','.join('?' * len(batch))})", batch
            )
            known.update(str(row[0]) for row in rows)
        return [i for i in wanted if i not in known]

    def search(self, query: Query) -> list[VersionRecord]:
        if self.on_lookup is not None:
            self.on_lookup(False)
        clauses, args = _where(query)
        sql = f"SELECT {_COLUMNS} FROM versions"
        if clauses:
            sql += " WHERE " + " AND ".join(clauses)
        records = [_record(row) for row in self._db.execute(sql + " ORDER BY created, id", args)]
        if query.tags:
            records = [r for r in records if set(query.tags) & set(r.tags)]
        if query.partial_name:
            matches = name_matcher(query.partial_name)
            records = [r for r in records if matches(r.name)]
        return records

    def children(self, version_id: str) -> list[VersionRecord]:
        if self.on_lookup is not None:
            self.on_lookup(False)
        rows = self._db.execute(
            f"SELECT {_COLUMNS} FROM versions WHERE id IN "
            "(SELECT child FROM lineage WHERE parent = ?)",
            (version_id,),
        )
        return [_record(row) for row in rows]

    def update(self, record: VersionRecord) -> None:
        try:
            with self._write() as db:
                db.execute(
                    "UPDATE versions SET state=?, version=?, tags=?, description=?, stats=? "
                    "WHERE id=?",
                    (
                        str(record.state),
                        record.version,
                        json.dumps(list(record.tags)),
                        record.description,
                        stats_json(record.stats),
                        record.id,
                    ),
                )
        except sqlite3.IntegrityError as exc:  # another draft took the number meanwhile
            raise number_taken(record.project, record.name, record.version) from exc

    def update_storage(self, version_id: str, storage: str) -> None:
        with self._write() as db:
            db.execute("UPDATE versions SET storage = ? WHERE id = ?", (storage, version_id))

    def edit_tags(
        self, version_id: str, add: Sequence[str] = (), remove: Sequence[str] = ()
    ) -> tuple[str, ...]:
        check_version_id(version_id)
        with self._write() as db:  # the write lock is taken first: no edit in between
            row = db.execute("SELECT tags FROM versions WHERE id = ?", (version_id,)).fetchone()
            if row is None:
                raise NotFoundError(f"No dataset version has the id {version_id!r}.")
            tags = edited_tags(json.loads(row[0]), add, remove)
            db.execute(
                "UPDATE versions SET tags = ? WHERE id = ?", (json.dumps(list(tags)), version_id)
            )
        return tags

    def rename_dataset(self, project: str, name: str, new_project: str, new_name: str) -> int:
        try:
            with self._write() as db:
                return db.execute(
                    "UPDATE versions SET project = ?, name = ? WHERE project = ? AND name = ?",
                    (new_project, new_name, project, name),
                ).rowcount
        except sqlite3.IntegrityError as exc:
            raise renaming_clash(new_project, new_name) from exc

    def finalize(self, record: VersionRecord, manifest: bytes) -> None:
        with self._write() as db:
            db.execute(
                "INSERT OR REPLACE INTO manifests (version_id, data) VALUES (?, ?)",
                (record.id, manifest),
            )
            db.execute(
                "UPDATE versions SET state=?, stats=? WHERE id=?",
                (str(record.state), stats_json(record.stats), record.id),
            )
            _drop_staged(db, record.id)

    def import_final(self, record: VersionRecord, manifest: bytes) -> bool:
        with self._write() as db:
            if db.execute("SELECT 1 FROM versions WHERE id = ?", (record.id,)).fetchone():
                return False
            try:
                self._insert(db, record)
            except sqlite3.IntegrityError as exc:  # the number went to a version made since
                raise StateError(
                    f"Version {record.version} of {record.project}/{record.name} is already "
                    f"taken by another version than {record.id}; delete that one and rebuild."
                ) from exc
            db.execute(
                "INSERT INTO manifests (version_id, data) VALUES (?, ?)", (record.id, manifest)
            )
        return True

    def manifest(self, version_id: str) -> bytes | None:
        row = self._db.execute(
            "SELECT data FROM manifests WHERE version_id = ?", (version_id,)
        ).fetchone()
        return bytes(row[0]) if row else None

    def delete(self, version_id: str) -> None:
        with self._write() as db:
            db.execute("DELETE FROM versions WHERE id = ?", (version_id,))

    def stage(self, version_id: str, changes: Iterable[DraftChange]) -> None:
        # Producing the changes may take long (hashing a large folder) and they may not fit in
        # memory, so they go to a connection-private temporary table first; the catalog's write
        # lock is held only to copy them over, all at once or not at all.
        self._db.execute(_STAGING_TABLE)
        self._db.execute("DELETE FROM temp.staging")
        rows = (
            (
                to_text(c.path),
                int(c.removed),
                c.size,
                c.blob_id,
                to_text(c.source),
                int(c.uploaded),
                c.link,
                c.etag,
            )
            for c in changes
        )
        try:
            while batch := list(itertools.islice(rows, _BATCH)):
                # One transaction a batch, not one a row; on the private temporary table
                # only, so no lock of the catalog is taken.
                self._db.execute("BEGIN")
                try:
                    self._db.executemany(
                        "INSERT INTO temp.staging VALUES (?, ?, ?, ?, ?, ?, ?, ?)", batch
                    )
                except BaseException:
                    self._db.execute("ROLLBACK")
                    raise
                self._db.execute("COMMIT")
            with self._write() as db:
                db.execute(
                    "INSERT OR REPLACE INTO staged "
                    "(version_id, path, removed, size, blob_id, source, uploaded, link, etag) "
                    "SELECT ?, * FROM temp.staging ORDER BY rowid",
                    (version_id,),
                )
        finally:
            self._db.execute("DELETE FROM temp.staging")

    def unstage(self, version_id: str, paths: Iterable[str]) -> None:
        with self._write() as db:
            db.executemany(
                "DELETE FROM staged WHERE version_id = ? AND path = ?",
                [(version_id, to_text(p)) for p in paths],
            )

    def staged(self, version_id: str) -> Iterator[DraftChange]:
        columns = "path, removed, size, blob_id, source, uploaded, link, etag"
        yield from self._in_path_order(version_id, columns, _draft_changes, _path_of_change)

    def staged_files(self, version_id: str) -> Iterator[StagedFile]:
        # Only the columns a view takes, as the rows come: a close reads every staged row.
        columns = "path, size, blob_id, link, etag, removed"
        yield from self._in_path_order(version_id, columns, _staged_files, _first)

    def _in_path_order(
        self,
        version_id: str,
        columns: str,
        read: Callable[[Iterator[list[Any]]], Iterator[Row]],
        path_of: Callable[[Row], str],
    ) -> Iterator[Row]:
        """The draft's staged rows of ``columns``, each made by ``read``, in path order: the
        few escaped paths, which sort by their text, come from a query of their own and are
        merged in (see :func:`in_path_order`)."""
        select = f"SELECT {columns} FROM staged WHERE version_id = ?"
        bounds = (version_id, MARKER, _PAST_MARKER)
        escaped = read(self._batches(f"{select} AND path >= ? AND path < ?", bounds))
        every = read(self._batches(f"{select} ORDER BY path", (version_id,)))
        return in_path_order(escaped, every, path_of)

    def _batches(self, query: str, parameters: tuple[str, ...]) -> Iterator[list[Any]]:
        """The rows of ``query`` a batch at a time (a generator a row costs a close of a
        million files a few hundredths of a second more)."""
        cursor = self._db.execute(query, parameters)
        while batch := cursor.fetchmany(_BATCH):
            yield batch

    def staged_sources(self, version_id: str, blob_ids: Iterable[str]) -> dict[str, str]:
        self._know_sources(version_id)
        found: dict[str, str] = {}
        wanted = iter(blob_ids)
        while batch := list(itertools.islice(wanted, _PARAMETERS)):
            rows = self._db.execute(
                f"SELECT blob_id, source FROM temp.sources WHERE blob_id IN "
                f"({','.join('?' * len(batch))})",
                batch,
            )
            found.update(rows)
        return sources_of(found)

    def _know_sources(self, version_id: str) -> None:
        """Fill the temporary table of the draft's sources by content, unless it holds them as
        they are: an index of the staged rows by content cost every add and close of a large
        draft more than half of its catalog work (random inserts, then deletes), for the
        uploads alone that read files from their sources, which are asked here once each.
        Built again after any write by this connection or, as SQLite's data version tells,
        by another."""
        seen = self._db.execute("PRAGMA data_version").fetchone()[0]
        if self._sources_of == (version_id, seen):
            return
        self._db.execute("DROP TABLE IF EXISTS temp.sources")
        self._db.execute(_SOURCES_TABLE)
        self._db.execute(
            "INSERT OR REPLACE INTO temp.sources SELECT blob_id, source FROM staged "
            "WHERE version_id = ? AND removed = 0 ORDER BY blob_id",
            (version_id,),
        )
        self._sources_of = (version_id, seen)

    def put_chunk_lists(self, lists: Mapping[str, Sequence[str]]) -> None:
        with self._write() as db:
            db.executemany(
                "INSERT OR REPLACE INTO chunk_lists (blob_id, chunks) VALUES (?, ?)",
                [(b, b"".join(bytes.fromhex(c) for c in chunks)) for b, chunks in lists.items()],
            )

    def chunk_lists(self, blob_ids: Iterable[str]) -> dict[str, tuple[str, ...]]:
        found = {}
        for blob_id in blob_ids:
            row = self._db.execute(
                "SELECT chunks FROM chunk_lists WHERE blob_id = ?", (blob_id,)
            ).fetchone()
            if row:
                raw = bytes(row[0])
                found[blob_id] = tuple(raw[i : i + 32].hex() for i in range(0, len(raw), 32))
        return found

    def set_metadata(self, version_id: str, name: str, kind: str, data: bytes) -> None:
        with self._write() as db:
            db.execute(
                "INSERT OR REPLACE INTO metadata (version_id, name, kind, data) VALUES (?,?,?,?)",
                (version_id, name, kind, data),
            )

    def get_metadata(self, version_id: str, name: str) -> tuple[str, bytes] | None:
        row = self._db.execute(
            "SELECT kind, data FROM metadata WHERE version_id = ? AND name = ?", (version_id, name)
        ).fetchone()
        return (str(row[0]), bytes(row[1])) if row else None

    def metadata_names(self, version_id: str) -> list[str]:
        rows = self._db.execute(
            "SELECT name FROM metadata WHERE version_id = ? ORDER BY name", (version_id,)
        )
        return [str(row[0]) for row in rows]

    def mark_uploaded(self, version_id: str) -> None:
        with self._write() as db:
            db.execute(
                "UPDATE staged SET uploaded = 1 WHERE version_id = ? AND removed = 0",
                (version_id,),
            )

    def add_uses(self, uses: Sequence[Use]) -> None:
        if not uses:
            return
        marks = ",".join("?" * len(USE_COLUMNS))
        try:
            with self._write() as db:
                db.executemany(
                    f"INSERT INTO uses ({_USE_COLUMNS}) VALUES ({marks})",
                    [use_row(u) for u in uses],
                )
        except sqlite3.IntegrityError as exc:
            raise NotFoundError("A use names a version this catalog does not have.") from exc

    def uses(self, version_id: str | None = None, run: str | None = None) -> list[Use]:
        clauses, args = [], []
        if version_id is not None:
            clauses.append("version_id = ?")
            args.append(version_id)
        if run is not None:
            clauses.append("(run_id = ? OR run_name = ?)")
            args += [run, run]
        where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
        rows = self._db.execute(
            f"SELECT {_USE_COLUMNS} FROM uses{where} ORDER BY used, rowid", args
        )
        return [use_of(dict(zip(USE_COLUMNS, row, strict=True))) for row in rows]


def _where(query: Query) -> tuple[list[str], list[Any]]:
    clauses: list[str] = []
    args: list[Any] = []
    if query.project is not None:
        if query.recursive_project:
            # substr, not LIKE: LIKE ignores case, and project names are case-sensitive.
            clauses.append("(project = ? OR substr(project, 1, ?) = ?)")
            args += [query.project, len(query.project) + 1, query.project + "/"]
        else:
            clauses.append("project = ?")
            args.append(query.project)
    for column, value in (("name", query.name), ("version", query.version)):
        if value is not None:
            clauses.append(f"{column} = ?")
            args.append(value)
    if query.ids:
        clauses.append(f"id IN ({','.join('?' * len(query.ids))})")
        args += list(query.ids)
    if query.id_prefix is not None:
        clauses.append("substr(id, 1, ?) = ?")
        args += [len(query.id_prefix), query.id_prefix]
    if query.states:
        clauses.append(f"state IN ({','.join('?' * len(query.states))})")
        args += [str(s) for s in query.states]
    return clauses, args


def _row(record: VersionRecord) -> tuple[Any, ...]:
    columns = record_columns(record)
    return tuple(columns[name] for name in VERSION_COLUMNS)


def _record(row: Sequence[Any]) -> VersionRecord:
    return record_of(dict(zip(VERSION_COLUMNS, row, strict=True)))


def _first(row: StagedFile) -> str:
    return row[0]


def _path_of_change(change: DraftChange) -> str:
    return change.path


def _staged_files(batches: Iterator[list[Any]]) -> Iterator[StagedFile]:
    for batch in batches:
        for row in batch:
            path = row[0]
            yield (from_text(path), *row[1:]) if path.startswith(MARKER) else row


def _draft_changes(batches: Iterator[list[Any]]) -> Iterator[DraftChange]:
    for batch in batches:
        for p, r, s, b, src, u, link, etag in batch:
            # from_text only for the rare escaped name: this runs for every staged file.
            path = from_text(p) if p.startswith(MARKER) else p
            source = from_text(src) if src.startswith(MARKER) else src
            yield DraftChange(path, bool(r), s, b, source, bool(u), link, etag)


def _drop_staged(db: sqlite3.Connection, version_id: str) -> None:
    """Delete the staged rows of ``version_id``. When they are many and no other draft has
    any, the table is dropped and made again as it was (the database's own text of it): its
    pages are freed at once, in half the time that deleting the rows one by one from the
    table and its index took (at a million files, a tenth of a close). Either way, part of
    the caller's transaction."""
    many = db.execute(
        "SELECT 1 FROM staged WHERE version_id = ? LIMIT 1 OFFSET ?", (version_id, DROP_FROM)
    ).fetchone()
    others = (
        many
        and db.execute(
            "SELECT 1 FROM staged WHERE version_id < ? OR version_id > ? LIMIT 1",
            (version_id, version_id),
        ).fetchone()
    )
    if not many or others:
        db.execute("DELETE FROM staged WHERE version_id = ?", (version_id,))
        return
    made = db.execute(
        "SELECT sql FROM sqlite_master WHERE tbl_name = 'staged' AND sql IS NOT NULL "
        "ORDER BY type = 'index'"  # the table first
    ).fetchall()
    db.execute("DROP TABLE staged")
    for (sql,) in made:
        db.execute(sql)


def _drop_blob_index(db: sqlite3.Connection) -> None:
    """Drop the index of staged rows by content that schema 2 made (see
    :meth:`SqliteCatalog._know_sources`). Not a migration: the schema stays what earlier
    releases read, which find the rows they look for without it."""
    found = db.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'index' AND name = 'staged_by_blob'"
    ).fetchone()
    if found:
        with contextlib.suppress(sqlite3.OperationalError):  # busy, or read only: kept a while
            db.execute("DROP INDEX IF EXISTS staged_by_blob")
