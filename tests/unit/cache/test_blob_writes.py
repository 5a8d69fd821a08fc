"""Blobs written into the cache one at a time carry the stat they had as written, in their
rows and in the log a sweep reads after a kill."""

from __future__ import annotations

import os
from pathlib import Path

import blake3

from deltaset.cache.blobs import BlobCache
from deltaset.cache.trees import stat_of

LINKED = "e" * 64  # an external file's id: no hash of its bytes


def placed(cache: BlobCache, blob_id: str, data: bytes) -> Path:
    """A file in ``blobs/`` without a row, as a process killed before its rows leaves it."""
    path = Path(cache.blob_file(blob_id))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def killed_log(cache: BlobCache, text: str) -> None:
    """The log of a process that died (no one holds it locked)."""
    (cache.root / "tmp" / "pull-dead.linked").write_text(text)


def logged(blob_id: str, path: Path) -> str:
    return f"{blob_id} {' '.join(map(str, stat_of(path.stat())))}\n"


def test_rows_carry_the_stat_each_file_had_as_written(tmp_path: Path) -> None:
    cache = BlobCache(tmp_path / "cache")
    blob_id = blake3.blake3(b"alpha").hexdigest()
    with cache.writes() as writes:
        writes.expect([blob_id])
        written = cache.store(blob_id, b"alpha")
        assert written == stat_of(os.stat(cache.blob_file(blob_id)))
        writes.written(blob_id, 5, written)
        assert cache.index.known([blob_id]) == {}  # rows at the end of the batch
    assert cache.index.known([blob_id]) == {blob_id: written}
    assert os.listdir(cache.root / "tmp") == []  # its log went with its rows


def test_a_sweep_keeps_a_file_with_its_logged_stat_without_hashing_it(tmp_path: Path) -> None:
    cache = BlobCache(tmp_path / "cache")
    file = placed(cache, LINKED, b"external bytes")
    killed_log(cache, f"{LINKED}\n" + logged(LINKED, file))
    swept = BlobCache(cache.root)
    assert swept.index.known([LINKED]) == {LINKED: stat_of(file.stat())}
    assert swept.usage().blob_bytes == len(b"external bytes")


def test_a_sweep_removes_a_file_whose_stat_moved_or_whose_stat_line_was_cut(
    tmp_path: Path,
) -> None:
    cache = BlobCache(tmp_path / "cache")
    moved = placed(cache, LINKED, b"external bytes")
    line = logged(LINKED, moved)
    moved.write_bytes(b"written into")  # since it was logged
    cut_id = "f" * 64
    cut = placed(cache, cut_id, b"other bytes")
    killed_log(cache, f"{LINKED}\n{cut_id}\n{line}{logged(cut_id, cut)[:-3]}")
    swept = BlobCache(cache.root)
    assert not moved.exists()
    assert not cut.exists()
    assert swept.usage().blob_count == 0
