"""Reading a found file: the walk's stat stands for the stat before the read, and a file not as
the walk saw it, or changed while it was read, is read again with a stat of its own."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from deltaset.core.hashing import blob_id_of
from deltaset.engine import scan
from deltaset.engine.scan import Landing, LocalFile

WALKED_NS = 1_600_000_000 * 10**9  # an mtime long settled


def found(path: Path, data: bytes) -> LocalFile:
    path.write_bytes(data)
    os.utime(path, ns=(WALKED_NS, WALKED_NS))
    return LocalFile(str(path), Landing("", len(str(path.parent)) + 1), os.stat(path))


def key_of(path: Path) -> tuple[int, int, int, int]:
    now = os.stat(path)
    return now.st_dev, now.st_ino, now.st_size, now.st_mtime_ns


def test_a_file_as_the_walk_saw_it_is_read_with_the_walks_key(tmp_path: Path) -> None:
    item = found(tmp_path / "a.txt", b"abc")
    assert scan._read_settled(item, keeping=True) == (item.key, blob_id_of(b"abc"), b"abc")
    assert scan._read_settled(item, keeping=False) == (item.key, blob_id_of(b"abc"), None)


@pytest.mark.parametrize("field", [0, 1, 2, 3], ids=["device", "inode", "size", "mtime"])
def test_a_file_the_walk_saw_otherwise_is_read_with_its_own_key(tmp_path: Path, field: int) -> None:
    item = found(tmp_path / "a.txt", b"abc")
    walked = list(item.key)
    walked[field] += 1  # what the walk saw of a file since rewritten or put in its place
    item.key = (walked[0], walked[1], walked[2], walked[3])
    assert scan._read_settled(item, keeping=True) == (
        key_of(tmp_path / "a.txt"),
        blob_id_of(b"abc"),
        b"abc",
    )


def test_a_file_rewritten_while_it_is_read_is_read_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "a.txt"
    item = found(path, b"old!")
    rewrites = [b"new!"]

    def rewrite(name: str) -> None:  # once, between the open and the read
        if name == "scan.read" and rewrites:
            path.write_bytes(rewrites.pop())
            os.utime(path, ns=(WALKED_NS + 10**9, WALKED_NS + 10**9))

    monkeypatch.setattr(scan, "failpoint", rewrite)
    key, blob_id, data = scan._read_settled(item, keeping=True)
    assert (key, blob_id, data) == (key_of(path), blob_id_of(b"new!"), b"new!")
    assert key[3] == WALKED_NS + 10**9  # not the walk's: its content was another


def test_a_file_that_keeps_changing_while_read_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "a.txt"
    item = found(path, b"0")
    reads = iter(range(1, 100))

    def rewrite(name: str) -> None:
        if name == "scan.read":
            at = next(reads)
            path.write_bytes(str(at).encode())
            os.utime(path, ns=(WALKED_NS + at, WALKED_NS + at))

    monkeypatch.setattr(scan, "failpoint", rewrite)
    with pytest.raises(scan.ChangedWhileRead):
        scan._read_settled(item, keeping=False)
    assert next(reads) == 1 + 1 + scan.READ_ATTEMPTS  # the walk's read, then every attempt


def test_a_large_file_changed_since_the_walk_is_read_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Only a small file is read as the walk saw it: a large one the walk saw otherwise would
    be read twice, all of it each time."""
    data = os.urandom(scan.STREAM_FROM)
    item = found(tmp_path / "big.bin", data)
    os.utime(tmp_path / "big.bin", ns=(WALKED_NS + 1, WALKED_NS + 1))  # changed since the walk
    reads: list[str] = []
    monkeypatch.setattr(scan, "failpoint", reads.append)
    key, blob_id, _ = scan._read_settled(item, keeping=False)
    assert (key, blob_id) == (key_of(tmp_path / "big.bin"), blob_id_of(data))
    assert reads == ["scan.read"]


def test_a_file_whose_ctime_moved_since_the_walk_is_read_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Its mtime may have been set back after a rewrite (``touch -d``, ``rsync -t``): only the
    ctime tells, and the read the walk's stat vouched for is not taken."""
    item = found(tmp_path / "a.txt", b"abc")
    item.ctime -= 1
    reads: list[str] = []
    monkeypatch.setattr(scan, "failpoint", reads.append)
    assert scan._read_settled(item, keeping=False) == (item.key, blob_id_of(b"abc"), None)
    assert reads == ["scan.read", "scan.read"]
