from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from deltaset.core.hashing import blob_id_of
from deltaset.packs import writer as writer_module
from deltaset.packs.codec import Codec
from deltaset.packs.format import Location, PackEntry
from deltaset.packs.ranges import coalesce
from deltaset.packs.reader import read_block, read_pack_entries
from deltaset.packs.writer import PackWriter, pack_key
from deltaset.storage.local import LocalStorage


@pytest.fixture
def storage(tmp_path: Path) -> LocalStorage:
    return LocalStorage(tmp_path / "storage")


def add(writer: PackWriter, content: bytes) -> str:
    blob_id = blob_id_of(content)
    writer.add(blob_id, Codec.RAW, content, len(content))
    return blob_id


def packs(storage: LocalStorage) -> list[str]:
    return sorted(storage.list("packs/"))


def staged(storage: LocalStorage) -> list[Path]:
    tmp = storage.root / "tmp"
    return sorted(tmp.iterdir()) if tmp.is_dir() else []


def payload_sizes(storage: LocalStorage, pack_id: str) -> list[int]:
    return [e.length for e in read_pack_entries(storage, pack_id)]


def test_packs_roll_over_at_the_target_size(storage: LocalStorage) -> None:
    contents = [os.urandom(1_000) for _ in range(25)]
    with PackWriter(storage, target_size=4_500) as writer:
        ids = [add(writer, c) for c in contents]
    by_pack: dict[str, list[Location]] = {}
    for location in writer.locations():
        by_pack.setdefault(location.pack_id, []).append(location)
    assert [len(members) for members in by_pack.values()] == [5, 5, 5, 5, 5]
    assert {pack_key(p) for p in by_pack} == set(packs(storage))
    for pack_id, members in by_pack.items():
        # the pack closes with the first blob that reaches the target: never much past it
        assert 4_500 <= sum(payload_sizes(storage, pack_id)) < 4_500 + 1_000
        assert read_pack_entries(storage, pack_id) == [m.entry for m in members]
    assert [loc.entry.blob_id for loc in writer.locations()] == ids
    assert writer.stored_bytes == 25 * 1_000
    assert staged(storage) == []


