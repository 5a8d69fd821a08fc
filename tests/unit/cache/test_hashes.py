"""The hash cache: known ids of unchanged files, found by device and inode ranges."""

from __future__ import annotations

import random
from pathlib import Path

from deltaset.cache.hashes import HashCache, _runs


def test_runs_cover_every_inode_and_split_at_large_gaps() -> None:
    assert list(_runs([])) == []
    assert list(_runs([5])) == [(5, 5)]
    assert list(_runs([1, 2, 3, 30, 31, 100])) == [(1, 3), (30, 31), (100, 100)]


def test_lookup_finds_exactly_the_unchanged_files(tmp_path: Path) -> None:
    cache = HashCache(tmp_path / "hashes.db")
    rng = random.Random(3)
    inodes = rng.sample(range(1, 200_000), 3000)  # neighbours and strangers alike
    known = {(d, i, i % 97, i * 7): f"{d:02x}{i:062x}" for d in (1, 2) for i in inodes}
    cache.remember(known.items())
    asked = [*known][::2]
    changed = [(d, i, size + 1, mtime) for d, i, size, mtime in [*known][1::4]]  # size differs
    unknown = [(1, 300_000 + n, 1, 1) for n in range(50)]
    found = cache.lookup(asked + changed + unknown)
    assert found == {key: known[key] for key in asked}
