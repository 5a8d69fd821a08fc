"""The cache index's bookkeeping of blobs and folders, written in bulk."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from deltaset.cache import links
from deltaset.cache.index import CacheIndex


def used_and_size(index: CacheIndex) -> dict[str, tuple[float, int]]:
    rows = index._db.execute("SELECT blob_id, used, size FROM blobs")
    return {blob_id: (used, size) for blob_id, used, size in rows}


def test_a_new_folder_adds_its_unknown_blobs_and_marks_the_known_ones_used(
    tmp_path: Path,
) -> None:
    index = CacheIndex(tmp_path / "index.db")
    index.add_blobs([("b" * 32, 7)])
    index._db.execute("UPDATE blobs SET used = 1.0")
    # A blob at two paths of the folder may be listed twice.
    listed = [("a" * 32, 5), ("b" * 32, 7), ("c" * 32, 3)] * 2
    index.add_tree("key", 0, lambda: iter(sorted(listed)))
    found = used_and_size(index)
    assert {b: size for b, (_, size) in found.items()} == {"a" * 32: 5, "b" * 32: 7, "c" * 32: 3}
    assert all(used > 1.0 for used, _ in found.values())
    assert index.blobs_of(["key"]) == {"a" * 32, "b" * 32, "c" * 32}
    assert index.unreferenced_blobs_by_age() == []


def test_recorded_stats_keep_the_last_one_given_for_a_blob(tmp_path: Path) -> None:
    index = CacheIndex(tmp_path / "index.db")
    index.record_stats(
        [("b" * 32, (1, 2, 3, 4)), ("a" * 32, (5, 6, 7, 8)), ("b" * 32, (1, 2, 3, 9))]
    )
    assert index.stats(["a" * 32, "b" * 32]) == {"a" * 32: (5, 6, 7, 8), "b" * 32: (1, 2, 3, 9)}


def test_a_forked_process_stages_blobs_under_names_of_its_own() -> None:
    parent = links.unique_name().split("-")[0]
    read, write = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover (runs in the child)
        os.write(write, links.unique_name().split("-")[0].encode())
        os._exit(0)
    os.close(write)
    os.waitpid(child, 0)
    assert os.read(read, 100).decode() not in ("", parent)
    os.close(read)


def test_known_blobs_come_with_their_recorded_stat_if_any(tmp_path: Path) -> None:
    index = CacheIndex(tmp_path / "index.db")
    index.add_blobs([("a" * 32, 5), ("b" * 32, 7)])
    index.record_stats([("b" * 32, (1, 7, 3, 4))])
    ids = ["a" * 32, "b" * 32, "c" * 32]
    assert index.known(ids * 400) == {"a" * 32: None, "b" * 32: (1, 7, 3, 4)}


def test_an_index_made_with_rowid_tables_is_used_as_it_is(tmp_path: Path) -> None:
    path = tmp_path / "index.db"
    old = sqlite3.connect(path)
    old.executescript(
        "CREATE TABLE blobs (blob_id TEXT PRIMARY KEY, size INTEGER, used REAL);"
        "CREATE TABLE tree_blobs (key TEXT, blob_id TEXT, PRIMARY KEY (key, blob_id));"
        "CREATE TABLE blob_stats (blob_id TEXT PRIMARY KEY, ino INTEGER, size INTEGER, "
        "mtime_ns INTEGER, ctime_ns INTEGER);"
        "INSERT INTO blobs VALUES ('" + "c" * 32 + "', 3, 1.0);"
    )
    old.close()
    index = CacheIndex(path)
    index.add_blobs([("a" * 32, 5)])
    index.add_tree("key", 0, lambda: iter([("a" * 32, 5), ("c" * 32, 3)]))
    index.record_stats([("a" * 32, (1, 5, 3, 4))])
    assert index.stats(["a" * 32]) == {"a" * 32: (1, 5, 3, 4)}
    assert index.blob_totals() == (2, 8)
    index.forget(["key"], ["a" * 32])
    assert index.blob_totals() == (0, 0)


def test_a_new_index_keeps_each_blob_row_in_one_b_tree(tmp_path: Path) -> None:
    index = CacheIndex(tmp_path / "index.db")
    rows = index._db.execute("SELECT name, sql FROM sqlite_master WHERE type = 'table'")
    tables = {name: sql for name, sql in rows}
    for name in ("blobs", "tree_blobs", "blob_stats"):
        assert tables[name].endswith("WITHOUT ROWID"), name
