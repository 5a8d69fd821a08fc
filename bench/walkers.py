"""Time ways of walking a folder and stat-ing every file: what an unchanged sync cannot do without.

    python3 bench/walkers.py FOLDER [--runs 3]

Prints, per walker, the files found and the wall and CPU seconds of each run. `scandir-rs`
(a Rust walker on PyPI) is timed too when it is importable; `find` when on the PATH.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import shutil
import subprocess
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor


def scandir_stat(top: str) -> int:
    """What deltaset's walk does: os.scandir, then DirEntry.stat() for each file."""
    count, stack = 0, [top]
    while stack:
        with os.scandir(stack.pop()) as entries:
            for entry in entries:
                if entry.is_dir(follow_symlinks=False):
                    stack.append(entry.path)
                else:
                    entry.stat(follow_symlinks=False)
                    count += 1
    return count


def listing_only(top: str) -> int:
    count, stack = 0, [top]
    while stack:
        with os.scandir(stack.pop()) as entries:
            for entry in entries:
                if entry.is_dir(follow_symlinks=False):
                    stack.append(entry.path)
                else:
                    count += 1
    return count


def dir_fd_stat(top: str) -> int:
    """os.listdir of a folder descriptor, then os.stat of each name relative to it."""
    count, stack = 0, [top]
    while stack:
        folder = stack.pop()
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
        try:
            for name in os.listdir(fd):
                found = os.stat(name, dir_fd=fd, follow_symlinks=False)
                if found.st_mode & 0o170000 == 0o040000:
                    stack.append(f"{folder}/{name}")
                else:
                    count += 1
        finally:
            os.close(fd)
    return count


def threaded(top: str) -> int:
    """scandir_stat over each top-level folder in 4 threads (stat releases the GIL)."""
    with os.scandir(top) as entries:
        subs = [e.path for e in entries if e.is_dir(follow_symlinks=False)]
    with ThreadPoolExecutor(4) as pool:
        return sum(pool.map(scandir_stat, subs))


def rust_scandir(top: str) -> int:
    import scandir_rs as rs  # type: ignore[import-not-found]

    entries, _errors = rs.Scandir(top, return_type=rs.ReturnType.Ext).collect()
    return sum(1 for e in entries if e.is_file)


def find(top: str) -> int:
    out = subprocess.run(
        ["find", top, "-type", "f", "-printf", "%p %s %T@ %i\n"],
        capture_output=True,
        check=True,
    ).stdout
    return out.count(b"\n")


def walkers() -> dict[str, Callable[[str], int]]:
    found = {
        "os.scandir, no stat": listing_only,
        "os.scandir + DirEntry.stat": scandir_stat,
        "os.listdir(fd) + stat(dir_fd)": dir_fd_stat,
        "os.scandir + stat, 4 threads": threaded,
    }
    if importlib.util.find_spec("scandir_rs"):
        found["scandir-rs Ext"] = rust_scandir
    if shutil.which("find"):
        found["find -printf (C)"] = find
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    for name, walk in walkers().items():
        for _ in range(args.runs):
            wall, cpu = time.perf_counter(), time.process_time()
            children = os.times().children_user + os.times().children_system
            count = walk(args.folder)
            cpu_used = time.process_time() - cpu
            cpu_used += os.times().children_user + os.times().children_system - children
            print(
                f"{name}: {count} files, {time.perf_counter() - wall:.2f} s wall, "
                f"{cpu_used:.2f} s CPU",
                flush=True,
            )


if __name__ == "__main__":
    main()
