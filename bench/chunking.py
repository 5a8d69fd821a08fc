"""Choosing the average chunk size: dedup, index entries and throughput on the `large` corpus.

For each average size, chunks every file of v1 and v2 and reports the bytes v2 adds (chunks v1
lacks), the number of chunks (index entries), and chunking + hashing throughput.

Usage: python bench/chunking.py CORPUS_DIR [--sizes 65536 262144 1048576] [--out FILE]
CORPUS_DIR holds v1/ and v2/ as written by make_corpus.py (e.g. /tmp/corpus/large).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import blake3
from pyfastcdc import FastCDC

MIB = 1 << 20


def chunk_ids(folder: Path, average: int) -> tuple[dict[str, int], float, int]:
    cutter = FastCDC(average, min_size=average // 4, max_size=average * 4)
    ids: dict[str, int] = {}
    total = 0
    start = time.perf_counter()
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            for chunk in cutter.cut_file(str(path)):
                ids[blake3.blake3(chunk.data).hexdigest()] = chunk.length
                total += chunk.length
    return ids, time.perf_counter() - start, total


def measure(corpus: Path, average: int) -> dict[str, float]:
    v1, seconds, total = chunk_ids(corpus / "v1", average)
    v2, _, _ = chunk_ids(corpus / "v2", average)
    new = sum(size for chunk, size in v2.items() if chunk not in v1)
    return {
        "average KiB": average / 1024,
        "v2 new bytes (MiB)": new / MIB,
        "chunks in v1": len(v1),
        "index bytes for v1 (73 B/entry)": len(v1) * 73,
        "chunk+hash MB/s": total / seconds / 1e6,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("corpus", type=Path)
    parser.add_argument("--sizes", type=int, nargs="+", default=[64 << 10, 256 << 10, 1 << 20])
    args = parser.parse_args()
    rows = [measure(args.corpus, size) for size in args.sizes]
    keys = list(rows[0])
    print("| " + " | ".join(keys) + " |")
    print("|" + "---|" * len(keys))
    for row in rows:
        print("| " + " | ".join(f"{row[k]:,.1f}" for k in keys) + " |")


if __name__ == "__main__":
    main()
