"""Parts of a partial pull: disjoint, complete, balanced, mixed across folders and stable."""

from __future__ import annotations

import random

import pytest

from deltaset.core.manifest import Entry, Manifest
from deltaset.core.parts import positions_of_part

BLOB = "0" * 64


def manifest(sizes: dict[str, int]) -> Manifest:
    return Manifest({path: Entry(size, BLOB) for path, size in sizes.items()})


def split(version: Manifest, num_parts: int) -> list[list[str]]:
    return [
        [version.path_at(at) for at in positions_of_part(version, part, num_parts)]
        for part in range(num_parts)
    ]


# Three classes of images, each in its own folder, of sizes that vary within a class.
rng = random.Random(7)
CLASSES = manifest(
    {
        f"{label}/img{n:04d}.jpg": rng.randrange(1_000, 50_000)
        for label in ("cat", "dog", "fox")
        for n in range(300)
    }
)


@pytest.mark.parametrize("num_parts", [1, 2, 3, 4, 7])
def test_parts_are_disjoint_and_hold_every_file(num_parts: int) -> None:
    parts = split(CLASSES, num_parts)
    every = [path for part in parts for path in part]
    assert sorted(every) == list(CLASSES)
    assert len(every) == len(set(every))
    assert all(part == sorted(part) for part in parts)  # in path order, as pulls expect


def test_parts_are_balanced_by_files_and_bytes() -> None:
    parts = split(CLASSES, 4)
    counts = [len(part) for part in parts]
    sizes = [sum(CLASSES[p].size for p in part) for part in parts]
    assert max(counts) - min(counts) <= 0.02 * len(CLASSES) / 4
    assert max(sizes) - min(sizes) <= 0.02 * CLASSES.total_size / 4


def test_each_part_holds_files_of_every_folder() -> None:
    for part in split(CLASSES, 3):
        shares = {label: sum(p.startswith(label) for p in part) for label in ("cat", "dog", "fox")}
        assert all(80 <= share <= 120 for share in shares.values()), shares


def test_the_split_depends_only_on_the_files_and_the_number_of_parts() -> None:
    again = manifest({path: CLASSES[path].size for path in reversed(list(CLASSES))})
    assert split(again, 4) == split(CLASSES, 4)
    assert split(CLASSES, 3) != split(CLASSES, 4)[:3]


def test_empty_files_are_spread_too() -> None:
    counts = [len(part) for part in split(manifest({f"f{n}": 0 for n in range(9)}), 3)]
    assert counts == [3, 3, 3]
