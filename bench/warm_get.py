"""Time a warm ``deltaset get`` (the version's folder already cached) for one or more source
trees, on the `many` corpus of /work/shared/bench/make_corpus.py (20,000 files at --scale 0.02).

Each source tree gets a fresh home: create + close of the corpus's v1, one cold ``get``, then
``--runs`` warm ``get`` processes, timed; then the same in one process (``get_local_copy()``,
which leaves out the interpreter's start). The medians go to stdout.

    python3 bench/warm_get.py --src /tmp/before/src src --runs 5
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

MAKE_CORPUS = Path("/work/shared/bench/make_corpus.py")
IN_PROCESS = """
import statistics, sys, time
from deltaset import Dataset
ds = Dataset.get(dataset_id=sys.argv[1])
ds.get_local_copy()
times = []
for _ in range(int(sys.argv[2])):
    start = time.perf_counter()
    ds.get_local_copy()
    times.append(time.perf_counter() - start)
print(statistics.median(times))
"""


def deltaset(src: Path, home: Path, *args: str) -> str:
    env = {**os.environ, "DELTASET_HOME": str(home), "PYTHONPATH": str(src.resolve())}
    done = subprocess.run(
        [sys.executable, "-m", "deltaset", *args],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout


def measure(src: Path, corpus: Path, runs: int, work: Path) -> dict[str, float]:
    home = Path(tempfile.mkdtemp(dir=work, prefix="home-"))
    created = json.loads(deltaset(src, home, "create", "--project", "b", "--name", "w", "--json"))
    version = created["id"]
    deltaset(src, home, "add", "--id", version, "--files", str(corpus), "-q")
    deltaset(src, home, "close", "--id", version, "-q")
    deltaset(src, home, "get", "--id", version)  # cold
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        deltaset(src, home, "get", "--id", version)
        times.append(time.perf_counter() - start)
    env = {**os.environ, "DELTASET_HOME": str(home), "PYTHONPATH": str(src.resolve())}
    inner = subprocess.run(
        [sys.executable, "-c", IN_PROCESS, version, str(runs)],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return {"cli": statistics.median(times), "in_process": float(inner.stdout)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--src", nargs="+", type=Path, default=[Path("src")])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--scale", default="0.02")
    parser.add_argument("--out", type=Path, default=Path("/tmp/deltaset-warm-get"))
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    corpus = args.out / f"corpus-{args.scale}"
    if not corpus.is_dir():
        make = [sys.executable, str(MAKE_CORPUS), str(corpus), "--corpus", "many"]
        subprocess.run([*make, "--scale", args.scale], check=True)
    files = corpus / "many" / "v1"
    count = sum(len(names) for _, _, names in os.walk(files))
    print(f"{count} files, median of {args.runs} warm gets")
    for src in args.src:
        found = measure(src, files, args.runs, args.out)
        cli, inner = found["cli"] * 1000, found["in_process"] * 1000
        print(f"{src}: cli {cli:.0f} ms, in process {inner:.1f} ms")


if __name__ == "__main__":
    main()
