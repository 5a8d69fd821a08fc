"""Which blobs a pull must fetch: the cache index says which it may hold, one stat each says
whether it still holds them as recorded."""

from __future__ import annotations

import os
from pathlib import Path

import blake3

from deltaset.cache.blobs import BlobCache
from deltaset.core.manifest import Entry

DATA = b"some cached bytes"
BLOB = blake3.blake3(DATA).hexdigest()
ENTRY = {BLOB: Entry(blob_id=BLOB, size=len(DATA))}


def test_a_blob_file_the_index_never_accounted_for_is_fetched_again(tmp_path: Path) -> None:
    """As a pull killed after linking a blob but before writing its rows leaves it: looking
    for it would cost every cold pull a failing stat a blob."""
    cache = BlobCache(tmp_path / "cache")
    cache.store(BLOB, DATA)
    assert cache.missing(ENTRY) == [BLOB]


def test_a_blob_accounted_for_without_a_stat_is_hashed_then_trusted(tmp_path: Path) -> None:
    cache = BlobCache(tmp_path / "cache")
    cache.store(BLOB, DATA)
    cache.remember([(BLOB, len(DATA))], stats=False)
    assert cache.missing(ENTRY) == []
    found = os.stat(cache.blob_file(BLOB))
    assert cache.index.known([BLOB]) == {
        BLOB: (found.st_ino, found.st_size, found.st_mtime_ns, found.st_ctime_ns)
    }


def test_an_accounted_blob_whose_bytes_changed_is_missing_and_removed(tmp_path: Path) -> None:
    cache = BlobCache(tmp_path / "cache")
    cache.store(BLOB, DATA)
    cache.remember([(BLOB, len(DATA))])
    path = Path(cache.blob_file(BLOB))
    path.chmod(0o644)
    path.write_bytes(DATA.upper())
    assert cache.missing(ENTRY) == [BLOB]
    assert not path.exists()
    assert cache.index.known([BLOB]) == {BLOB: None}  # its size still counts until fetched


def test_an_accounted_blob_whose_file_is_gone_is_missing(tmp_path: Path) -> None:
    cache = BlobCache(tmp_path / "cache")
    cache.store(BLOB, DATA)
    cache.remember([(BLOB, len(DATA))])
    os.unlink(cache.blob_file(BLOB))
    assert cache.missing(ENTRY) == [BLOB]
