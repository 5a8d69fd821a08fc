"""Which base a new chunk is tried against: the chunk holding its lines, wherever they moved."""

from __future__ import annotations

import random
from pathlib import Path

from deltaset.core.hashing import blob_id_of
from deltaset.core.manifest import Entry
from deltaset.engine.deltas import ChunkBases, anchors
from deltaset.objects.store import BlobStore
from deltaset.storage.local import LocalStorage


def lines(seed: int, count: int) -> list[bytes]:
    rng = random.Random(seed)
    return [
        f"{seed}-{i:06d},{rng.randint(0, 10**9)},some words here\n".encode() for i in range(count)
    ]


def test_the_same_lines_give_the_same_anchors_wherever_they_are() -> None:
    body = b"".join(lines(1, 500))
    assert anchors(b"x\n" + body + b"tail") == anchors(b"other start\n" + body + b"y")
    assert anchors(body)


def test_a_chunk_whose_rows_moved_is_tried_against_the_chunk_holding_them(tmp_path: Path) -> None:
    store = BlobStore(LocalStorage(tmp_path))
    first, second = b"".join(lines(1, 2000)), b"".join(lines(2, 2000))
    with store.session() as session:
        for chunk in (first, second):
            session.put_bytes(blob_id_of(chunk), chunk)
    store.refresh()
    base = Entry(len(first) + len(second), "0" * 64, (blob_id_of(first), blob_id_of(second)))
    bases = ChunkBases.of(store, base)
    assert bases is not None
    widened = b"".join(line.replace(b"\n", b",new\n") for line in lines(2, 2000))
    chosen, raw = bases.base_for(0, widened)  # at the start, where the first chunk was
    assert chosen == blob_id_of(second)
    assert raw == second
