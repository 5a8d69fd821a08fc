"""The shared catalog: the Catalog protocol on any database SQLAlchemy speaks.

The deltaset server keeps its catalog here: SQLite by default, PostgreSQL for a team and for
several server replicas. Every write is one transaction; version numbers are unique by a
database constraint, so two clients creating versions of one dataset at once get two numbers.
The schema is created and upgraded in place by Alembic migrations (``sql_migrations``).
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection, Engine

from deltaset.catalog.base import DraftChange, NewVersion, Query, StagedFile, Use, staged_file
from deltaset.catalog.rows import (
    USE_COLUMNS,
    change_columns,
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
from deltaset.catalog.schema import (
    chunk_lists,
    lineage,
    manifests,
    metadata_values,
    staged,
    versions,
)
from deltaset.catalog.schema import staged_sources as sources_table
from deltaset.catalog.schema import uses as uses_table
from deltaset.core import version as semver
from deltaset.core.name_pattern import name_matcher
from deltaset.core.names import MARKER, from_text, to_text
from deltaset.core.records import VersionRecord, check_version_id
from deltaset.errors import CatalogError, InvalidInputError, NotFoundError, StateError, shown
from deltaset.extras import missing_extra

MIGRATIONS = Path(__file__).with_name("sql_migrations")
NUMBERING_ATTEMPTS = 20  # concurrent creators of one dataset each retry with the next number
_BATCH = 5000
_MIGRATION_LOCK = 4_711_006  # PostgreSQL advisory lock: one replica migrates at a time


class SqlCatalog:
    def __init__(self, url: str) -> None:
        self.url = url
        try:
            _make_sqlite_folder(url)
            self._engine: Engine = sa.create_engine(url, pool_pre_ping=True)
        except (sa.exc.SQLAlchemyError, ImportError, OSError) as exc:
            needed = missing_extra(exc) if isinstance(exc, ImportError) else None
            if needed is not None:  # the PostgreSQL driver
                raise needed from exc
            raise CatalogError(
                f"The catalog database {_safe(url)} cannot be used: {_cause(exc)}"
            ) from exc
        if self._engine.dialect.name == "sqlite":
            sa.event.listen(self._engine, "connect", _sqlite_pragmas)
            sa.event.listen(self._engine, "begin", _sqlite_begin_immediate)
        try:
            migrate(self._engine)
        except sa.exc.SQLAlchemyError as exc:
            self._engine.dispose()
            raise CatalogError(
                f"The catalog database {_safe(url)} cannot be used: {_cause(exc)}"
            ) from exc
        except BaseException:
            self._engine.dispose()
            raise

    @property
    def engine(self) -> Engine:
        """The database, for what the server keeps beside the catalog (its tokens)."""
        return self._engine

    def close(self) -> None:
        self._engine.dispose()

    @contextmanager
    def _write(self) -> Iterator[Connection]:
        try:
            with self._engine.begin() as db:
                yield db
        except sa.exc.OperationalError as exc:
            raise CatalogError(
                f"The catalog database {_safe(self.url)} failed: {_cause(exc)}"
            ) from exc

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        with self._engine.connect() as db:
            yield db

    # -- versions -----------------------------------------------------------------------------

    def create_version(self, new: NewVersion) -> VersionRecord:
        for _ in range(NUMBERING_ATTEMPTS):
            try:
                with self._write() as db:
                    taken = [
                        row[0]
                        for row in db.execute(
                            sa.select(versions.c.version).where(
                                versions.c.project == new.project, versions.c.name == new.name
                            )
                        )
                    ]
                    number = new.version or semver.bump(taken)
                    if number in taken:
                        raise number_taken(new.project, new.name, number)
                    record = new_record(new, number)
                    _insert(db, record)
                return record
            except sa.exc.IntegrityError as exc:
                if new.version:  # asked for a number another client took meanwhile
                    raise number_taken(new.project, new.name, new.version) from exc
                continue  # another client took the next number first: take the one after
        raise CatalogError(
            f"Could not number a new version of {new.project}/{new.name}: too many at once."
        )

    def get(self, version_id: str) -> VersionRecord:
        check_version_id(version_id)
        with self._read() as db:
            row = db.execute(sa.select(versions).where(versions.c.id == version_id)).first()
        if row is None:
            raise NotFoundError(f"No dataset version has the id {version_id!r}.")
        return record_of(row._mapping)

    def search(self, query: Query) -> list[VersionRecord]:
        statement = sa.select(versions).where(*_where(query))
        with self._read() as db:
            rows = db.execute(statement.order_by(versions.c.created, versions.c.id)).all()
        records = [record_of(row._mapping) for row in rows]
        if query.tags:
            records = [r for r in records if set(query.tags) & set(r.tags)]
        if query.partial_name:
            matches = name_matcher(query.partial_name)
            records = [r for r in records if matches(r.name)]
        return records

    def storages(self) -> list[str]:
        statement = sa.select(versions.c.storage).distinct().order_by(versions.c.storage)
        with self._read() as db:
            return [str(storage) for storage in db.execute(statement).scalars()]

    def children(self, version_id: str) -> list[VersionRecord]:
        inner = sa.select(lineage.c.child).where(lineage.c.parent == version_id)
        with self._read() as db:
            rows = db.execute(sa.select(versions).where(versions.c.id.in_(inner))).all()
        return [record_of(row._mapping) for row in rows]

    def update(self, record: VersionRecord) -> None:
        try:
            with self._write() as db:
                db.execute(
                    versions.update()
                    .where(versions.c.id == record.id)
                    .values(
                        state=str(record.state),
                        version=record.version,
                        tags=json.dumps(list(record.tags)),
                        description=record.description,
                        stats=stats_json(record.stats),
                    )
                )
        except sa.exc.IntegrityError as exc:  # another draft took the number meanwhile
            raise number_taken(record.project, record.name, record.version) from exc

    def update_storage(self, version_id: str, storage: str) -> None:
        with self._write() as db:
            db.execute(versions.update().where(versions.c.id == version_id).values(storage=storage))

    def edit_tags(
        self, version_id: str, add: Sequence[str] = (), remove: Sequence[str] = ()
    ) -> tuple[str, ...]:
        check_version_id(version_id)
        with self._write() as db:
            # The row stays locked until the end of the transaction: two edits never
            # interleave, so neither is lost.
            row = db.execute(
                sa.select(versions.c.tags).where(versions.c.id == version_id).with_for_update()
            ).first()
            if row is None:
                raise NotFoundError(f"No dataset version has the id {version_id!r}.")
            tags = edited_tags(json.loads(row.tags), add, remove)
            db.execute(
                versions.update()
                .where(versions.c.id == version_id)
                .values(tags=json.dumps(list(tags)))
            )
        return tags

    def rename_dataset(self, project: str, name: str, new_project: str, new_name: str) -> int:
        try:
            with self._write() as db:
                moved = db.execute(
                    versions.update()
                    .where(versions.c.project == project, versions.c.name == name)
                    .values(project=new_project, name=new_name)
                )
                return int(moved.rowcount)
        except sa.exc.IntegrityError as exc:
            raise renaming_clash(new_project, new_name) from exc

    def finalize(self, record: VersionRecord, manifest: bytes) -> None:
        with self._write() as db:
            db.execute(manifests.delete().where(manifests.c.version_id == record.id))
            db.execute(manifests.insert().values(version_id=record.id, data=manifest))
            db.execute(
                versions.update()
                .where(versions.c.id == record.id)
                .values(state=str(record.state), stats=stats_json(record.stats))
            )
            db.execute(sources_table.delete().where(sources_table.c.version_id == record.id))
            db.execute(staged.delete().where(staged.c.version_id == record.id))

    def import_final(self, record: VersionRecord, manifest: bytes) -> bool:
        try:
            with self._write() as db:
                found = db.execute(sa.select(versions.c.id).where(versions.c.id == record.id))
                if found.first():
                    return False
                _insert(db, record)
                db.execute(manifests.insert().values(version_id=record.id, data=manifest))
        except sa.exc.IntegrityError as exc:
            if self._knows(record.id):
                return False  # imported by another client meanwhile
            raise StateError(
                f"Version {record.version} of {record.project}/{record.name} is already "
                f"taken by another version than {record.id}; delete that one and rebuild."
            ) from exc
        return True

    def _knows(self, version_id: str) -> bool:
        with self._read() as db:
            return bool(
                db.execute(sa.select(versions.c.id).where(versions.c.id == version_id)).first()
            )

    def manifest(self, version_id: str) -> bytes | None:
        with self._read() as db:
            row = db.execute(
                sa.select(manifests.c.data).where(manifests.c.version_id == version_id)
            ).first()
        return bytes(row[0]) if row else None

    def delete(self, version_id: str) -> None:
        with self._write() as db:
            # Explicitly, not by cascade alone: SQLite enforces foreign keys only when asked.
            for table, column in (
                (uses_table, uses_table.c.version_id),
                (sources_table, sources_table.c.version_id),
                (staged, staged.c.version_id),
                (metadata_values, metadata_values.c.version_id),
                (manifests, manifests.c.version_id),
                (lineage, lineage.c.child),
            ):
                db.execute(table.delete().where(column == version_id))
            db.execute(versions.delete().where(versions.c.id == version_id))

    # -- drafts -------------------------------------------------------------------------------

    def stage(self, version_id: str, changes: Iterable[DraftChange]) -> None:
        self.stage_columns(version_id, map(change_columns, changes))

    def stage_columns(self, version_id: str, changes: Iterable[Mapping[str, Any]]) -> None:
        """Stage changes given by column name, as :func:`change_columns` makes them (what a
        server reads off its requests): all of them, or none; a later change of a path
        replaces an earlier one."""
        longest = ""

        def rows() -> Iterator[tuple[Any, ...]]:
            nonlocal longest
            for change in changes:
                row = tuple(change[name] for name in STAGED_COLUMNS)
                if len(row[0]) > len(longest):
                    longest = row[0]
                yield row

        try:
            with self._write() as db:  # one transaction: all of the stream, or none of it
                _forget_sources(db, version_id)
                if db.dialect.name == "postgresql":
                    _copy_staged(db, version_id, rows())
                else:
                    _insert_staged(db, version_id, rows())
        except CatalogError as exc:
            if _limit_exceeded(exc.__cause__):
                raise InvalidInputError(
                    f"The path {shown(from_text(longest))} ({len(longest.encode())} bytes) is "
                    "longer than the catalog's PostgreSQL index takes (2,704 bytes once "
                    "compressed); shorten it."
                ) from exc
            raise

    def unstage(self, version_id: str, paths: Iterable[str]) -> None:
        wanted = map(to_text, paths)
        with self._write() as db:
            _forget_sources(db, version_id)
            while batch := list(itertools.islice(wanted, _BATCH)):
                db.execute(
                    staged.delete().where(
                        staged.c.version_id == version_id, staged.c.path.in_(batch)
                    )
                )

    def staged_files(self, version_id: str) -> Iterator[StagedFile]:
        return map(staged_file, self.staged(version_id))

    def staged(self, version_id: str) -> Iterator[DraftChange]:
        mine = sa.select(staged).where(staged.c.version_id == version_id)
        every = mine.order_by(staged.c.path).execution_options(yield_per=_BATCH)
        with self._read() as db:
            escaped = [_change(row) for row in db.execute(mine.where(_ESCAPED))]
            yield from in_path_order(escaped, map(_change, db.execute(every)))

    def staged_columns(self, version_id: str) -> Iterator[dict[str, Any]]:
        """The changes :meth:`staged` gives, by column name with paths as text (as
        :func:`change_columns` makes them): what a server sends, with no change made."""
        mine = sa.select(*(staged.c[name] for name in STAGED_COLUMNS)).where(
            staged.c.version_id == version_id
        )
        every = mine.order_by(staged.c.path).execution_options(yield_per=_BATCH)
        with self._read() as db:
            escaped = [_columns(row) for row in db.execute(mine.where(_ESCAPED))]
            yield from in_path_order(escaped, map(_columns, db.execute(every)), key=_name)

    def staged_sources(self, version_id: str, blob_ids: Iterable[str]) -> dict[str, str]:
        found: dict[str, str] = {}
        wanted = iter(blob_ids)
        mine = sources_table.c.version_id == version_id
        with self._write() as db:
            _know_sources(db, version_id)
            while batch := list(itertools.islice(wanted, _BATCH)):
                rows = db.execute(
                    sa.select(sources_table.c.blob_id, sources_table.c.source).where(
                        mine, sources_table.c.blob_id.in_(batch)
                    )
                )
                found.update((row.blob_id, row.source) for row in rows)
        return sources_of(found)

    def put_chunk_lists(self, lists: Mapping[str, Sequence[str]]) -> None:
        if not lists:
            return
        with self._write() as db:
            db.execute(chunk_lists.delete().where(chunk_lists.c.blob_id.in_(list(lists))))
            db.execute(
                chunk_lists.insert(),
                [
                    {"blob_id": b, "chunks": b"".join(bytes.fromhex(c) for c in chunks)}
                    for b, chunks in lists.items()
                ],
            )

    def chunk_lists(self, blob_ids: Iterable[str]) -> dict[str, tuple[str, ...]]:
        found = {}
        wanted = iter(blob_ids)
        with self._read() as db:
            while batch := list(itertools.islice(wanted, _BATCH)):
                rows = db.execute(sa.select(chunk_lists).where(chunk_lists.c.blob_id.in_(batch)))
                for row in rows:
                    raw = bytes(row.chunks)
                    found[row.blob_id] = tuple(
                        raw[i : i + 32].hex() for i in range(0, len(raw), 32)
                    )
        return found

    def set_metadata(self, version_id: str, name: str, kind: str, data: bytes) -> None:
        found = (metadata_values.c.version_id == version_id, metadata_values.c.name == name)
        with self._write() as db:
            db.execute(metadata_values.delete().where(*found))
            db.execute(
                metadata_values.insert().values(
                    version_id=version_id, name=name, kind=kind, data=data
                )
            )

    def get_metadata(self, version_id: str, name: str) -> tuple[str, bytes] | None:
        found = (metadata_values.c.version_id == version_id, metadata_values.c.name == name)
        with self._read() as db:
            row = db.execute(
                sa.select(metadata_values.c.kind, metadata_values.c.data).where(*found)
            ).first()
        return (str(row.kind), bytes(row.data)) if row else None

    def metadata_names(self, version_id: str) -> list[str]:
        with self._read() as db:
            rows = db.execute(
                sa.select(metadata_values.c.name)
                .where(metadata_values.c.version_id == version_id)
                .order_by(metadata_values.c.name)
            )
            return [str(row.name) for row in rows]

    def mark_uploaded(self, version_id: str) -> None:
        with self._write() as db:
            db.execute(
                staged.update()
                .where(staged.c.version_id == version_id, staged.c.removed.is_(False))
                .values(uploaded=True)
            )

    def add_uses(self, found: Sequence[Use]) -> None:
        if not found:
            return
        rows = [dict(zip(USE_COLUMNS, use_row(u), strict=True)) for u in found]
        for row in rows:
            row["git_dirty"] = None if row["git_dirty"] is None else bool(row["git_dirty"])
        try:
            with self._write() as db:
                db.execute(uses_table.insert(), rows)
        except sa.exc.IntegrityError as exc:
            raise NotFoundError("A use names a version this catalog does not have.") from exc

    def uses(self, version_id: str | None = None, run: str | None = None) -> list[Use]:
        table = uses_table
        query = sa.select(*(table.c[n] for n in USE_COLUMNS)).order_by(table.c.used, table.c.id)
        if version_id is not None:
            query = query.where(table.c.version_id == version_id)
        if run is not None:
            query = query.where(sa.or_(table.c.run_id == run, table.c.run_name == run))
        with self._read() as db:
            return [use_of(dict(row._mapping)) for row in db.execute(query)]


# -- schema -------------------------------------------------------------------------------------


def migrate(engine: Engine) -> None:
    """Bring the database to the newest schema; refuse one written by a newer deltaset."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    head = ScriptDirectory.from_config(config).get_current_head()
    with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(sa.text(f"SELECT pg_advisory_xact_lock({_MIGRATION_LOCK})"))
        current = MigrationContext.configure(connection).get_current_revision()
        known = {script.revision for script in ScriptDirectory.from_config(config).walk_revisions()}
        if current is not None and current not in known:
            raise CatalogError(
                f"The catalog database was written by a newer deltaset (schema {current}); upgrade."
            )
        if current != head:
            config.attributes["connection"] = connection
            command.upgrade(config, "head")


