"""Placing cached blobs: hard links, symbolic links, and copies where links are impossible."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from deltaset.cache.links import LinkMode, partial_path, place
from tests.tmpfs import Mount


@pytest.fixture
def other_device(tmpfs: Mount) -> Path:
    """A folder on another file system, where hard links from ``tmp_path`` cannot go."""
    return tmpfs("other", "1m")


def blob(tmp_path: Path) -> Path:
    path = tmp_path / "blob"
    path.write_bytes(b"content")
    path.chmod(0o444)
    return path


def test_hard_link_shares_the_inode(tmp_path: Path) -> None:
    source = blob(tmp_path)
    assert place(source, tmp_path / "linked", LinkMode.HARDLINK) is LinkMode.HARDLINK
    assert (tmp_path / "linked").stat().st_ino == source.stat().st_ino


def test_symlink_points_at_the_blob(tmp_path: Path) -> None:
    source = blob(tmp_path)
    assert place(source, tmp_path / "soft", LinkMode.SYMLINK) is LinkMode.SYMLINK
    assert os.readlink(tmp_path / "soft") == str(source)


def test_copy_when_a_hard_link_is_impossible(tmp_path: Path, other_device: Path) -> None:
    source = blob(tmp_path)
    dest = other_device / "copied"
    assert place(source, dest, LinkMode.HARDLINK) is LinkMode.COPY
    assert dest.read_bytes() == b"content"
    assert dest.stat().st_ino != source.stat().st_ino
    assert not dest.stat().st_mode & 0o222  # read-only like the cache it stands for


def test_leftovers_of_dead_processes_are_swept_when_old(tmp_path: Path) -> None:
    from deltaset.cache.blobs import BlobCache
    from deltaset.storage.local import LocalStorage

    for root in (tmp_path / "cache", tmp_path / "storage"):
        (root / "tmp" / "tree-dead").mkdir(parents=True)
        (root / "tmp" / "dead.part").write_bytes(b"half")
        (root / "tmp" / "live.part").write_bytes(b"being written")
        day_ago = time.time() - 25 * 3600
        for name in ("tree-dead", "dead.part"):
            os.utime(root / "tmp" / name, (day_ago, day_ago))
    BlobCache(tmp_path / "cache")
    LocalStorage(tmp_path / "storage")
    for root in (tmp_path / "cache", tmp_path / "storage"):
        assert sorted(p.name for p in (root / "tmp").iterdir()) == ["live.part"]


def test_a_partial_file_is_named_beside_its_destination(tmp_path: Path) -> None:
    dest = tmp_path / "sub" / ("n" * 255)
    first, second = partial_path(dest), partial_path(str(dest))
    assert os.path.dirname(first) == os.path.dirname(second) == str(tmp_path / "sub")
    assert first != second
    assert len(os.path.basename(first)) < 64
    assert os.path.dirname(partial_path("bare-name")) == ""
