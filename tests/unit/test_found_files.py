"""The files a walk found, held compactly: the same files as objects, at a fraction of the
memory a file."""

from __future__ import annotations

import os
import tracemalloc
from pathlib import Path

import pytest

from deltaset.engine.found import FoundFiles, Landing, LocalFile

COUNT = 20_000


def _stat(path: Path) -> os.stat_result:
    return os.lstat(path)


def test_items_are_the_files_added_in_order(tmp_path: Path) -> None:
    first, second = tmp_path / "a", tmp_path / "b"
    first.write_bytes(b"one")
    second.write_bytes(b"three")
    outer, inner = Landing("data/", len(str(tmp_path)) + 1), Landing("", len(str(tmp_path)) + 1)
    found = FoundFiles()
    found.add(str(first), outer, _stat(first))
    found.add(str(second), inner, _stat(second))
    found.add(str(first), outer, _stat(first))
    expected = [
        LocalFile(str(first), outer, _stat(first)),
        LocalFile(str(second), inner, _stat(second)),
        LocalFile(str(first), outer, _stat(first)),
    ]

    def fields(item: LocalFile) -> tuple[object, ...]:
        return item.source, item.landing, item.size, item.key, item.ctime, item.path

    assert len(found) == 3
    assert [fields(f) for f in found] == [fields(f) for f in expected]
    assert [fields(f) for f in found[1:]] == [fields(f) for f in expected[1:]]
    assert fields(found[-1]) == fields(expected[-1])
    assert list(found.paths()) == ["data/a", "b", "data/a"]
    assert found.total_size() == 3 + 5 + 3
    with pytest.raises(IndexError):
        found[3]


def test_none_found() -> None:
    found = FoundFiles()
    assert (len(found), list(found), found[:], list(found.paths())) == (0, [], [], [])
    assert found.total_size() == 0


def test_a_field_too_large_for_the_array_is_kept(tmp_path: Path) -> None:
    path = tmp_path / "a"
    path.write_bytes(b"x")
    landing = Landing("", len(str(tmp_path)) + 1)
    real = _stat(path)
    huge = os.stat_result((real.st_mode, 1 << 100, *real[2:]))  # a 128-bit file id
    found = FoundFiles()
    found.add(str(path), landing, real)
    found.add(str(path), landing, huge)
    assert [f.key[1] for f in found] == [real.st_ino, 1 << 100]
    assert found.total_size() == 2


def _bytes_a_file(make: object, count: int, source: str, stat: os.stat_result) -> float:
    """Bytes held a file once ``count`` files are added (each its own path and stat ints)."""
    landing = Landing("", 1)
    sources = [f"{source}/{i:08d}" for i in range(count)]
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        # Each stat made as a walk makes it, then dropped: its fields stay as the holder keeps them.
        walked = ((name, _varied(stat, at)) for at, name in enumerate(sources))
        if make is FoundFiles:
            held: object = FoundFiles()
            for name, found in walked:
                held.add(name, landing, found)  # type: ignore[attr-defined]
        else:
            held = [LocalFile(name, landing, found) for name, found in walked]
        after = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    del held
    return (after - before) / count


def _varied(stat: os.stat_result, at: int) -> os.stat_result:
    """``stat`` with its own inode number and times (ints made anew, as a walk makes them)."""
    mode, ino, dev, nlink, uid, gid, size = stat[:7]
    times = [t + at for t in stat[7:10]]
    return os.stat_result(
        (mode, ino + at, dev + at, nlink, uid, gid, size, *times),
        {"st_mtime_ns": stat.st_mtime_ns + at, "st_ctime_ns": stat.st_ctime_ns + at},
    )


def test_a_found_file_costs_a_fraction_of_an_object_a_file(tmp_path: Path) -> None:
    path = tmp_path / "a"
    path.write_bytes(b"x" * 1000)
    stat = _stat(path)
    compact = _bytes_a_file(FoundFiles, COUNT, str(tmp_path), stat)
    objects = _bytes_a_file(list, COUNT, str(tmp_path), stat)
    # Paths are made before tracing: what is measured is what each structure adds.
    assert compact <= 64, compact  # five 8-byte fields and a list slot, with room to grow
    assert objects > 4 * compact
