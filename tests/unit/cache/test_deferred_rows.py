"""A cold get's folder, home to each of its blobs once, is published with one row in the
cache index; its blobs' rows are written from its record by the first reader needing them."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import blake3
import pytest

from deltaset.cache.blobs import BlobCache
from deltaset.cache.index import CacheIndex
from deltaset.cache.links import LinkMode
from deltaset.cache.trees import TreeRecord, TreeRecords, stat_of
from deltaset.core.manifest import Entry, Manifest
from deltaset.errors import DiskFullError
from tests.tmpfs import Mount, fill
from tests.unit.cache.test_homes import cold_get

CONTENT = {f"d{n % 3}/f{n}.txt": f"file {n}\n".encode() * (n + 1) for n in range(40)}
IDS = {path: blake3.blake3(data).hexdigest() for path, data in CONTENT.items()}
BYTES = sum(len(data) for data in CONTENT.values())


def manifest(content: dict[str, bytes] = CONTENT) -> Manifest:
    return Manifest(
        {p: Entry(blob_id=blake3.blake3(d).hexdigest(), size=len(d)) for p, d in content.items()}
    )


def rows(cache: Path) -> dict[str, int]:
    """How many rows each table of the cache index holds, read without the index's code."""
    with sqlite3.connect(cache / "index.db") as db:
        tables = ("cached_blobs", "blob_homes", "folder_blobs", "deferred_folders")
        return {t: db.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0] for t in tables}


def test_a_cold_get_writes_its_blobs_rows_only_when_a_reader_needs_them(tmp_path: Path) -> None:
    cache = BlobCache(tmp_path / "cache")
    tree = cold_get(cache, "v1", manifest(), CONTENT)
    before = {"cached_blobs": 0, "blob_homes": 0, "folder_blobs": 0, "deferred_folders": 1}
    assert rows(cache.root) == before
    usage = cache.usage()
    assert (usage.blob_count, usage.blob_bytes, usage.total_bytes) == (40, BYTES, BYTES)
    assert cache.check_tree("v1") == []  # a warm get: no blob rows needed
    assert rows(cache.root) == before

    found = cache.index.locate(IDS.values())
    assert rows(cache.root) == {
        "cached_blobs": 40,
        "blob_homes": 40,
        "folder_blobs": 40,
        "deferred_folders": 0,
    }
    for path, blob_id in IDS.items():
        assert found[blob_id] == (stat_of(os.stat(tree / path)), "v1")
    usage = cache.usage()
    assert (usage.blob_count, usage.blob_bytes, usage.total_bytes) == (40, BYTES, BYTES)
    assert cache.missing({e.blob_id: e for e in manifest().values()}) == []


def test_a_folder_with_a_repeated_blob_writes_its_rows_at_once(tmp_path: Path) -> None:
    content = {**CONTENT, "copy.txt": CONTENT["d0/f0.txt"]}
    cache = BlobCache(tmp_path / "cache")
    cold_get(cache, "v1", manifest(content), content)
    assert rows(cache.root)["deferred_folders"] == 0
    assert rows(cache.root)["cached_blobs"] == 40


def test_a_second_version_links_the_deferred_folders_files(tmp_path: Path) -> None:
    cache = BlobCache(tmp_path / "cache")
    first = cold_get(cache, "v1", manifest(), CONTENT)
    changed = {**CONTENT, "d0/f0.txt": b"changed\n"}
    second = cold_get(cache, "v2", manifest(changed), changed)
    for path in CONTENT:
        if path != "d0/f0.txt":
            assert (second / path).stat().st_ino == (first / path).stat().st_ino
    assert (second / "d0/f0.txt").read_bytes() == b"changed\n"
    assert cache.check_tree("v1") == cache.check_tree("v2") == []
    assert cache.usage().blob_bytes == BYTES + len(b"changed\n")


def test_evicting_a_deferred_folder_frees_its_blobs_bytes(tmp_path: Path) -> None:
    cache = BlobCache(tmp_path / "cache")
    cold_get(cache, "v1", manifest(), CONTENT)
    cache.shrink(1)
    assert not cache.has_tree("v1")
    assert cache.usage().total_bytes == 0
    assert rows(cache.root)["deferred_folders"] == 0
    assert cache.index.locate(IDS.values()) == {}


def test_emptying_the_cache_frees_a_deferred_folders_bytes(tmp_path: Path) -> None:
    cache = BlobCache(tmp_path / "cache")
    cold_get(cache, "v1", manifest(), CONTENT)
    assert cache.shrink(0) >= BYTES
    assert cache.usage() == cache.usage().__class__(0, 0, 0, [])
    assert rows(cache.root) == dict.fromkeys(rows(cache.root), 0)


def test_a_deferred_folder_without_its_record_gets_no_rows_and_is_fetched_again(
    tmp_path: Path,
) -> None:
    cache = BlobCache(tmp_path / "cache")
    cold_get(cache, "v1", manifest(), CONTENT)
    cache.records.drop("v1")
    wanted = {e.blob_id: e for e in manifest().values()}
    assert sorted(cache.missing(wanted)) == sorted(wanted)
    assert rows(cache.root)["deferred_folders"] == 0
    assert rows(cache.root)["cached_blobs"] == 0