STAGED_COLUMNS = ("path", "removed", "size", "blob_id", "source", "uploaded", "link", "etag")
_INSERT_STAGED = (
    f"INSERT OR REPLACE INTO staged (version_id, {', '.join(STAGED_COLUMNS)}) "
    f"VALUES (?, {', '.join('?' for _ in STAGED_COLUMNS)})"
)


def _insert_staged(db: Connection, version_id: str, rows: Iterator[tuple[Any, ...]]) -> None:
    """SQLite: the rows in batches of one statement run many times, a later row of a path
    replacing the earlier one (by its primary key), as the embedded catalog does."""
    while batch := [(version_id, *row) for row in itertools.islice(rows, _BATCH)]:
        db.exec_driver_sql(_INSERT_STAGED, batch)


def _copy_staged(db: Connection, version_id: str, rows: Iterator[tuple[Any, ...]]) -> None:
    """PostgreSQL: every row copied (COPY, its fastest way in) into a table of this
    transaction alone, then moved into ``staged`` at once, the last row of each path winning
    over an earlier one and over the path's row staged before."""
    columns = ", ".join(STAGED_COLUMNS)
    db.exec_driver_sql(
        'CREATE TEMPORARY TABLE incoming (seq bigserial, path text COLLATE "C", '
        "removed boolean, size bigint, blob_id text, source text, uploaded boolean, link text, "
        "etag text) "
        "ON COMMIT DROP"
    )
    if db.dialect.driver == "psycopg":
        _copy_rows(db, f"COPY incoming ({columns}) FROM STDIN", rows)
    else:  # another driver asked for by its URL (psycopg2): the same rows, by executemany
        values = ", ".join(f":{name}" for name in STAGED_COLUMNS)
        insert = sa.text(f"INSERT INTO incoming ({columns}) VALUES ({values})")
        while batch := [_columns(row) for row in itertools.islice(rows, _BATCH)]:
            db.execute(insert, batch)
    db.exec_driver_sql("ANALYZE incoming")
    db.execute(
        sa.text(
            "DELETE FROM staged USING incoming "
            "WHERE staged.version_id = :version AND staged.path = incoming.path"
        ),
        {"version": version_id},
    )
    db.execute(
        sa.text(
            f"INSERT INTO staged (version_id, {columns}) "
            f"SELECT DISTINCT ON (path) :version, {columns} FROM incoming "
            "ORDER BY path, seq DESC"
        ),
        {"version": version_id},
    )


