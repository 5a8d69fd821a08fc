"""Time a first epoch over many small files read in place with ``Dataset.open``, against the
same files read from a pulled folder.

A corpus of ``--files`` incompressible files (``--min-kb`` to ``--max-kb``, as JPEG images are)
in ``--folders`` folders is added and closed once into a fresh home, its storage a folder.
Then, ``--runs`` times over, each measure in its own process:

- ``cold open``: the blob cache emptied, every file opened with ``Dataset.open`` and read
  whole, in the order ``list_files`` gives;
- ``warm open``: the same again, the cache now filled;
- ``pull + read``: the cache emptied, ``get_local_copy()``, then every file read with ``open``;
- ``read pulled``: the files of that folder read again (the page cache warm).

The medians, and the ratio of ``cold open`` to ``pull + read``, go to stdout. With several
``--src`` trees (e.g. a checkout of main and this one), the trees take turns in every run.

    python3 bench/read_in_place.py --files 3070 --runs 5 [--src /tmp/before/src src]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

SRC = Path(__file__).resolve().parent.parent / "src"  # --src measures another tree
MEASURE = """
import sys, time
from pathlib import Path
from deltaset import Dataset
kind, version = sys.argv[1], sys.argv[2]
start = time.perf_counter()
ds = Dataset.get(dataset_id=version)
if kind == "open":
    for path in ds.list_files():
        with ds.open(path) as handle:
            handle.read()
else:
    folder = Path(ds.get_local_copy())
    for path in ds.list_files():
        (folder / path).read_bytes()
first = time.perf_counter() - start
start = time.perf_counter()
if kind != "open":
    for path in ds.list_files():
        (folder / path).read_bytes()
print(first, time.perf_counter() - start)
"""


def make_corpus(folder: Path, files: int, folders: int, sizes: tuple[int, int]) -> None:
    chance = random.Random(7)
    for number in range(files):
        place = folder / f"class{number % folders:03d}"
        place.mkdir(parents=True, exist_ok=True)
        size = chance.randint(sizes[0] << 10, sizes[1] << 10)
        (place / f"img{number:06d}.jpg").write_bytes(chance.randbytes(size))


def deltaset(home: Path, *args: str) -> str:
    env = {**os.environ, "DELTASET_HOME": str(home), "PYTHONPATH": str(SRC)}  # makes the version
    command = [sys.executable, "-m", "deltaset", *args]
    return subprocess.run(command, env=env, capture_output=True, text=True, check=True).stdout


def measure(home: Path, kind: str, version: str, src: Path) -> tuple[float, float]:
    env = {**os.environ, "DELTASET_HOME": str(home), "PYTHONPATH": str(src.resolve())}
    command = [sys.executable, "-c", MEASURE, kind, version]
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=True)
    first, second = done.stdout.split()
    return float(first), float(second)


def forget_cache(home: Path) -> None:
    shutil.rmtree(home / "cache", ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=3070)
    parser.add_argument("--folders", type=int, default=37)
    parser.add_argument("--min-kb", type=int, default=20)
    parser.add_argument("--max-kb", type=int, default=200)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--out", type=Path, default=Path("/tmp/deltaset-read-in-place"))
    parser.add_argument("--src", nargs="+", type=Path, default=[SRC], help="trees to time")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    corpus = args.out / f"corpus-{args.files}-{args.min_kb}-{args.max_kb}"
    if not corpus.is_dir():
        make_corpus(corpus, args.files, args.folders, (args.min_kb, args.max_kb))
    home = Path(tempfile.mkdtemp(dir=args.out, prefix="home-"))
    try:
        version = json.loads(deltaset(home, "create", "--project", "b", "--name", "r", "--json"))
        deltaset(home, "add", "--id", version["id"], "--files", str(corpus), "-q")
        deltaset(home, "close", "--id", version["id"], "-q")
        found: dict[Path, dict[str, list[float]]] = {s: {n: [] for n in MEASURES} for s in args.src}
        for _ in range(args.runs):  # the trees take turns, so that machine noise hits all
            for src in args.src:
                one_run(home, version["id"], src, found[src])
    finally:
        shutil.rmtree(home, ignore_errors=True)
    sizes = f"{args.min_kb}-{args.max_kb} KB"
    print(f"{args.files} files of {sizes} in {args.folders} folders, medians of {args.runs} runs")
    for src, times in found.items():
        report(src, times)


MEASURES = ("cold", "warm", "pull", "pulled")


def one_run(home: Path, version: str, src: Path, found: dict[str, list[float]]) -> None:
    forget_cache(home)
    found["cold"].append(measure(home, "open", version, src)[0])
    found["warm"].append(measure(home, "open", version, src)[0])
    forget_cache(home)
    pull, pulled = measure(home, "pull", version, src)
    found["pull"].append(pull)
    found["pulled"].append(pulled)


def report(src: Path, found: dict[str, list[float]]) -> None:
    median = {name: statistics.median(times) for name, times in found.items()}
    ratio = median["cold"] / median["pull"]
    print(f"{src}:")
    print(f"  cold open    {median['cold']:.2f} s  ({ratio:.2f}x pull + read)")
    print(f"  warm open    {median['warm']:.2f} s")
    print(f"  pull + read  {median['pull']:.2f} s")
    print(f"  read pulled  {median['pulled']:.2f} s")
    print("  all runs:", json.dumps({n: [round(t, 3) for t in v] for n, v in found.items()}))


if __name__ == "__main__":
    main()
