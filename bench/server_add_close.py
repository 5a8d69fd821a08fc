"""add + close of one folder through a deltaset server on PostgreSQL, two source trees
interleaved: the client's wall time and CPU, the server process's CPU and PostgreSQL's CPU.

    python bench/server_add_close.py CORPUS_V1 OLD_SRC NEW_SRC [--runs 3] [--sqlite] [--unpacked]

Each run starts a fresh database on one real PostgreSQL (the tests' ``tests/postgres.py``) and
a fresh ``deltaset server --db`` of that tree (or its default SQLite catalog with
``--sqlite``); the client is the same tree. The trees take turns, each first in every other
run. ``--unpacked``: the client packs nothing on add (``DELTASET_PACK_ON_ADD=0``), so its
close reads every file from where it was staged, asking the server where that is. Prints one
line per step and the medians.
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
import tempfile
import time
from collections import defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
from ports import free_port, wait_for_port  # noqa: E402  (bench/ is the script's folder)
from tests import postgres  # noqa: E402

TICK = os.sysconf("SC_CLK_TCK")


def tree_cpu(root: int) -> float:
    """CPU seconds of ``root`` and every process under it, living or reaped."""
    stats = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                text = (entry / "stat").read_text()
            except OSError:
                continue
            fields = text[text.rindex(")") + 2 :].split()
            stats[int(entry.name)] = (int(fields[1]), sum(map(int, fields[11:15])))
    wanted, total = {root}, 0
    while wanted:
        pid = wanted.pop()
        total += stats.get(pid, (0, 0))[1]
        wanted |= {p for p, (parent, _) in stats.items() if parent == pid}
    return total / TICK


def client_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def one(
    label: str, src: Path, corpus: Path, pg: postgres.Server | None, packed: bool
) -> dict[str, float]:
    work = Path(tempfile.mkdtemp(prefix=f"server-add-close-{label}-"))
    env = {**os.environ, "PYTHONPATH": str(src), "DELTASET_HOME": str(work / "server-home")}
    db = ["--db", postgres.new_database(pg)] if pg else []
    deltaset = [sys.executable, "-m", "deltaset"]
    made = subprocess.run(
        [*deltaset, "server", "token", "create", *db, "--json"],
        env=env, capture_output=True, text=True, check=True,
    )  # fmt: skip
    port = free_port()
    server = subprocess.Popen(
        [*deltaset, "server", *db, "--port", str(port)],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    found: dict[str, float] = {}
    try:
        wait_for_port(port, server, "the deltaset server")
        client = {
            **env,
            "DELTASET_HOME": str(work / "client-home"),
            "DELTASET_API_URL": f"http://127.0.0.1:{port}",
            "DELTASET_API_TOKEN": json.loads(made.stdout)["token"],
            "DELTASET_PACK_ON_ADD": "1" if packed else "0",
        }
        subprocess.run(
            [*deltaset, "create", "--project", "bench", "--name", "many", "--quiet"],
            env=client, check=True, capture_output=True,
        )  # fmt: skip
        for step in ("add", "close"):
            argv = [*deltaset, step, "--quiet"]
            if step == "add":
                argv += ["--files", str(corpus)]
            before = (time.perf_counter(), client_cpu(), tree_cpu(server.pid))
            before_pg = tree_cpu(pg.proc.pid) if pg else 0.0
            done = subprocess.run(argv, env=client, capture_output=True, text=True)
            if done.returncode != 0:
                raise SystemExit(f"{label} {step} failed: {done.stderr[-2000:]}")
            found[f"{step} wall"] = time.perf_counter() - before[0]
            found[f"{step} client CPU"] = client_cpu() - before[1]
            found[f"{step} server CPU"] = tree_cpu(server.pid) - before[2]
            if pg:
                found[f"{step} PostgreSQL CPU"] = tree_cpu(pg.proc.pid) - before_pg
    finally:
        server.terminate()
        server.wait(60)
        shutil.rmtree(work, ignore_errors=True)
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("corpus", type=Path)
    parser.add_argument("old", type=Path)
    parser.add_argument("new", type=Path)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--sqlite", action="store_true", help="the server's default catalog")
    parser.add_argument("--unpacked", action="store_true", help="no packing on add")
    args = parser.parse_args()
    trees = {"old": args.old.resolve(), "new": args.new.resolve()}
    pg = None if args.sqlite else postgres.start_postgres()
    figures: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    try:
        for run in range(1, args.runs + 1):
            order = list(trees.items())
            for label, src in order if run % 2 else reversed(order):  # neither always first
                found = one(label, src, args.corpus, pg, not args.unpacked)
                print(f"run {run} {label}: " + ", ".join(f"{k} {v:.2f}" for k, v in found.items()))
                for name, value in found.items():
                    figures[name][label].append(value)
    finally:
        if pg:
            pg.stop()
    print("| figure | old runs | new runs | old median | new median | new / old |")
    print("|---|---|---|---|---|---|")
    for name, by in figures.items():
        old, new = statistics.median(by["old"]), statistics.median(by["new"])
        shown = {k: ", ".join(f"{v:.2f}" for v in by[k]) for k in ("old", "new")}
        print(
            f"| {name} | {shown['old']} s | {shown['new']} s | {old:.2f} s | {new:.2f} s "
            f"| {new / old if old else float('nan'):.2f}× |"
        )


if __name__ == "__main__":
    main()