def _copy_rows(db: Connection, statement: str, rows: Iterator[tuple[Any, ...]]) -> None:
    import psycopg  # the driver of this connection

    raw: Any = db.connection.driver_connection  # in the transaction of ``db``
    try:
        with raw.cursor() as cursor, cursor.copy(statement) as copy:
            for row in rows:
                copy.write_row(row)
    except psycopg.Error as exc:  # SQLAlchemy's own calls turn these into its errors
        raise CatalogError(f"The catalog database failed: {_cause(exc)}") from exc


def _know_sources(db: Connection, version_id: str) -> None:
    """Fill the draft's lookup of sources by content from its staged rows, unless filled: an
    index of the staged rows by content cost every row staged, and every row a close dropped, a
    write at a random place, for the uploads alone that read files from their sources, which
    ask here. The draft's row stays held until the transaction ends, so no stager changes the
    staged rows between the lookup's filling and its reading (see :func:`_forget_sources`)."""
    db.execute(_draft_row(version_id).with_for_update(key_share=True))
    mine = sources_table.c.version_id == version_id
    if db.execute(sa.select(sources_table.c.version_id).where(mine).limit(1)).first():
        return
    by_content = (
        sa.select(staged.c.version_id, staged.c.blob_id, sa.func.max(staged.c.source))
        .where(staged.c.version_id == version_id, staged.c.removed.is_(False))
        .group_by(staged.c.version_id, staged.c.blob_id)
        .order_by(staged.c.blob_id)
    )
    db.execute(sources_table.insert().from_select(["version_id", "blob_id", "source"], by_content))


