"""add + close of one folder through a deltaset server, two source trees interleaved: the
client's wall time, CPU and peak RSS, the server process's CPU and peak RSS, PostgreSQL's CPU.

    python bench/server_add_close.py CORPUS_V1 OLD_SRC NEW_SRC [--runs 3]
        [--catalogs postgres sqlite embedded] [--unpacked] [--spy DIR]

Each run starts a fresh database on one real PostgreSQL (the tests' ``tests/postgres.py``) and
a fresh ``deltaset server --db`` of that tree (``sqlite``: its default SQLite catalog;
``embedded``: no server, the client's own catalog, for comparison); the client is the same
tree. ``--spy DIR``: the first run of each also records py-spy profiles of the client and
the server (``py-spy`` on the PATH) into DIR, at some cost to its figures. The trees take
turns, each first in every other run. ``--unpacked``: the client packs nothing on add
(``DELTASET_PACK_ON_ADD=0``), so its close reads every file from where it was staged, asking
the server where that is. Prints one line per step and the medians.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
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


def tree_peak_rss(root: int) -> float:
    """The largest peak RSS (VmHWM, MiB) of ``root`` and the processes under it."""
    peak, wanted = 0, {root}
    children = Path(f"/proc/{root}/task/{root}/children")
    if children.exists():
        wanted |= {int(p) for p in children.read_text().split()}
    for pid in wanted:
        try:
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            continue
        found = re.search(r"^VmHWM:\s+(\d+) kB", status, re.M)
        peak = max(peak, int(found.group(1)) if found else 0)
    return peak / 1024


def spied(argv: list[str], spy: Path | None, name: str) -> list[str]:
    if spy is None:
        return argv
    out = spy / f"{name}.txt"
    return ["py-spy", "record", "-r", "200", "--threads", "-f", "raw", "-o", str(out), "--", *argv]


def run_client(argv: list[str], env: dict[str, str]) -> tuple[float, float, float]:
    """Wall seconds, CPU seconds and peak RSS (MiB) of one client command."""
    start = time.perf_counter()
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    assert proc.stderr is not None
    errors = proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed: {errors[-2000:].decode(errors='replace')}")
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024


def one(
    label: str,
    src: Path,
    corpus: Path,
    catalog: str,
    pg: postgres.Server | None,
    packed: bool,
    spy: Path | None,
) -> dict[str, float]:
    work = Path(tempfile.mkdtemp(prefix=f"server-add-close-{label}-"))
    env = {**os.environ, "PYTHONPATH": str(src), "DELTASET_HOME": str(work / "server-home")}
    deltaset = [sys.executable, "-m", "deltaset"]
    client = {
        **env,
        "DELTASET_HOME": str(work / "client-home"),
        "DELTASET_PACK_ON_ADD": "1" if packed else "0",
    }
    server = None
    if catalog != "embedded":
        db = ["--db", postgres.new_database(pg)] if catalog == "postgres" and pg else []
        made = subprocess.run(
            [*deltaset, "server", "token", "create", *db, "--json"],
            env=env, capture_output=True, text=True, check=True,
        )  # fmt: skip
        port = free_port()
        server = subprocess.Popen(
            spied([*deltaset, "server", *db, "--port", str(port)], spy, f"{label}-{catalog}-srv"),
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        client["DELTASET_API_URL"] = f"http://127.0.0.1:{port}"
        client["DELTASET_API_TOKEN"] = json.loads(made.stdout)["token"]
    found: dict[str, float] = {}
    try:
        if server is not None:
            wait_for_port(int(client["DELTASET_API_URL"].rsplit(":", 1)[1]), server, "the server")
        subprocess.run(
            [*deltaset, "create", "--project", "bench", "--name", "many", "--quiet"],
            env=client, check=True, capture_output=True,
        )  # fmt: skip
        for step in ("add", "close"):
            argv = [*deltaset, step, "--quiet"]
            if step == "add":
                argv += ["--files", str(corpus)]
            argv = spied(argv, spy, f"{label}-{catalog}-{step}")
            before_server = tree_cpu(server.pid) if server else 0.0
            before_pg = tree_cpu(pg.proc.pid) if pg and catalog == "postgres" else 0.0
            wall, cpu, rss = run_client(argv, client)
            found[f"{step} wall"] = wall
            found[f"{step} client CPU"] = cpu
            found[f"{step} client peak RSS MiB"] = rss
            if server is not None:
                found[f"{step} server CPU"] = tree_cpu(server.pid) - before_server
            if pg and catalog == "postgres":
                found[f"{step} PostgreSQL CPU"] = tree_cpu(pg.proc.pid) - before_pg
        if server is not None:
            found["server peak RSS MiB"] = tree_peak_rss(server.pid)
    finally:
        if server is not None:
            server.send_signal(signal.SIGINT if spy else signal.SIGTERM)
            server.wait(120)
        shutil.rmtree(work, ignore_errors=True)
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("corpus", type=Path)
    parser.add_argument("old", type=Path)
    parser.add_argument("new", type=Path)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument(
        "--catalogs", nargs="+", default=["postgres"], choices=("postgres", "sqlite", "embedded")
    )
    parser.add_argument("--sqlite", action="store_true", help="same as --catalogs sqlite")
    parser.add_argument("--unpacked", action="store_true", help="no packing on add")
    parser.add_argument("--spy", type=Path, help="py-spy profiles of the first run, here")
    args = parser.parse_args()
    catalogs = ["sqlite"] if args.sqlite else args.catalogs
    trees = {"old": args.old.resolve(), "new": args.new.resolve()}
    pg = postgres.start_postgres() if "postgres" in catalogs else None
    figures: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    try:
        for run in range(1, args.runs + 1):
            order = list(trees.items())
            for catalog in catalogs:
                for label, src in order if run % 2 else reversed(order):  # neither always first
                    spy = args.spy if run == 1 else None
                    found = one(label, src, args.corpus, catalog, pg, not args.unpacked, spy)
                    shown = ", ".join(f"{k} {v:.2f}" for k, v in found.items())
                    print(f"run {run} {catalog} {label}: {shown}", flush=True)
                    for name, value in found.items():
                        figures[f"{catalog}: {name}"][label].append(value)
    finally:
        if pg:
            pg.stop()
    print("| figure | old runs | new runs | old median | new median | new / old |")
    print("|---|---|---|---|---|---|")
    for name, by in figures.items():
        old, new = statistics.median(by["old"]), statistics.median(by["new"])
        shown = {k: ", ".join(f"{v:.2f}" for v in by[k]) for k in ("old", "new")}
        print(
            f"| {name} | {shown['old']} | {shown['new']} | {old:.2f} | {new:.2f} "
            f"| {new / old if old else float('nan'):.2f}× |"
        )


if __name__ == "__main__":
    main()
