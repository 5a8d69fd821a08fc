"""The syncs of an evolving corpus, several source trees alternating version by version: the
least noisy comparison of what a close costs (issue 19 part 1, close-cost target).

Each ``--src`` tree keeps its own history (its own ``DELTASET_HOME`` under ``--work``). Version
N is synced by every tree in turn (``sync --folder vNN --parents PREVIOUS``, as
``evolving_bench.py`` does), then version N+1, so that a change of the machine's load falls on
all of them alike. The CPU seconds of each ``sync`` process (user + system, from
``getrusage``) are printed a version a line, then the totals, each tree's bytes stored and,
with ``--pulls N``, the medians of N cold ``get --copy`` of each history's newest version
(alternating too). The corpus comes from ``bench/evolving.py`` (made once under ``--out``)::

    git archive cf3e386 src | tar -x -C /tmp/alt-pre     # and the same for the other trees
    python bench/alternating_syncs.py --out /tmp/evolving --corpus table --pulls 5 \\
        --src /tmp/alt-pre/src /tmp/alt-main/src /tmp/alt-new/src --work /tmp/alt-work
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from evolving import corpus
from evolving_bench import du, same_files


def child_cpu() -> float:
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    return used.ru_utime + used.ru_stime


def timed(cmd: list[str], env: dict[str, str]) -> tuple[float, str]:
    """CPU seconds of ``cmd`` (run to its end) and its output."""
    before = child_cpu()
    done = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"{' '.join(cmd)} failed: {done.stderr[-2000:]}")
    return child_cpu() - before, done.stdout


def environment(src: Path, home: Path) -> dict[str, str]:
    env = {**os.environ, "PYTHONPATH": str(src.resolve()), "DELTASET_HOME": str(home)}
    env.pop("DELTASET_CACHE_DIR", None)
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # else every command compiles every module again
    return env


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=Path("/tmp/evolving"))
    parser.add_argument("--corpus", default="table")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--src", nargs="+", type=Path, required=True)
    parser.add_argument("--work", type=Path, required=True, help="emptied first")
    parser.add_argument("--pulls", type=int, default=0, help="cold get --copy of the newest")
    args = parser.parse_args()
    folders, _ = corpus(args.corpus, args.out, args.seed)
    shutil.rmtree(args.work, ignore_errors=True)
    homes = [args.work / f"home{at}" for at in range(len(args.src))]
    envs = [environment(src, home) for src, home in zip(args.src, homes, strict=True)]
    base = [sys.executable, "-m", "deltaset"]
    parents: list[list[str]] = [[] for _ in args.src]
    cpu: list[list[float]] = [[] for _ in args.src]
    print("version", *(str(src) for src in args.src), sep="\t")
    for folder in folders:
        for at, env in enumerate(envs):
            cmd = [*base, "sync", "--folder", str(folder), *parents[at], "--project",
                   "evolving", "--name", "history", "--json", "--quiet"]  # fmt: skip
            seconds, out = timed(cmd, env)
            version = json.loads(out[out.index("{") :])
            parents[at] = ["--parents", str(version.get("id") or version["version"]["id"])]
            cpu[at].append(seconds)
        print(folder.name, *(f"{c[-1]:.3f}" for c in cpu), sep="\t", flush=True)
    totals = [sum(c) for c in cpu]
    print("all", *(f"{t:.3f}" for t in totals), sep="\t")
    print("/ first", *(f"{t / totals[0]:.3f}x" for t in totals), sep="\t")
    print("stored", *(str(du(home / "storage")) for home in homes), sep="\t")
    pulls: list[list[float]] = [[] for _ in args.src]
    for run in range(args.pulls):
        for at, env in enumerate(envs):
            into = args.work / f"pulled{at}-{run}"
            cold = {**env, "DELTASET_CACHE_DIR": str(args.work / f"cold{at}-{run}")}
            newest = parents[at][1]
            seconds, _ = timed([*base, "get", "--id", newest, "--copy", str(into), "--quiet"], cold)
            same_files(into, folders[-1])
            pulls[at].append(seconds)
            shutil.rmtree(into)
            shutil.rmtree(args.work / f"cold{at}-{run}")
    if args.pulls:
        print("cold get --copy", *(f"{statistics.median(p):.3f}" for p in pulls), sep="\t")
    print(f"load average at the end: {os.getloadavg()}")


if __name__ == "__main__":
    main()