def _forget_sources(db: Connection, version_id: str) -> None:
    """Empty the draft's lookup of sources: its staged rows are about to change. The draft's
    row is held first, shared with other stagers but not with a filling of the lookup: one
    under way commits first and is emptied here, or starts after this transaction ends and
    reads the rows it left. (PostgreSQL; SQLite runs one writer at a time.)"""
    db.execute(_draft_row(version_id).with_for_update(read=True))
    db.execute(sources_table.delete().where(sources_table.c.version_id == version_id))


def _draft_row(version_id: str) -> sa.Select[tuple[str]]:
    return sa.select(versions.c.id).where(versions.c.id == version_id)


def _make_sqlite_folder(url: str) -> None:
    parsed = sa.engine.make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        Path(parsed.database).expanduser().parent.mkdir(parents=True, exist_ok=True)


def _sqlite_begin_immediate(connection: Connection) -> None:
    """Take SQLite's write lock when a transaction begins, not at its first write: two
    read-then-write transactions then wait for each other instead of one failing."""
    connection.exec_driver_sql("BEGIN IMMEDIATE")


def _sqlite_pragmas(connection: Any, _: Any) -> None:
    connection.isolation_level = None  # SQLAlchemy's "begin" event emits BEGIN itself
    cursor = connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=60000")
    cursor.close()


