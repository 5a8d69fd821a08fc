"""The packs holding a view's files and the count of those the store lacks, found in one pass,
are what :meth:`BlobStore.packs_holding` and :meth:`BlobStore.unheld_positions` say."""

from __future__ import annotations

from pathlib import Path

import pytest

from deltaset.core.chunking import CHUNK_FROM
from deltaset.core.hashing import blob_id_of
from deltaset.core.manifest import Entry, Manifest
from deltaset.objects.store import BlobStore
from deltaset.storage.local import LocalStorage


def _put(store: BlobStore, *contents: bytes) -> list[str]:
    """Store ``contents`` in one pack; returns their ids."""
    with store.session(1 << 20) as session:
        for content in contents:
            session.put_bytes(blob_id_of(content), content)
    return [blob_id_of(c) for c in contents]


@pytest.fixture
def store(tmp_path: Path) -> BlobStore:
    return BlobStore(LocalStorage(tmp_path / "storage"))


def _separately(store: BlobStore, view: Manifest, among: list[int] | None) -> tuple[set[str], int]:
    return store.packs_holding(view, among), sum(1 for _ in store.unheld_positions(view, among))


@pytest.mark.parametrize("among", [None, [0, 2], [1, 3], []])
def test_whole_blobs_held_lacking_and_too_large_to_be_whole(
    store: BlobStore, among: list[int] | None
) -> None:
    (a,) = _put(store, b"in the first pack")
    (b,) = _put(store, b"in the second pack")
    view = Manifest(
        {
            "a": Entry(17, a),
            "b": Entry(18, b),
            "c": Entry(9, blob_id_of(b"never sent")),
            "d": Entry(CHUNK_FROM, a),  # held whole, but a file this large needs chunks
        }
    )
    found = store.packs_and_unheld(view, among)
    assert found == _separately(store, view, among)
    if among is None:
        packs = {store.location(a).pack_id, store.location(b).pack_id}
        assert found == (packs, 2)


def test_a_view_with_chunk_lists_is_looked_at_file_by_file(store: BlobStore) -> None:
    kept, one = _put(store, b"whole", b"chunk one")
    chunked = Entry(CHUNK_FROM, blob_id_of(b"big"), (one, blob_id_of(b"chunk two, lost")))
    view = Manifest({"a": Entry(5, kept), "b": chunked})
    assert store.packs_and_unheld(view) == _separately(store, view, None)
    assert store.packs_and_unheld(view) == ({store.location(kept).pack_id}, 1)
