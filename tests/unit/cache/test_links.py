"""Placing cached blobs: hard links, symbolic links, and copies where links are impossible."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from deltaset.cache.links import LinkMode, place


@pytest.fixture
def other_device(tmp_path: Path) -> Iterator[Path]:
    """A folder on another file system, where hard links from ``tmp_path`` cannot go."""
    mount = tmp_path / "other"
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount)], check=True)
    try:
        yield mount
    finally:
        subprocess.run(["umount", str(mount)], check=True)


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