# -- rows ---------------------------------------------------------------------------------------


def _insert(db: Connection, record: VersionRecord) -> None:
    db.execute(versions.insert().values(**record_columns(record)))
    if record.parents:
        db.execute(
            lineage.insert(),
            [
                {"child": record.id, "parent": parent, "position": i}
                for i, parent in enumerate(record.parents)
            ],
        )


def _where(query: Query) -> list[Any]:
    clauses: list[Any] = []
    if query.project is not None:
        if query.recursive_project:
            # substr, not LIKE: LIKE ignores case, and project names are case-sensitive.
            below = sa.func.substr(versions.c.project, 1, len(query.project) + 1)
            clauses.append(
                sa.or_(versions.c.project == query.project, below == query.project + "/")
            )
        else:
            clauses.append(versions.c.project == query.project)
    if query.name is not None:
        clauses.append(versions.c.name == query.name)
    if query.version is not None:
        clauses.append(versions.c.version == query.version)
    if query.ids:
        clauses.append(versions.c.id.in_(list(query.ids)))
    if query.id_prefix is not None:
        prefix = query.id_prefix
        clauses.append(sa.func.substr(versions.c.id, 1, len(prefix)) == prefix)
    if query.states:
        clauses.append(versions.c.state.in_([str(s) for s in query.states]))
    return clauses


