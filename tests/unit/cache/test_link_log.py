"""The sweep of what killed builds linked into the cache, when the index cannot take rows."""

from __future__ import annotations

import os
from pathlib import Path

import blake3

from deltaset.cache.blobs import BlobCache
from deltaset.cache.link_log import SUFFIX, recover_killed_builds

DATA = b"orphaned blob"
BLOB = blake3.blake3(DATA).hexdigest()


def leave_a_killed_build(cache: BlobCache) -> str:
    """A blob linked into ``blobs/`` by a build killed before its rows: its log, unlocked."""
    path = Path(cache.blob_file(BLOB))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(DATA)
    log = f"{cache.root}/tmp/tree-killed{SUFFIX}"
    Path(log).write_text(f"{BLOB}\n")
    return log


def test_a_sweep_that_cannot_write_rows_keeps_the_log_for_the_next(tmp_path: Path) -> None:
    cache = BlobCache(tmp_path / "cache")
    log = leave_a_killed_build(cache)
    cache.index._db.execute("PRAGMA query_only = 1")  # as a full disk refuses the rows
    recover_killed_builds(cache)
    assert os.path.exists(log)
    assert cache.index.known([BLOB]) == {}

    cache.index._db.execute("PRAGMA query_only = 0")
    recover_killed_builds(cache)
    assert not os.path.exists(log)
    stat = os.stat(cache.blob_file(BLOB))
    assert cache.index.known([BLOB]) == {
        BLOB: (stat.st_ino, len(DATA), stat.st_mtime_ns, stat.st_ctime_ns)
    }
    assert cache.index.blob_totals() == (1, len(DATA))
