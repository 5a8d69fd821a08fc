"""The cache index's bookkeeping of blobs and folders, written in bulk."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import blake3

from deltaset.cache import links
from deltaset.cache.index import BlobRow, CacheIndex


def used_and_size(index: CacheIndex) -> dict[str, tuple[float, int]]:
    rows = index._db.execute("SELECT id, used, size FROM cached_blobs")
    return {raw.hex(): (used, size) for raw, used, size in rows}


def rows(listed: list[tuple[str, int]]) -> list[BlobRow]:
    """The rows of blobs (hex id, size) a build copied (no stat), once each, in id order."""
    return [(bytes.fromhex(blob_id), size, None) for blob_id, size in sorted(set(listed))]


def add_tree(index: CacheIndex, key: str, copied: int, blobs: list[BlobRow]) -> None:
    """What a build gives :meth:`CacheIndex.add_tree` for the folder ``key`` linking
    ``blobs``: their ids end to end (as a folder holding each twice would), and their rows."""
    pieces = [raw * 2 for raw, _, _ in blobs]  # (in two calls' worth of pieces or fewer)
    index.add_tree(key, copied, [b"".join(pieces[:1]), b"".join(pieces[1:])], iter(blobs))


def test_a_new_folder_adds_its_unknown_blobs_and_marks_the_known_ones_used(
    tmp_path: Path,
) -> None:
    index = CacheIndex(tmp_path / "index.db")
    index.add_blobs([("b" * 64, 7)])
    index._db.execute("UPDATE cached_blobs SET used = 1.0")
    # A blob at two paths of the folder may be listed twice.
    listed = [("a" * 64, 5), ("b" * 64, 7), ("c" * 64, 3)] * 2
    add_tree(index, "key", 0, rows(listed))
    found = used_and_size(index)
    assert {b: size for b, (_, size) in found.items()} == {"a" * 64: 5, "b" * 64: 7, "c" * 64: 3}
    assert all(used > 1.0 for used, _ in found.values())
    assert index.blobs_of(["key"]) == {"a" * 64, "b" * 64, "c" * 64}
    assert index.unreferenced_blobs_by_age() == []


def test_recorded_stats_keep_the_last_one_given_for_a_blob(tmp_path: Path) -> None:
    index = CacheIndex(tmp_path / "index.db")
    index.record_stats(
        [("b" * 32, (1, 2, 3, 4)), ("a" * 32, (5, 6, 7, 8)), ("b" * 32, (1, 2, 3, 9))]
    )
    assert index.stats(["a" * 32, "b" * 32]) == {"a" * 32: (5, 6, 7, 8), "b" * 32: (1, 2, 3, 9)}


def test_written_blobs_get_their_size_use_and_stat_in_one_row_each(tmp_path: Path) -> None:
    """A blob written whole is accounted for with the stat it had as written; one the index
    knew (by size only, used long ago) takes its new size, use and stat."""
    index = CacheIndex(tmp_path / "index.db")
    known, new = "a" * 64, "b" * 64
    index.add_blobs([(known, 3)])
    index._db.execute("UPDATE cached_blobs SET used = 1.0")
    index.add_written([(new, 7, (1, 7, 3, 4)), (known, 5, (2, 5, 6, 8))])
    assert index.known([known, new]) == {known: (2, 5, 6, 8), new: (1, 7, 3, 4)}
    found = used_and_size(index)
    assert found[known][0] == found[new][0] > 1.0
    assert (found[known][1], found[new][1]) == (5, 7)


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


def test_a_stat_stays_in_the_blob_row_until_forgotten(tmp_path: Path) -> None:
    index = CacheIndex(tmp_path / "index.db")
    a, b = "a" * 64, "b" * 64
    index.record_stats([(a, (1, 5, 3, 4))])
    index.add_blobs([(a, 5), (b, 7)])  # a blob fetched again keeps its stat
    add_tree(index, "key", 0, [(bytes.fromhex(a), 5, None)])
    assert index.stats([a, b]) == {a: (1, 5, 3, 4)}
    add_tree(index, "key", 0, [(bytes.fromhex(b), 7, (2, 7, 8, 9))])
    assert index.known([a, b]) == {a: (1, 5, 3, 4), b: (2, 7, 8, 9)}
    index.forget_stats([a])
    assert index.known([a, b]) == {a: None, b: (2, 7, 8, 9)}
    assert index.blob_totals() == (2, 12)


def test_an_empty_folder_links_no_blob(tmp_path: Path) -> None:
    index = CacheIndex(tmp_path / "index.db")
    add_tree(index, "empty", 0, [])
    assert index.trees()[0][0] == "empty"
    assert index._db.execute("SELECT COUNT(*) FROM folder_blobs").fetchone() == (0,)


def test_dropping_a_folder_keeps_the_blobs_another_links(tmp_path: Path) -> None:
    index = CacheIndex(tmp_path / "index.db")
    a, b, c = "a" * 64, "b" * 64, "c" * 64
    add_tree(index, "one", 0, rows([(a, 1), (b, 2)]))
    add_tree(index, "two", 4, rows([(b, 2), (c, 3)]))
    assert sorted(index.trees_holding(b)) == ["one", "two"]
    index.drop_tree("one")
    assert index.blobs_of(["one", "two"]) == {b, c}
    assert index.trees_holding(b) == ["two"]
    assert index.unreferenced_blobs_by_age() == [(a, 1)]
    assert index.usage() == 1 + 2 + 3 + 4
    index.forget(["two"], [c])
    assert index.trees() == []
    assert index.blob_totals() == (0, 0)


def test_a_new_index_keeps_two_b_trees_a_blob_keyed_by_raw_ids(tmp_path: Path) -> None:
    """Two B-trees a blob, and a third for a blob whose home is a folder (a cold get's); a
    row a folder whose blobs' rows wait (see ``deferred_folders``)."""
    index = CacheIndex(tmp_path / "index.db")
    found = index._db.execute("SELECT type, name, sql FROM sqlite_master").fetchall()
    tables = {name: sql for kind, name, sql in found if kind == "table"}
    folders = {"folders", "deferred_folders"}
    assert tables.keys() == {"cached_blobs", "folder_blobs", "blob_homes", *folders}
    for name in ("cached_blobs", "folder_blobs", "blob_homes"):
        assert tables[name].endswith("WITHOUT ROWID"), name
    # No index of its own but the folders' keys (a row a folder, not a blob).
    assert [n for kind, n, _ in found if kind == "index"] == ["sqlite_autoindex_folders_1"]
    add_tree(index, "key", 0, rows([("ab" * 32, 3)]))
    stored = index._db.execute("SELECT typeof(id), length(id) FROM cached_blobs").fetchall()
    assert stored == [("blob", 32)]


def test_the_index_takes_under_200_bytes_a_blob(tmp_path: Path) -> None:
    """The first format took about 400: four B-trees keyed by 64 hex characters."""
    index = CacheIndex(tmp_path / "index.db")
    count = 20_000
    ids = sorted(blake3.blake3(str(i).encode()).digest() for i in range(count))
    stats = ((raw, 60, (i, 60, 10**18 + i, 10**18 + i)) for i, raw in enumerate(ids))
    pieces = [b"".join(ids[:5000]), b"".join(ids[5000:])]
    index.add_tree("key", 0, pieces, stats, homes=pieces)  # a cold get's: every blob at home
    index._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    assert index.blob_totals() == (count, 60 * count)
    assert index.homes([ids[0].hex(), ids[-1].hex()]) == {ids[0].hex(): "key", ids[-1].hex(): "key"}
    assert (tmp_path / "index.db").stat().st_size < 250 * count


def test_a_folder_s_rows_leave_no_write_ahead_log_behind(tmp_path: Path) -> None:
    index = CacheIndex(tmp_path / "index.db")
    ids = sorted(blake3.blake3(str(i).encode()).digest() for i in range(2000))
    add_tree(index, "key", 0, [(raw, 60, None) for raw in ids])
    assert (tmp_path / "index.db-wal").stat().st_size == 0
    assert index.blob_totals() == (2000, 2000 * 60)


def test_a_reader_elsewhere_keeps_the_log_and_does_not_wait(tmp_path: Path) -> None:
    index = CacheIndex(tmp_path / "index.db")
    other = sqlite3.connect(tmp_path / "index.db")
    other.execute("BEGIN")
    other.execute("SELECT COUNT(*) FROM cached_blobs").fetchone()  # holds its snapshot
    add_tree(index, "key", 0, rows([("ab" * 32, 3)]))
    assert (tmp_path / "index.db-wal").stat().st_size > 0
    other.rollback()
    other.close()
    assert index.blob_totals() == (1, 3)
