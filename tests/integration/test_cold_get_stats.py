"""A cold get records the stat of every blob it fetched as the blob stands once linked, so the
next use of each trusts it at one stat instead of hashing it again."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from deltaset import Dataset
from deltaset.cache.index import CacheIndex
from deltaset.cache.trees import stat_of
from tests.conftest import make_files, verify_homes
from tests.damage import cached_blob_in

FILES: dict[str, bytes | str] = {
    "a.txt": "first",
    "sub/b.txt": "second",
    "sub/same-as-a.txt": "first",
    "c/d/e.bin": os.urandom(3000),
}


def test_every_blob_of_a_cold_get_has_its_linked_stat_recorded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As its file in the folder built, its home, stands once linked."""
    ds = Dataset.create(dataset_name="stats", dataset_project="cold")
    ds.add_files(str(make_files(tmp_path / "src", FILES)))
    ds.finalize(auto_upload=True)
    cache = tmp_path / "cold-cache"
    monkeypatch.setenv("DELTASET_CACHE_DIR", str(cache))
    folder = Path(Dataset.get(dataset_id=ds.id).get_local_copy())
    assert not any((cache / "blobs").iterdir())
    blobs = verify_homes(cache)
    assert len(blobs) == 3
    recorded = CacheIndex(cache / "index.db").stats(blobs)
    assert recorded == {b: stat_of(os.stat(cached_blob_in(cache, b))) for b in blobs}
    assert (folder / "sub" / "same-as-a.txt").read_text() == "first"
