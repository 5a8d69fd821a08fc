"""CPU time of the cache index's rows for one folder of N blobs, table by table, as a cold
get's publish wrote them (and as a deferred folder's listing writes them now).

    python bench/index_rows.py [N]        (N defaults to 200,000; run from the repository)
"""

from __future__ import annotations

import random
import sqlite3
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from deltaset import sqlitedb
from deltaset.cache import index as ix
from deltaset.cache.index import CacheIndex

COUNT = int(sys.argv[1]) if len(sys.argv) > 1 else 200_000
PIECE = 16_384


def main() -> None:
    rnd = random.Random(7)
    ids = sorted(rnd.randbytes(32) for _ in range(COUNT))
    stats = [tuple(rnd.getrandbits(b) for b in (40, 12, 60, 60)) for _ in range(COUNT)]
    pieces = [b"".join(ids[i : i + PIECE]) for i in range(0, COUNT, PIECE)]
    rows = [(raw, s[1], 1, *s) for raw, s in zip(ids, stats, strict=True)]

    def links(db: sqlite3.Connection, folder: int) -> None:
        db.executemany(ix._ADD_LINKS, ((len(p) // 32, p, folder) for p in pieces))

    def homes(db: sqlite3.Connection, folder: int) -> None:
        db.executemany(ix._ADD_HOMES, ((len(p) // 32, p, folder) for p in pieces))

    def blobs(db: sqlite3.Connection, folder: int) -> None:
        db.executemany("INSERT INTO cached_blobs VALUES (?, ?, ?, ?, ?, ?, ?)", rows)

    tables = {"folder_blobs": links, "blob_homes": homes, "cached_blobs": blobs}
    for _ in range(2):
        for name, write in tables.items():
            print(f"{name:14s} {timed(write):.3f} s CPU for {COUNT:,} rows")


def timed(write: Callable[[sqlite3.Connection, int], None]) -> float:
    with tempfile.TemporaryDirectory() as folder:
        index = CacheIndex(Path(folder) / "index.db")
        with sqlitedb.transaction(index._db) as db:
            row = db.execute("INSERT INTO folders (key) VALUES ('k') RETURNING id").fetchone()
            start = time.process_time()
            write(db, row[0])
            return time.process_time() - start


if __name__ == "__main__":
    main()