def test_a_damaged_record_lists_nothing(tmp_path: Path) -> None:
    cache = BlobCache(tmp_path / "cache")
    cold_get(cache, "v1", manifest(), CONTENT)
    record = cache.records.directory / "v1.record"
    data = bytearray(record.read_bytes())
    data[-3] ^= 0xFF  # in the paths, which the rows do not read: still checked
    record.write_bytes(bytes(data))
    assert cache.index.locate(IDS.values()) == {}


def test_a_blob_listed_already_keeps_its_row_and_home(tmp_path: Path) -> None:
    """Two cold gets of the same blob at once each wrote it into their own folder: the
    first folder listed is its home, the other's file is a copy of it."""
    cache = BlobCache(tmp_path / "cache")
    first = cold_get(cache, "v1", manifest(), CONTENT)
    other = tmp_path / "other"
    second = cold_get(BlobCache(other), "v2", manifest(), CONTENT)  # not told of v1
    os.rename(second, cache.tree_path("v2"))
    os.rename(other / "records" / "v2.record", cache.records.directory / "v2.record")
    cache.index.add_home_folder("v2", 40, BYTES)
    found = cache.index.locate(IDS.values())
    assert {home for _, home in found.values()} == {"v1"}
    for path, blob_id in IDS.items():
        assert found[blob_id][0] == stat_of(os.stat(first / path))
    assert cache.index.trees_holding(IDS["d0/f0.txt"]) == ["v1", "v2"]


def test_on_a_full_disk_the_rows_wait_and_a_reader_fails_in_one_sentence(tmpfs: Mount) -> None:
    """Many rows: the index's pages fill the disk's last bytes before any is written."""
    content = {f"f{n}": b"%d" % n for n in range(5_000)}
    cache = BlobCache(tmpfs("cache", "40m") / "cache")
    cold_get(cache, "v1", manifest(content), content)
    filler = fill(cache.root)
    wanted = {e.blob_id: e for e in manifest(content).values()}
    with pytest.raises(DiskFullError, match="its index"):
        cache.index.known(wanted)
    assert cache.check_tree("v1") == []  # a warm get needs no row
    filler.unlink()
    assert rows(cache.root)["deferred_folders"] == 1
    assert cache.missing(wanted) == []
    assert rows(cache.root)["cached_blobs"] == 5_000


def test_a_folder_an_older_release_forgot_is_no_longer_deferred(tmp_path: Path) -> None:
    """An older release knows no ``deferred_folders``: it drops a folder's row alone."""
    cache = BlobCache(tmp_path / "cache")
    cold_get(cache, "v1", manifest(), CONTENT)
    with sqlite3.connect(cache.root / "index.db") as db:
        db.execute("DELETE FROM folders WHERE key = 'v1'")
    assert cache.usage().total_bytes == 0
    assert cache.index.locate(IDS.values()) == {}
    assert rows(cache.root)["deferred_folders"] == 0
    cold_get(cache, "v2", manifest(), CONTENT)  # may take the forgotten folder's number
    assert {home for _, home in cache.index.locate(IDS.values()).values()} == {"v2"}


def test_another_process_lists_a_deferred_folder_once(tmp_path: Path) -> None:
    cache = BlobCache(tmp_path / "cache")
    cold_get(cache, "v1", manifest(), CONTENT)
    one, two = CacheIndex(cache.root / "index.db"), CacheIndex(cache.root / "index.db")
    assert len(one.known(IDS.values())) == len(two.known(IDS.values())) == 40
    assert rows(cache.root)["cached_blobs"] == 40


def test_a_record_s_columns_are_read_whole_without_its_paths(tmp_path: Path) -> None:
    records = TreeRecords(tmp_path)
    record = TreeRecord()
    for n, (path, blob_id) in enumerate(IDS.items()):
        record.add(path, blob_id, (2**64 - 1 - n, n, 3 * n, 4 * n))
    records.save("k", record)
    found = records.columns("k")
    assert found is not None
    assert found[0] == record.raw_ids()
    assert found[1] == record.stat_column()
    (tmp_path / "k.record").write_bytes((tmp_path / "k.record").read_bytes()[:-1])
    assert records.columns("k") is None
    assert records.columns("absent") is None


def test_a_folder_written_whole_is_published_without_sorting_its_ids(tmp_path: Path) -> None:
    cache = BlobCache(tmp_path / "cache")
    files = manifest()
    assert not files.repeats_a_blob()
    with cache.tree_build("v1", LinkMode.HARDLINK, files) as build:
        build.stage(list(files.items()), 0, set(IDS.values()))
        build.prepare_publish()
        for blob_id in build.staged:
            build.store(blob_id, CONTENT[next(p for p, b in IDS.items() if b == blob_id)])
        tree = build.publish()
        assert build._order is None
    assert rows(cache.root)["deferred_folders"] == 1
    assert cache.check_tree("v1") == []
    assert {p: (tree / p).read_bytes() for p in CONTENT} == CONTENT


def test_a_folder_partly_cached_sorts_its_ids_ahead(tmp_path: Path) -> None:
    cache = BlobCache(tmp_path / "cache")
    cold_get(cache, "v1", manifest(), CONTENT)
    changed = {**CONTENT, "new.txt": b"new\n"}
    files = manifest(changed)
    with cache.tree_build("v2", LinkMode.HARDLINK, files) as build:
        wanted = {e.blob_id: e for e in files.values()}
        build.stage(list(files.items()), 0, set(cache.missing(wanted)))
        build.prepare_publish()
        assert build._order is not None
    repeated = manifest({**CONTENT, "again.txt": CONTENT["d0/f0.txt"]})
    assert repeated.repeats_a_blob()
