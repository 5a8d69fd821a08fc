"""The floor of a pure-Python add: walk a folder, then open, read and hash (BLAKE3) each file
once, nothing else (no stat of the read, no packing, no catalog). Prints wall and CPU seconds.

    python bench/read_floor.py FOLDER
"""

from __future__ import annotations

import os
import sys
import time

import blake3


def walk(root: str) -> list[str]:
    found, folders = [], [root]
    while folders:
        with os.scandir(folders.pop()) as entries:
            for entry in entries:
                if entry.is_dir(follow_symlinks=False):
                    folders.append(entry.path)
                else:
                    found.append(entry.path)
    return found


def main() -> None:
    start, cpu = time.perf_counter(), time.process_time()
    files = walk(sys.argv[1])
    walked, walked_cpu = time.perf_counter(), time.process_time()
    buffer = bytearray(1 << 20)
    view = memoryview(buffer)
    for path in files:
        descriptor = os.open(path, os.O_RDONLY)
        try:
            count = os.readv(descriptor, [buffer])
        finally:
            os.close(descriptor)
        blake3.blake3(view[:count]).digest()
    done, done_cpu = time.perf_counter(), time.process_time()
    print(
        f"{len(files)} files: walk {walked - start:.2f} s (CPU {walked_cpu - cpu:.2f} s), "
        f"open + read + hash {done - walked:.2f} s (CPU {done_cpu - walked_cpu:.2f} s)"
    )


if __name__ == "__main__":
    main()
