"""Time of the web catalog's engine calls on a version of 1,000,000 files (synthetic manifest:
1,000 folders of 10 subfolders of 100 files, plus 100 files at the root).

    PYTHONPATH=src python bench/browse.py [FILES]

Prints: the manifest decode, the first page (index built from the manifest, then one page),
and a warm page (index kept on disk, opened and read) at the root, in a folder and deep in it.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

from deltaset.core.manifest import Entry, Manifest
from deltaset.engine.browse import CHECK, folder_page, write_folder_index
from deltaset.engine.kept_indexes import open_index


def synthetic(count: int) -> Manifest:
    def rows() -> object:
        made = 0
        for top in range(count // 1000 + 1):
            for sub in range(10):
                for i in range(100):
                    if made >= count - 100:
                        return
                    made += 1
                    yield f"d{top:05d}/s{sub:02d}/f{i:04d}.jpg", Entry(made, f"{made:064x}")

    files = list(rows())  # type: ignore[call-overload]
    files += [(f"root{i:03d}.txt", Entry(i, f"{i:064x}")) for i in range(100)]
    return Manifest.from_sorted(sorted(files))


def timed(label: str, call: object) -> object:
    start = time.perf_counter()
    result = call()  # type: ignore[operator]
    print(f"{label}: {(time.perf_counter() - start) * 1000:.1f} ms")
    return result


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    manifest = synthetic(count)
    stored = manifest.to_bytes()
    print(f"{len(manifest):,} files, stored manifest {len(stored):,} bytes")
    with tempfile.TemporaryDirectory() as tmp:
        target = Path(tmp) / "index.sqlite"
        decoded = timed("decode manifest", lambda: Manifest.from_bytes(stored))
        timed("build folder index", lambda: write_folder_index(decoded, target))  # type: ignore[arg-type]
        print(f"index size {target.stat().st_size:,} bytes")
        for folder, offset in (("", 0), ("", 900), ("d00500", 0), ("d00500/s05", 50)):
            for sort in ("name", "size"):

                def page(folder: str = folder, offset: int = offset, sort: str = sort) -> object:
                    db = open_index(target, CHECK)
                    assert db is not None
                    try:
                        return folder_page(db, folder, offset, 100, sort)  # type: ignore[arg-type]
                    finally:
                        db.close()

                found = timed(f"warm page {folder or '/'} offset {offset} by {sort}", page)
                assert found is not None


if __name__ == "__main__":
    main()
