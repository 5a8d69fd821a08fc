"""The deltaset server column: the workflow through a server, and a load test of its API.

Run with the project's interpreter (it needs httpx, which deltaset installs)::

    .venv/bin/python bench/server.py --corpus small large --scale 1 --runs 3

1. For each corpus and run: create + close v1 and a cold pull (`get --copy`, empty cache), once
   on the embedded default (local catalog and folder storage) and once through a `deltaset
   server` process on 127.0.0.1 (SQLite catalog, folder storage, a token), side by side.
2. A load test: `--clients` threads, each with its own connection and token, repeat for
   `--seconds` a client's requests of one small version (create a draft of one shared dataset,
   stage 50 changes, finalize, read it back, search, send a 64 KiB object and read a range of
   it). Reports requests/s and p50/p99 latency per request. The clients run on the same
   machine as the server, so they compete with it for the cores.

Writes medians and ratios to ``--results`` (default bench/RESULTS-server.md), keeping the
hand-written part of the earlier report (between ``<!-- summary -->`` and
``<!-- /summary -->``) at its end.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from ports import free_port, wait_for_port  # bench/ is the script's folder
from run import kept_summary

REPO = Path(__file__).resolve().parent.parent
CORPORA = Path("/work/shared/bench/make_corpus.py")
DELTASET = [sys.executable, "-m", "deltaset"]


@dataclass
class Server:
    url: str
    home: Path
    proc: subprocess.Popen[bytes]
    token: str = ""

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(30)


def start_server(home: Path) -> Server:
    port = free_port()
    env = {**os.environ, "DELTASET_HOME": str(home)}
    made = subprocess.run(
        [*DELTASET, "server", "token", "create", "--json"],
        env=env, capture_output=True, text=True, check=True,
    )  # fmt: skip
    proc = subprocess.Popen(
        [*DELTASET, "server", "--port", str(port)],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        wait_for_port(port, proc, "the deltaset server")
    except RuntimeError as exc:
        raise SystemExit(str(exc)) from None
    return Server(f"http://127.0.0.1:{port}", home, proc, json.loads(made.stdout)["token"])


def timed(argv: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    done = subprocess.run(argv, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed: {done.stderr[-2000:]}")
    return time.perf_counter() - start


def workflow(corpus: Path, root: Path, server: Server | None) -> dict[str, float]:
    """create + close of the corpus's v1, then a cold `get --copy` on a second machine."""
    env = {**os.environ, "DELTASET_HOME": str(root / "writer"), "PYTHONDONTWRITEBYTECODE": "1"}
    if server is not None:
        env |= {"DELTASET_API_URL": server.url, "DELTASET_API_TOKEN": server.token}
    name = f"bench-{uuid.uuid4().hex[:8]}"
    create = timed([*DELTASET, "create", "--project", "bench", "--name", name, "--quiet"], env)
    create += timed([*DELTASET, "add", "--files", str(corpus / "v1"), "--quiet"], env)
    create += timed([*DELTASET, "close", "--quiet"], env)
    reader = {**env, "DELTASET_HOME": str(root / "reader")}
    if server is None:  # the second machine reads the same folder storage
        reader["DELTASET_STORAGE"] = str(root / "writer" / "storage")
        subprocess.run(
            [*DELTASET, "rebuild-catalog", "--quiet"], env=reader, check=True, capture_output=True
        )
    pull = timed(
        [*DELTASET, "get", "--project", "bench", "--name", name, "--copy", str(root / "copy"),
         "--quiet"],
        reader,
    )  # fmt: skip
    return {"create + close v1": create, "cold pull → mutable folder": pull}


# -- load test ------------------------------------------------------------------------------------


@dataclass
class Load:
    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    errors: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, name: str, seconds: float) -> None:
        with self.lock:
            self.latencies[name].append(seconds)


def client_loop(server: Server, load: Load, until: float) -> None:
    headers = {"Authorization": f"Bearer {server.token}"}
    changes = b"".join(
        json.dumps({"path": f"f{i:03d}.bin", "size": 100, "blob_id": os.urandom(32).hex()}).encode()
        + b"\n"
        for i in range(50)
    )
    payload = os.urandom(64 << 10)
    with httpx.Client(base_url=server.url + "/api/v1", headers=headers, timeout=60) as http:

        def call(name: str, method: str, path: str, **kwargs: object) -> httpx.Response:
            start = time.perf_counter()
            answer = http.request(method, path, **kwargs)  # type: ignore[arg-type]
            load.record(name, time.perf_counter() - start)
            if answer.status_code >= 400:
                with load.lock:
                    load.errors += 1
            return answer

        while time.monotonic() < until:
            body = {"project": "load", "name": "shared", "description": "", "user": "bench"}
            record = call("create version", "POST", "/versions", json=body).json()
            version = record["id"]
            call("stage 50 changes", "POST", f"/versions/{version}/staged", content=changes,
                 headers={"Content-Type": "application/x-ndjson"})  # fmt: skip
            record["state"] = "final"
            manifest = base64.b64encode(os.urandom(2048)).decode()
            call("finalize", "POST", f"/versions/{version}/finalize",
                 json={"record": record, "manifest": manifest})  # fmt: skip
            call("get version", "GET", f"/versions/{version}")
            call("search dataset", "GET", "/versions", params={"project": "load", "name": "shared"})
            call("get manifest", "GET", f"/versions/{version}/manifest")
            key = f"packs/{version[:2]}/{version}.pack"
            call("put 64 KiB object", "PUT", f"/objects/{key}", content=payload)
            call("read 4 KiB range", "GET", f"/objects/{key}", headers={"Range": "bytes=0-4095"})


