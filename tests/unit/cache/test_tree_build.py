"""Building a cached folder with the blobs a pull fetches written straight into it."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import blake3
import pytest

from deltaset.cache.blobs import BlobCache
from deltaset.cache.links import LinkMode
from deltaset.core.manifest import Entry, Manifest

CONTENT = {"a.txt": b"alpha", "sub/b.txt": b"beta", "sub/again-a.txt": b"alpha"}


def entries() -> dict[str, Entry]:
    return {
        path: Entry(blob_id=blake3.blake3(data).hexdigest(), size=len(data))
        for path, data in CONTENT.items()
    }


def fetch_all(cache: BlobCache, key: str) -> Path:
    """What a cold pull does with a folder build: stage, store each fetched blob, publish."""
    manifest = Manifest(entries())
    content = {blake3.blake3(data).hexdigest(): data for data in CONTENT.values()}
    with cache.tree_build(key, LinkMode.HARDLINK) as build:
        build.stage(list(manifest.items()), 0, set(content))
        for blob_id in build.staged:
            build.store(blob_id, content[blob_id])
        return build.publish(manifest)


def test_a_blob_written_into_the_folder_is_the_cached_blob(tmp_path: Path) -> None:
    cache = BlobCache(tmp_path / "cache")
    tree = fetch_all(cache, "key")
    for path, data in CONTENT.items():
        placed = tree / path
        assert placed.read_bytes() == data
        blob = Path(cache.blob_file(blake3.blake3(data).hexdigest()))
        assert placed.stat().st_ino == blob.stat().st_ino  # one file, two names
        assert not placed.stat().st_mode & 0o222
    assert os.listdir(tmp_path / "cache" / "tmp") == []  # staging went with the publish


def test_a_blob_another_process_cached_meanwhile_is_linked_not_replaced(tmp_path: Path) -> None:
    cache = BlobCache(tmp_path / "cache")
    theirs = entries()["a.txt"].blob_id
    cache.store(theirs, b"alpha")
    inode = os.stat(cache.blob_file(theirs)).st_ino
    tree = fetch_all(cache, "key")
    assert os.stat(cache.blob_file(theirs)).st_ino == inode
    assert (tree / "a.txt").stat().st_ino == inode
    assert (tree / "a.txt").read_bytes() == b"alpha"


def test_where_hard_links_are_refused_the_cache_keeps_a_copy_of_its_own(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # No file system without hard links can be mounted here: the refusal is simulated.
    def refuse(*args: object, **kwargs: object) -> None:
        raise OSError(errno.EPERM, "hard links not supported")

    monkeypatch.setattr(os, "link", refuse)
    cache = BlobCache(tmp_path / "cache")
    tree = fetch_all(cache, "key")
    for path, data in CONTENT.items():
        assert (tree / path).read_bytes() == data
        assert Path(cache.blob_file(blake3.blake3(data).hexdigest())).read_bytes() == data
    assert cache.index.tree_copied_bytes("key") == sum(len(d) for d in CONTENT.values())


def test_an_unpublished_build_leaves_nothing_in_view(tmp_path: Path) -> None:
    cache = BlobCache(tmp_path / "cache")
    files = entries()
    with cache.tree_build("key", LinkMode.HARDLINK) as build:
        build.stage(list(Manifest(files).items()), 0, {files["a.txt"].blob_id})
        build.store(files["a.txt"].blob_id, b"alpha")
        # ended before publish: as when the pull fails or is interrupted
    assert not cache.has_tree("key")
    assert os.listdir(tmp_path / "cache" / "tmp") == []
    assert Path(cache.blob_file(files["a.txt"].blob_id)).read_bytes() == b"alpha"
