"""Reading blobs stored as chains of deltas: rebuilt byte for byte, each asked-for blob checked
against its hash, and a damaged base named even though bases are not hashed one by one."""

from __future__ import annotations

import random
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from deltaset.core.hashing import blob_id_of
from deltaset.errors import IntegrityError
from deltaset.objects import store as store_module
from deltaset.objects.store import BlobStore
from deltaset.packs import reader
from deltaset.packs.writer import pack_key
from deltaset.storage.local import LocalStorage


def versions(count: int) -> list[bytes]:
    """A table of rows, each version with a few rows revised and some added."""
    rng = random.Random(3)
    rows = [f"{i},{rng.randint(0, 10**9)},words here\n".encode() for i in range(3000)]
    found = []
    for _ in range(count):
        found.append(b"".join(rows))
        for at in rng.sample(range(len(rows)), 15):
            rows[at] = f"{at},{rng.randint(0, 10**9)},revised\n".encode()
        rows += [f"{len(rows)},{rng.randint(0, 10**9)},new\n".encode() for _ in range(60)]
    return found


def chained(tmp_path: Path, count: int) -> tuple[BlobStore, list[bytes], list[str]]:
    """``count`` versions stored as a chain, the first whole and uncompressed (raw: damage to
    it decodes all the same, and only a hash tells)."""
    store = BlobStore(LocalStorage(tmp_path))
    contents = versions(count)
    ids = [blob_id_of(data) for data in contents]
    with store.session(compress=False) as session:
        session.put_bytes(ids[0], contents[0])
    for at in range(1, count):
        with store.session() as session:
            session.put_similar(ids[at], contents[at], ids[at - 1], contents[at - 1])
        store.refresh()
    assert [store.index.depth_of(i) for i in ids] == list(range(count))
    return store, contents, ids


def read_all(store: BlobStore, ids: list[str]) -> dict[str, bytes]:
    found: dict[str, bytes] = {}
    store.read(ids, found.__setitem__)
    return found


def test_a_chain_is_rebuilt_byte_for_byte_whichever_versions_are_asked(tmp_path: Path) -> None:
    store, contents, ids = chained(tmp_path, 5)
    assert read_all(BlobStore(store.storage), ids[-1:]) == {ids[-1]: contents[-1]}
    together = read_all(BlobStore(store.storage), ids[::-1])
    assert together == dict(zip(ids, contents, strict=True))


def test_one_read_fetches_every_level_of_its_chains_with_one_set_of_threads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A pool of threads for each level read started 188 threads for one pull of a table."""
    store = BlobStore(LocalStorage(tmp_path))
    wanted: dict[str, bytes] = {}
    for chain in range(5):  # a pack each blob: five blocks to fetch at every level
        contents = [b"chain %d\n" % chain + data for data in versions(4)]
        ids = [blob_id_of(data) for data in contents]
        with store.session() as session:
            session.put_bytes(ids[0], contents[0])
        for at in range(1, 4):
            with store.session() as session:
                session.put_similar(ids[at], contents[at], ids[at - 1], contents[at - 1])
            store.refresh()
        assert store.index.depth_of(ids[-1]) == 3
        wanted[ids[-1]] = contents[-1]
    threads: list[str] = []
    real = store_module.read_block

    def noted(*args: object, **kwargs: object) -> Iterator[tuple[object, bytes]]:
        threads.append(threading.current_thread().name)
        yield from real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(store_module, "read_block", noted)
    found: dict[str, bytes] = {}
    BlobStore(store.storage).read(list(wanted), found.__setitem__, max_workers=4)
    assert found == wanted
    assert len(threads) == 5 * 4  # every level's blocks, each fetched once
    assert len({name.rsplit("_", 1)[0] for name in threads}) == 1  # one pool
    assert len(set(threads)) <= 4


def test_a_read_hashes_the_blobs_asked_for_and_not_every_base_of_their_chains(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store, contents, ids = chained(tmp_path, 5)
    hashed: list[int] = []

    def counted(data: bytes) -> str:
        hashed.append(len(data))
        return blob_id_of(data)

    monkeypatch.setattr(reader, "blob_id_of", counted)
    assert read_all(BlobStore(store.storage), ids[-1:]) == {ids[-1]: contents[-1]}
    assert hashed == [len(contents[-1])]


def test_a_damaged_base_is_named_when_a_blob_rebuilt_from_it_does_not_match(
    tmp_path: Path,
) -> None:
    store, _, ids = chained(tmp_path, 4)
    first = store.location(ids[0])
    pack = tmp_path / pack_key(first.pack_id)
    data = bytearray(pack.read_bytes())
    data[first.entry.offset + first.entry.length // 2] ^= 0x01  # raw: still "decodes"
    pack.write_bytes(bytes(data))
    with pytest.raises(IntegrityError, match=f"blob {ids[0]} .*does not match its hash"):
        read_all(BlobStore(store.storage), ids[-1:])
