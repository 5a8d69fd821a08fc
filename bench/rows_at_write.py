"""Time the paths that cache files one at a time outside a folder build, cold, for source
trees taking turns: a read in place of all of a chunked large file (``Dataset.open``), a
``get`` of a version of external files, and a ``get`` of the chunked file (assembled from
its chunks into the cache).

One home, its storage a folder, holds both versions; the cache is emptied before every
measure, each run in a process of its own. Wall seconds and the CPU seconds (user + system)
of that process; medians of ``--runs`` and each tree's ratio to the first tree's.

    python3 bench/rows_at_write.py --runs 3 --src /tmp/rowsatwrite-main/src src
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SRC = Path(__file__).resolve().parent.parent / "src"
READ = """
import sys
from deltaset import Dataset
with Dataset.get(dataset_id=sys.argv[1]).open("big.bin") as handle:
    while handle.read(1 << 20):
        pass
"""
MEASURES = ("read chunked", "get external", "get chunked")


def make_corpus(root: Path, big_mb: int, external: int) -> tuple[Path, Path]:
    chance = random.Random(11)
    big, linked = root / "big", root / "external"
    if not big.is_dir():
        big.mkdir(parents=True)
        with open(big / "big.bin", "wb") as file:
            for _ in range(big_mb):
                file.write(chance.randbytes(1 << 20))
    if not linked.is_dir():
        for number in range(external):
            folder = linked / f"d{number % 20:02d}"
            folder.mkdir(parents=True, exist_ok=True)
            size = chance.randint(4 << 10, 64 << 10)
            (folder / f"f{number:05d}.bin").write_bytes(chance.randbytes(size))
    return big, linked


def run(home: Path, src: Path, command: list[str]) -> tuple[float, float]:
    """Wall and CPU seconds of ``command`` run with ``src`` first on the path."""
    env = {**os.environ, "DELTASET_HOME": str(home), "PYTHONPATH": str(src.resolve())}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(command, env=env, capture_output=True, check=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
    return wall, cpu


def deltaset(home: Path, *args: str) -> str:
    env = {**os.environ, "DELTASET_HOME": str(home), "PYTHONPATH": str(SRC)}
    command = [sys.executable, "-m", "deltaset", *args]
    return subprocess.run(command, env=env, capture_output=True, text=True, check=True).stdout


def version(home: Path, name: str, *add: str) -> str:
    made = json.loads(deltaset(home, "create", "--project", "rows", "--name", name, "--json"))
    deltaset(home, "add", "--id", made["id"], *add, "-q")
    deltaset(home, "close", "--id", made["id"], "-q")
    return str(made["id"])


def one_run(
    home: Path, src: Path, ids: dict[str, str], found: dict[str, list[tuple[float, float]]]
) -> None:
    module = [sys.executable, "-m", "deltaset"]
    commands = {
        "read chunked": [sys.executable, "-c", READ, ids["big"]],
        "get external": [*module, "get", "--id", ids["external"]],
        "get chunked": [*module, "get", "--id", ids["big"]],
    }
    for name in MEASURES:
        shutil.rmtree(home / "cache", ignore_errors=True)
        found[name].append(run(home, src, commands[name]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--big-mb", type=int, default=256)
    parser.add_argument("--external", type=int, default=2000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--out", type=Path, default=Path("/tmp/deltaset-rows-at-write"))
    parser.add_argument("--src", nargs="+", type=Path, default=[SRC], help="trees to time")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    big, linked = make_corpus(args.out / "corpus", args.big_mb, args.external)
    home = Path(tempfile.mkdtemp(dir=args.out, prefix="home-"))
    try:
        ids = {
            "big": version(home, "big", "--files", str(big)),
            "external": version(home, "external", "--links", str(linked)),
        }
        found = {src: {name: [] for name in MEASURES} for src in args.src}
        for _ in range(args.runs):  # the trees take turns, so that machine noise hits all
            for src in args.src:
                one_run(home, src, ids, found[src])
    finally:
        shutil.rmtree(home, ignore_errors=True)
    print(f"{args.big_mb} MiB chunked file, {args.external} external files, {args.runs} runs")
    first = args.src[0]
    for src, times in found.items():
        print(f"{src}:")
        for name, runs in times.items():
            wall = statistics.median(w for w, _ in runs)
            cpu = statistics.median(c for _, c in runs)
            base_wall = statistics.median(w for w, _ in found[first][name])
            base_cpu = statistics.median(c for _, c in found[first][name])
            print(
                f"  {name:13} wall {wall:6.2f} s ({wall / base_wall:.2f}x)"
                f"  cpu {cpu:6.2f} s ({cpu / base_cpu:.2f}x)"
                f"  runs {[(round(w, 2), round(c, 2)) for w, c in runs]}"
            )


if __name__ == "__main__":
    main()