def test_a_pack_of_tiny_blobs_ends_at_the_entry_limit(
    storage: LocalStorage, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(writer_module, "MAX_PACK_ENTRIES", 3)
    with PackWriter(storage) as writer:
        ids = [add(writer, b"tiny %d" % i) for i in range(7)]
    sizes = sorted(len(read_pack_entries(storage, k.split("/")[-1][:-5])) for k in packs(storage))
    assert sizes == [1, 3, 3]
    assert [loc.entry.blob_id for loc in writer.locations()] == ids


def test_the_last_pack_holds_the_remainder(storage: LocalStorage) -> None:
    with PackWriter(storage, target_size=2_500) as writer:
        for _ in range(7):
            add(writer, os.urandom(1_000))
    sizes = sorted(
        sum(payload_sizes(storage, key.rsplit("/", 1)[-1].removesuffix(".pack")))
        for key in packs(storage)
    )
    assert sizes == [1_000, 3_000, 3_000]


def test_a_blob_over_the_target_fills_a_pack_of_its_own(storage: LocalStorage) -> None:
    with PackWriter(storage, target_size=100) as writer:
        add(writer, os.urandom(5_000))
        add(writer, os.urandom(10))
        add(writer, os.urandom(5_000))
    assert len({loc.pack_id for loc in writer.locations()}) == 2
    assert len(packs(storage)) == 2


def test_offsets_and_payloads_read_back(storage: LocalStorage) -> None:
    contents = {blob_id_of(c): c for c in (os.urandom(n) for n in (0, 1, 700, 3_000, 12))}
    with PackWriter(storage) as writer:
        for blob_id, content in contents.items():
            writer.add(blob_id, Codec.RAW, content, len(content))
    assert len(packs(storage)) == 1
    read = {}
    for block in coalesce(writer.locations()):
        read.update((loc.entry.blob_id, data) for loc, data in read_block(storage, block))
    assert read == contents
    offsets = [loc.entry.offset for loc in writer.locations()]
    assert offsets == sorted(offsets)
    assert offsets[0] == 0


def test_nothing_is_visible_before_a_pack_is_complete(storage: LocalStorage) -> None:
    writer = PackWriter(storage, target_size=10_000)
    add(writer, os.urandom(3_000))
    assert packs(storage) == []
    assert len(staged(storage)) == 1  # written under tmp/, published by rename
    assert writer.locations() == []
    assert writer.stored_bytes == 0
    writer.close()
    assert len(packs(storage)) == 1
    assert len(writer.locations()) == 1
    assert staged(storage) == []


def test_close_without_a_blob_writes_no_pack(storage: LocalStorage) -> None:
    with PackWriter(storage) as writer:
        pass
    assert packs(storage) == []
    assert writer.locations() == []


def test_abort_leaves_nothing_of_the_pack_in_progress(storage: LocalStorage) -> None:
    writer = PackWriter(storage, target_size=1 << 20)
    add(writer, os.urandom(3_000))
    writer.abort(RuntimeError("stop"))
    assert packs(storage) == []
    assert staged(storage) == []
    assert writer.locations() == []
    writer.close()  # nothing left to publish
    assert packs(storage) == []


def fill_then_fail(writer: PackWriter, contents: list[bytes]) -> None:
    with writer:
        for content in contents:
            add(writer, content)
        raise RuntimeError("stop")


def test_abort_keeps_the_packs_already_published(storage: LocalStorage) -> None:
    contents = [os.urandom(1_000) for _ in range(5)]  # two packs full, one in progress
    writer = PackWriter(storage, target_size=2_000)
    with pytest.raises(RuntimeError, match="stop"):
        fill_then_fail(writer, contents)
    assert len(packs(storage)) == 2
    assert staged(storage) == []
    assert [loc.entry.blob_id for loc in writer.locations()] == [
        blob_id_of(c) for c in contents[:4]
    ]
    for pack_id in {loc.pack_id for loc in writer.locations()}:
        assert len(read_pack_entries(storage, pack_id)) == 2


def test_parallel_adds_each_land_once(storage: LocalStorage) -> None:
    contents = [os.urandom(500 + i) for i in range(200)]
    with PackWriter(storage, target_size=10_000) as writer, ThreadPoolExecutor(8) as pool:
        ids = list(pool.map(lambda c: add(writer, c), contents))
    assert sorted(loc.entry.blob_id for loc in writer.locations()) == sorted(ids)
    read = {}
    for block in coalesce(writer.locations()):
        read.update((loc.entry.blob_id, data) for loc, data in read_block(storage, block))
    assert read == {blob_id_of(c): c for c in contents}


def _packed_groups(writer: PackWriter) -> list[list[PackEntry]]:
    """The entries of each pack the writer published, pack after pack."""
    groups: dict[str, list[PackEntry]] = {}
    for location in writer.locations():
        groups.setdefault(location.pack_id, []).append(location.entry)
    return list(groups.values())


@pytest.mark.parametrize(("most", "groups"), [(65_536, [4, 1, 3]), (2, [2, 2, 1, 2, 1])])
def test_adding_many_at_once_rolls_packs_over_as_adding_one_by_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, most: int, groups: list[int]
) -> None:
    monkeypatch.setattr(writer_module, "MAX_PACK_ENTRIES", most)
    contents = [os.urandom(n) for n in (700, 0, 1_200, 900, 3_000, 10, 800, 1_500)]
    blobs = [(blob_id_of(c), int(Codec.RAW), c, len(c)) for c in contents]
    with PackWriter(LocalStorage(tmp_path / "one"), target_size=2_000) as one_by_one:
        for blob in blobs:
            one_by_one.add(*blob)
    with PackWriter(LocalStorage(tmp_path / "many"), target_size=2_000) as at_once:
        at_once.add_many(blobs[:5])
        at_once.add_many(blobs[5:])
    expected = _packed_groups(one_by_one)
    assert [len(group) for group in expected] == groups
    assert _packed_groups(at_once) == expected  # same entries, offsets and pack boundaries
    assert at_once.stored_bytes == one_by_one.stored_bytes == sum(map(len, contents))
