"""The cache index alone, no files: the rows a cold get of COUNT blobs writes (its folder, its
blobs and their stats), then `known` of all of them as a warm get looks them up. Prints CPU
seconds of each and the index file's bytes a blob.

    python bench/cache_index.py SRC COUNT

SRC is a source tree (`git archive REV src`) to import deltaset from; works with the index
of main before and after the raw-id keys (commit 9f245db).
"""

from __future__ import annotations

import inspect
import resource
import sys
import tempfile
from pathlib import Path

src, count = sys.argv[1], int(sys.argv[2])
sys.path.insert(0, src)

import blake3  # noqa: E402

from deltaset.cache.index import CacheIndex  # noqa: E402

PIECE = 16384
raw = sorted(blake3.blake3(str(i).encode()).digest() for i in range(count))
hexes = [r.hex() for r in raw]
stats = [(i + 10**7, 60, 10**18 + i, 10**18 + i) for i in range(count)]
raw_keys = "ids" in inspect.signature(CacheIndex.add_tree).parameters


def cpu() -> float:
    used = resource.getrusage(resource.RUSAGE_SELF)
    return used.ru_utime + used.ru_stime


folder = Path(tempfile.mkdtemp())
index = CacheIndex(folder / "index.db")
start = cpu()
if raw_keys:
    pieces = (b"".join(raw[i : i + PIECE]) for i in range(0, count, PIECE))
    index.add_tree("key", 0, pieces, ((r, 60, s) for r, s in zip(raw, stats, strict=True)))
else:
    index.add_tree("key", 0, lambda: ((h, 60) for h in hexes))  # type: ignore[arg-type,call-arg]
    index.record_stats(zip(hexes, stats, strict=True), in_order=True)
writes = cpu() - start
start = cpu()
found = index.known(hexes)
lookups = cpu() - start
assert len(found) == count
assert None not in found.values()
index._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
size = (folder / "index.db").stat().st_size / count
print(f"{src} writes {writes:.2f} s known {lookups:.2f} s index {size:.0f} bytes a blob")
