"""A cache index of the first format (hex keys, four B-trees a blob) is migrated when opened."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

import deltaset
from deltaset.cache.index import CacheIndex
from deltaset.cache.index_migration import OLD_TABLES
from deltaset.faults import FAILPOINT_ENV

A, B, C, D = ("a" * 64, "b" * 64, "c" * 64, "d" * 64)

# The statements of the release before the second format (with and without its last change,
# WITHOUT ROWID: caches made earlier keep rowid tables).
FIRST_FORMAT = [
    "CREATE TABLE IF NOT EXISTS blobs (blob_id TEXT PRIMARY KEY, size INTEGER, used REAL)",
    "CREATE TABLE IF NOT EXISTS trees (key TEXT PRIMARY KEY, copied INTEGER, used REAL)",
    "CREATE TABLE IF NOT EXISTS tree_blobs (key TEXT, blob_id TEXT, PRIMARY KEY (key, blob_id))",
    "CREATE INDEX IF NOT EXISTS tree_blobs_by_blob ON tree_blobs (blob_id)",
    "CREATE TABLE IF NOT EXISTS blob_stats (blob_id TEXT PRIMARY KEY, ino INTEGER, "
    "size INTEGER, mtime_ns INTEGER, ctime_ns INTEGER)",
]


def write_first_format(path: Path, without_rowid: bool = True) -> None:
    """An index as the release before wrote it: two folders, four blobs, two stats."""
    db = sqlite3.connect(path)
    for statement in FIRST_FORMAT:
        keyed = without_rowid and "PRIMARY KEY" in statement and "trees" not in statement
        db.execute(statement + (" WITHOUT ROWID" if keyed else ""))
    blobs = [(A, 5, 10.5), (B, 7, 20.0), (C, 3, 30.0), (D, 1, 5.0)]
    db.executemany("INSERT INTO blobs VALUES (?, ?, ?)", blobs)
    db.executemany("INSERT INTO trees VALUES (?, ?, ?)", [("one", 0, 40.0), ("two", 9, 50.0)])
    db.executemany(
        "INSERT INTO tree_blobs VALUES (?, ?)", [("one", A), ("one", B), ("two", B), ("two", C)]
    )
    db.executemany(
        "INSERT INTO blob_stats VALUES (?, ?, ?, ?, ?)", [(A, 1, 5, 3, 4), (C, 2, 3, 6, 7)]
    )
    db.commit()
    db.close()


def tables(path: Path) -> set[str]:
    db = sqlite3.connect(path)
    try:
        return {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    finally:
        db.close()


def assert_migrated(index: CacheIndex) -> None:
    assert not tables(index.path) & set(OLD_TABLES)
    assert index.known([A, B, C, D, "e" * 64]) == {
        A: (1, 5, 3, 4),
        B: None,
        C: (2, 3, 6, 7),
        D: None,
    }
    assert index.trees() == [("two", 50.0), ("one", 40.0)]
    assert index.blobs_of(["one"]) == {A, B}
    assert index.blobs_of(["two"]) == {B, C}
    assert sorted(index.trees_holding(B)) == ["one", "two"]
    assert index.unreferenced_blobs_by_age() == [(D, 1)]
    assert index.usage() == 5 + 7 + 3 + 1 + 9


@pytest.mark.parametrize("without_rowid", [True, False])
def test_an_index_of_the_first_format_keeps_its_rows(tmp_path: Path, without_rowid: bool) -> None:
    path = tmp_path / "index.db"
    write_first_format(path, without_rowid)
    index = CacheIndex(path)
    assert_migrated(index)
    assert index._db.execute("PRAGMA freelist_count").fetchone() == (0,)  # the old pages went
    assert_migrated(CacheIndex(path))  # opened again: nothing left to move


def test_a_migration_killed_before_its_commit_leaves_the_old_index_whole(
    tmp_path: Path,
) -> None:
    path = tmp_path / "index.db"
    write_first_format(path)
    env = {
        **os.environ,
        FAILPOINT_ENV: "cache.index_migrated",
        "PYTHONPATH": str(Path(deltaset.__file__).parents[1]),
    }
    script = "import sys; from pathlib import Path; from deltaset.cache.index import CacheIndex; "
    script += "CacheIndex(Path(sys.argv[1]))"
    killed = subprocess.run([sys.executable, "-c", script, str(path)], env=env, check=False)
    assert killed.returncode == -signal.SIGKILL
    assert set(OLD_TABLES) <= tables(path)  # the migration's writes were never committed
    assert_migrated(CacheIndex(path))


def test_rows_an_older_release_wrote_after_the_migration_are_moved_too(tmp_path: Path) -> None:
    path = tmp_path / "index.db"
    write_first_format(path)
    CacheIndex(path)._db.close()
    older = sqlite3.connect(path)  # the release before opens the cache and pulls a folder
    for statement in FIRST_FORMAT:
        older.execute(statement)
    older.execute("INSERT INTO blobs VALUES (?, ?, ?)", ("e" * 64, 11, 60.0))
    older.execute("INSERT INTO trees VALUES (?, ?, ?)", ("three", 0, 60.0))
    older.execute("INSERT INTO tree_blobs VALUES (?, ?)", ("three", "e" * 64))
    older.commit()
    older.close()
    index = CacheIndex(path)
    assert index.blobs_of(["three"]) == {"e" * 64}
    assert index.blob_totals() == (5, 5 + 7 + 3 + 1 + 11)
    assert not tables(path) & set(OLD_TABLES)