def load_test(root: Path, clients: int, seconds: float) -> tuple[Load, float]:
    server = start_server(root / "load-server")
    try:
        load = Load()
        start = time.perf_counter()
        until = time.monotonic() + seconds
        threads = [
            threading.Thread(target=client_loop, args=(server, load, until)) for _ in range(clients)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        return load, time.perf_counter() - start
    finally:
        server.stop()


# -- report ---------------------------------------------------------------------------------------


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def report(
    args: argparse.Namespace, figures: dict[str, dict[str, list[float]]], load: Load, took: float
) -> str:
    commit = subprocess.run(
        ["git", "-C", str(REPO), "log", "-1", "--format=%h %cs"], capture_output=True, text=True
    ).stdout.strip()
    lines = [
        "# deltaset server benchmark",
        "",
        f"Reproduce with `.venv/bin/python bench/server.py --corpus {' '.join(args.corpus)} "
        f"--scale {args.scale} --runs {args.runs} --clients {args.clients} "
        f"--seconds {args.seconds:g}`.",
        "",
        f"- machine: {os.cpu_count()} cores; deltaset commit {commit}; medians of {args.runs} runs",
        "- server: `deltaset server` on 127.0.0.1, SQLite catalog, folder storage, a token",
        "",
        "## The workflow through the server",
        "",
        "| corpus | figure | embedded | through the server | server / embedded |",
        "|---|---|---|---|---|",
    ]
    for corpus in args.corpus:
        for figure in ("create + close v1", "cold pull → mutable folder"):
            local = statistics.median(figures[f"{corpus}/embedded"][figure])
            remote = statistics.median(figures[f"{corpus}/server"][figure])
            lines.append(
                f"| `{corpus}` | {figure} | {local:.2f} s | {remote:.2f} s "
                f"| {remote / local:.2f}× |"
            )
    total = sum(len(v) for v in load.latencies.values())
    every = [x for v in load.latencies.values() for x in v]
    lines += [
        "",
        f"## Load test: {args.clients} concurrent clients for {took:.0f} s",
        "",
        f"{total} requests, {total / took:.0f} requests/s, {load.errors} errors; latency p50 "
        f"{percentile(every, 0.5) * 1000:.1f} ms, p99 {percentile(every, 0.99) * 1000:.1f} ms.",
        "",
        "| request | count | p50 | p99 |",
        "|---|---|---|---|",
    ]
    for name, values in load.latencies.items():
        lines.append(
            f"| {name} | {len(values)} | {percentile(values, 0.5) * 1000:.1f} ms "
            f"| {percentile(values, 0.99) * 1000:.1f} ms |"
        )
    lines += kept_summary(args.results)
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", nargs="+", default=["small", "large"])
    parser.add_argument("--scale", type=float, default=0.1)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--out", type=Path, default=Path("/tmp/deltaset-bench"))
    parser.add_argument("--results", type=Path, default=REPO / "bench" / "RESULTS-server.md")
    args = parser.parse_args()
    corpora = args.out / f"corpus-scale{args.scale:g}-seed{args.seed}"
    subprocess.run(
        [sys.executable, str(CORPORA), str(corpora), "--corpus", *args.corpus,
         "--scale", str(args.scale), "--seed", str(args.seed)],
        check=True,
    )  # fmt: skip
    figures: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for run in range(1, args.runs + 1):
        for corpus in args.corpus:
            for mode in ("embedded", "server"):
                root = Path(tempfile.mkdtemp(prefix=f"server-bench-{corpus}-", dir=args.out))
                server = start_server(root / "server-home") if mode == "server" else None
                try:
                    found = workflow(corpora / corpus, root, server)
                finally:
                    if server is not None:
                        server.stop()
                    shutil.rmtree(root, ignore_errors=True)
                for figure, seconds in found.items():
                    figures[f"{corpus}/{mode}"][figure].append(seconds)
                shown = " ".join(f"{k}={v:.2f}s" for k, v in found.items())
                print(f"  {corpus} run {run} {mode:8} {shown}", flush=True)
    root = Path(tempfile.mkdtemp(prefix="server-load-", dir=args.out))
    try:
        load, took = load_test(root, args.clients, args.seconds)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    args.results.write_text(report(args, figures, load, took))
    print(f"wrote {args.results}")


if __name__ == "__main__":
    main()
