"""How long a chain of deltas may grow: at most one line delta rebuilds a blob, however many
versions revised every line of a table."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from deltaset.core.hashing import blob_id_of
from deltaset.objects import store as store_module
from deltaset.objects.store import BlobStore
from deltaset.packs.codec import Codec
from deltaset.storage.local import LocalStorage


def scored(version: int, count: int = 4000) -> bytes:
    """A table whose last column (a score) is computed again for every row each version."""
    rows = random.Random(7)
    words = ["alpha", "beta", "gamma", "delta"]
    return b"".join(
        b"%07d,item-%d,%s,%.6f\n"
        % (
            i,
            rows.randint(0, 10**6),
            " ".join(rows.choices(words, k=4)).encode(),
            random.Random(version * 100_003 + i).random(),
        )
        for i in range(count)
    )


def stored_chain(tmp_path: Path, count: int) -> tuple[BlobStore, list[bytes], list[str]]:
    """``count`` versions, each stored against the one before."""
    store = BlobStore(LocalStorage(tmp_path))
    contents = [scored(v) for v in range(count)]
    ids = [blob_id_of(data) for data in contents]
    with store.session() as session:
        session.put_bytes(ids[0], contents[0])
    for at in range(1, count):
        with store.session() as session:
            session.put_similar(ids[at], contents[at], ids[at - 1], contents[at - 1])
        store.refresh()
    return store, contents, ids


def codec_of(store: BlobStore, blob_id: str) -> Codec:
    return Codec(store.location(blob_id).entry.codec)


def test_a_line_delta_is_not_stored_on_a_chain_holding_one_already(tmp_path: Path) -> None:
    store, contents, ids = stored_chain(tmp_path, 5)
    assert [codec_of(store, i) for i in ids[1:]] == [Codec.RUNS] * 4
    assert [store.index.line_deltas_of(i) for i in ids] == [0, 1, 1, 1, 1]
    assert {store.index.base_of(i) for i in ids[1:]} == {ids[0]}  # the chain's start
    found: dict[str, bytes] = {}
    BlobStore(store.storage).read(ids, found.__setitem__)
    assert found == dict(zip(ids, contents, strict=True))


def test_without_the_bound_every_version_adds_a_line_delta_to_the_chain(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(store_module, "MAX_LINE_DELTAS", 99)
    store, _, ids = stored_chain(tmp_path, 5)
    assert [store.index.line_deltas_of(i) for i in ids] == [0, 1, 2, 3, 4]
