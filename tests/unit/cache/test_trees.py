"""The record of a cached folder: what notices a write into the folder, in columns on disk."""

from __future__ import annotations

import marshal
import os
from pathlib import Path

import blake3

from deltaset.cache.blobs import BlobCache
from deltaset.cache.trees import TreeRecord, TreeRecords
from tests.unit.cache.test_tree_build import fetch_all

HUGE_INODE = (1 << 64) - 5  # some file systems hand out inodes above 2**63
STATS = [(HUGE_INODE, 5, -1_000_000_000, 1_700_000_000_000_000_000), (12, 0, 3, 4)]
IDS = ["ab" * 32, "cd" * 32]


def record() -> TreeRecord:
    made = TreeRecord()
    for path, blob_id, stat in zip(["a.txt", "sub/é.txt"], IDS, STATS, strict=True):
        made.add(path, blob_id, stat)
    return made


def write_format_2(records: TreeRecords, key: str, made: TreeRecord) -> None:
    """The record as deltaset wrote it before format 3: marshalled lists behind a digest."""
    ids = [made.blob_id(at) for at in range(len(made))]
    body = marshal.dumps((made.paths, ids, list(made.stats())))
    digest = blake3.blake3(body).hexdigest().encode()
    records.directory.mkdir(parents=True, exist_ok=True)
    (records.directory / f"{key}.record").write_bytes(
        b"deltaset-tree-record 2 " + digest + b"\n" + body
    )


def test_a_saved_record_loads_the_same(tmp_path: Path) -> None:
    records = TreeRecords(tmp_path)
    records.save("key", record())
    loaded = records.load("key")
    assert loaded is not None
    assert loaded.paths == ["a.txt", "sub/é.txt"]
    assert list(loaded.stats()) == STATS
    assert [loaded.blob_id(0), loaded.blob_id(1)] == IDS
    assert loaded.by_path() == record().by_path()
    assert list(loaded.positions_of(IDS[1])) == [1]


def test_a_record_of_format_2_is_still_read(tmp_path: Path) -> None:
    records = TreeRecords(tmp_path)
    write_format_2(records, "key", record())
    loaded = records.load("key")
    assert loaded is not None
    assert loaded.by_path() == record().by_path()


def test_a_damaged_record_is_no_record(tmp_path: Path) -> None:
    records = TreeRecords(tmp_path)
    records.save("key", record())
    file = tmp_path / "key.record"
    data = bytearray(file.read_bytes())
    data[-3] ^= 1
    file.write_bytes(bytes(data))
    assert records.load("key") is None
    file.write_bytes(bytes(data[:100]))  # cut short
    assert records.load("key") is None


def write_into(path: Path) -> None:
    os.chmod(path, 0o644)
    with open(path, "ab") as file:
        file.write(b"!")


def test_a_write_into_a_cached_folder_is_noticed(tmp_path: Path) -> None:
    cache = BlobCache(tmp_path / "cache")
    tree = fetch_all(cache, "key")
    assert cache.check_tree("key") == []
    write_into(tree / "sub" / "b.txt")
    assert cache.check_tree("key") == ["sub/b.txt"]


def test_a_write_is_noticed_by_a_record_of_format_2(tmp_path: Path) -> None:
    """A folder cached before format 3 is checked by its record, not the long way."""
    cache = BlobCache(tmp_path / "cache")
    tree = fetch_all(cache, "key")
    saved = cache.records.load("key")
    assert saved is not None
    write_format_2(cache.records, "key", saved)
    assert cache.check_tree("key") == []
    write_into(tree / "a.txt")  # a.txt and sub/again-a.txt are one blob, hence one file
    assert sorted(cache.check_tree("key") or []) == ["a.txt", "sub/again-a.txt"]