# The staged rows whose path is held in the second form of deltaset.core.names.
_ESCAPED = staged.c.path.startswith(MARKER, autoescape=True)


def _change(row: sa.Row[Any]) -> DraftChange:
    return DraftChange(
        from_text(row.path),
        bool(row.removed),
        row.size,
        row.blob_id,
        from_text(row.source),
        bool(row.uploaded),
        row.link,
        row.etag,
    )


def _columns(row: Sequence[Any]) -> dict[str, Any]:
    return dict(zip(STAGED_COLUMNS, row, strict=True))


def _name(columns: Mapping[str, Any]) -> str:
    return from_text(columns["path"])


def _limit_exceeded(cause: BaseException | None) -> bool:
    """Whether the database refused a value as too large to index (PostgreSQL's btree
    limit: a path too long and too varied to compress under it)."""
    return getattr(getattr(cause, "orig", None), "sqlstate", None) == _PROGRAM_LIMIT_EXCEEDED


_PROGRAM_LIMIT_EXCEEDED = "54000"


def _safe(url: str) -> str:
    """The database URL without its password."""
    try:
        return sa.engine.make_url(url).render_as_string(hide_password=True)
    except sa.exc.ArgumentError:
        return "(unreadable URL)"


def _cause(exc: BaseException) -> str:
    original = getattr(exc, "orig", None) or exc
    text = str(original).strip().splitlines()
    return (text[0] if text else type(original).__name__).rstrip(".") + "."
