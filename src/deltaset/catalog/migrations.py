"""Schema of the embedded catalog, as numbered migrations applied in order (PRAGMA user_version)."""

from __future__ import annotations

import sqlite3

MIGRATIONS: list[str] = [
    # 1: version records, stored manifests of final versions, staged changes of drafts.
    """
    CREATE TABLE versions (
        id TEXT PRIMARY KEY,
        project TEXT NOT NULL,
        name TEXT NOT NULL,
        version TEXT NOT NULL,
        state TEXT NOT NULL,
        parents TEXT NOT NULL,
        tags TEXT NOT NULL,
        description TEXT NOT NULL,
        created TEXT NOT NULL,
        user TEXT NOT NULL,
        storage TEXT NOT NULL,
        stats TEXT NOT NULL,
        UNIQUE (project, name, version)
    );
    CREATE INDEX versions_by_name ON versions (project, name);
    CREATE TABLE lineage (
        child TEXT NOT NULL REFERENCES versions (id) ON DELETE CASCADE,
        parent TEXT NOT NULL,
        position INTEGER NOT NULL,
        PRIMARY KEY (child, position)
    );
    CREATE INDEX lineage_by_parent ON lineage (parent);
    CREATE TABLE manifests (
        version_id TEXT PRIMARY KEY REFERENCES versions (id) ON DELETE CASCADE,
        data BLOB NOT NULL
    );
    CREATE TABLE staged (
        version_id TEXT NOT NULL REFERENCES versions (id) ON DELETE CASCADE,
        path TEXT NOT NULL,
        removed INTEGER NOT NULL,
        size INTEGER NOT NULL,
        blob_id TEXT NOT NULL,
        source TEXT NOT NULL,
        uploaded INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (version_id, path)
    );
    """,
    # 2: marking uploads by blob id must not scan every staged row of a large draft.
    """
    CREATE INDEX staged_by_blob ON staged (version_id, blob_id);
    """,
    # 3: the chunks of large files, by content, so an upload is never chunked twice.
    """
    CREATE TABLE chunk_lists (
        blob_id TEXT PRIMARY KEY,
        chunks BLOB NOT NULL
    );
    """,
    # 4: external files staged by reference: the URL and the etag they had when added.
    """
    ALTER TABLE staged ADD COLUMN link TEXT NOT NULL DEFAULT '';
    ALTER TABLE staged ADD COLUMN etag TEXT NOT NULL DEFAULT '';
    """,
    # 5: named metadata of versions (JSON values, Parquet tables).
    """
    CREATE TABLE metadata (
        version_id TEXT NOT NULL REFERENCES versions (id) ON DELETE CASCADE,
        name TEXT NOT NULL,
        kind TEXT NOT NULL,
        data BLOB NOT NULL,
        PRIMARY KEY (version_id, name)
    );
    """,
    # 6: uses: which process, under which run, read which version.
    """
    CREATE TABLE uses (
        version_id TEXT NOT NULL REFERENCES versions (id) ON DELETE CASCADE,
        alias TEXT NOT NULL,
        used TEXT NOT NULL,
        user TEXT NOT NULL,
        host TEXT NOT NULL,
        command TEXT NOT NULL,
        git_commit TEXT NOT NULL,
        git_dirty INTEGER,
        run_kind TEXT NOT NULL,
        run_id TEXT NOT NULL,
        run_name TEXT NOT NULL,
        experiment TEXT NOT NULL
    );
    CREATE INDEX uses_by_version ON uses (version_id);
    CREATE INDEX uses_by_run_id ON uses (run_id);
    CREATE INDEX uses_by_run_name ON uses (run_name);
    """,
]

SCHEMA_VERSION = len(MIGRATIONS)


def migrate(connection: sqlite3.Connection) -> None:
    """Bring the database up to :data:`SCHEMA_VERSION`, one transaction per migration."""
    current = connection.execute("PRAGMA user_version").fetchone()[0]
    for number, script in enumerate(MIGRATIONS[current:], start=current + 1):
        connection.execute("BEGIN IMMEDIATE")
        # Another process may have migrated while this one waited for the write lock.
        if connection.execute("PRAGMA user_version").fetchone()[0] >= number:
            connection.execute("ROLLBACK")
            continue
        for statement in filter(str.strip, script.split(";")):
            connection.execute(statement)
        connection.execute(f"PRAGMA user_version = {number}")
        connection.execute("COMMIT")
