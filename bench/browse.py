"""Server time of the web catalog's engine calls on versions of 1,000,000 files.

    PYTHONPATH=$PWD/src python bench/browse.py [FILES]

Two final versions are registered in a throwaway embedded catalog with synthetic manifests
(1,000 folders of 10 subfolders of 100 files, 100 files at the root; the second changes three
files), so no file bytes are written: browsing and comparing read only manifests. Each call
runs in a fresh Context, as a new server process would, so nothing is decoded in memory
beforehand: "first" builds the kept index (reading and decoding the manifest), "warm" reads it.
"""

from __future__ import annotations

import dataclasses
import os
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from typing import TypeVar

from deltaset import Dataset
from deltaset.core.manifest import Entry, Manifest
from deltaset.core.records import State, VersionRecord
from deltaset.engine.browse import browse
from deltaset.engine.context import Context
from deltaset.engine.diff import change_page

T = TypeVar("T")


def synthetic(count: int) -> Manifest:
    def rows() -> Iterator[tuple[str, Entry]]:
        made = 0
        for top in range(count // 1000 + 1):
            for sub in range(10):
                for i in range(100):
                    if made >= count - 100:
                        return
                    made += 1
                    yield f"d{top:05d}/s{sub:02d}/f{i:04d}.jpg", Entry(made, f"{made:064x}")

    files = list(rows())
    files += [(f"root{i:03d}.txt", Entry(i, f"{i:064x}")) for i in range(100)]
    return Manifest.from_sorted(sorted(files))


def registered(manifest: Manifest, parents: list[str]) -> VersionRecord:
    """A final version of ``manifest`` in the catalog (its files never stored)."""
    draft = Dataset.create(dataset_name="many", dataset_project="bench", parent_datasets=parents)
    stats = dataclasses.replace(
        draft.record.stats, file_count=len(manifest), total_size=manifest.total_size
    )
    final = dataclasses.replace(draft.record, state=State.FINAL, stats=stats)
    ctx = Context()
    ctx.catalog.finalize(final, manifest.to_bytes())
    found = ctx.catalog.get(final.id)
    ctx.close()
    return found


def timed(label: str, call: Callable[[Context], T]) -> T:
    ctx = Context()
    start = time.perf_counter()
    result = call(ctx)
    print(f"| {label} | {(time.perf_counter() - start) * 1000:,.1f} ms |")
    ctx.close()
    return result


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    with tempfile.TemporaryDirectory() as home:
        os.environ["DELTASET_HOME"] = home
        one = synthetic(count)
        two = one.changed(
            {
                "d00500/s05/new.jpg": Entry(5, "ab" * 32),
                "d00001/s01/f0001.jpg": Entry(9, "cd" * 32),
            },
            ["d00002/s02/f0002.jpg"],
        )
        v1 = registered(one, [])
        v2 = registered(two, [v1.id])
        print(f"| {len(one):,} files | |\n|---|---|")
        timed("browse /, first (builds the folder index)", lambda c: browse(c, v2))
        for folder, offset, sort in (
            ("", 0, "name"),
            ("", 900, "name"),
            ("", 900, "size"),
            ("d00500", 0, "name"),
            ("d00500/s05", 50, "size"),
        ):
            timed(
                f"browse {folder or '/'} offset {offset} by {sort}, warm",
                lambda c, f=folder, o=offset, s=sort: browse(c, v2, f, o, 100, s),  # type: ignore[misc]
            )
        timed("compare, first (diffs, keeps the changes)", lambda c: change_page(c, v1, v2))
        timed("compare, warm", lambda c: change_page(c, v1, v2))
        timed("compare filtered 'd00500', warm", lambda c: change_page(c, v1, v2, "d00500"))


if __name__ == "__main__":
    main()
