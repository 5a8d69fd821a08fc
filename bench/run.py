#!/usr/bin/env python3
"""Benchmark deltaset against DVC, `cp -r` and `tar | zstd` on the shared corpora.

One invocation generates (or reuses) the corpora written by make_corpus.py, then, for
each corpus and each run, versions v1 and v2 with every selected tool, pulls v2 back
cold and warm, measures bytes stored and peak memory, and writes medians and ratios
to bench/RESULTS.md. See bench/README.md for what every figure means.

Usage: python3 bench/run.py [--corpus small large] [--scale 0.1] [--runs 3]
                            [--tools deltaset dvc cp tar] [--out /tmp/deltaset-bench]
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import itertools
import json
import os
import platform
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ports import free_port, wait_for_port  # bench/ is the script's folder

BENCH_DIR = Path(__file__).resolve().parent
REPO_DIR = BENCH_DIR.parent
MAKE_CORPUS = Path("/work/shared/bench/make_corpus.py")
GNU_TIME = Path("/usr/bin/time")
TOOLS = ("deltaset", "dvc", "cp", "tar")
TOOL_TITLES = {"deltaset": "deltaset", "dvc": "DVC", "cp": "cp -r", "tar": "tar\\|zstd"}
PROJECT = "bench"
MB = 1_000_000
MIB = 1 << 20

# (key, label) of every timed step, in table order.
STEPS: tuple[tuple[str, str], ...] = (
    ("create_v1", "create + close v1"),
    ("create_v2", "create + close v2 (derived from v1)"),
    ("cold_copy", "cold pull v2 → mutable folder"),
    ("cold_get", "cold pull v2 → cached read-only path"),
    ("warm_copy", "warm pull v2 → new mutable folder"),
    ("warm_get", "warm pull v2 → cached read-only path"),
)
# (key, label) of every size figure, in table order.
SIZES: tuple[tuple[str, str], ...] = (
    ("stored_v1", "bytes stored after v1"),
    ("stored_v2", "storage growth caused by v2"),
    ("stored_total", "bytes stored after v1 + v2"),
    ("storage_files", "files in storage after v1 + v2"),
    ("cache_local", "local cache of the writer after v1 + v2"),
)


@dataclass
class Options:
    """Harness-wide settings, filled in from the command line by main()."""

    deltaset: Path = REPO_DIR / ".venv" / "bin" / "deltaset"
    dvc: Path = BENCH_DIR / ".venv-dvc" / "bin" / "dvc"
    sync_timed: bool = False
    s3_endpoint: str = ""  # set: both tools store in fresh buckets of this S3 server


OPTS = Options()


class StepError(RuntimeError):
    """A command failed or printed something the harness cannot use."""


@dataclass(frozen=True)
class Sample:
    """Wall-clock seconds, peak RSS (KiB, largest process of the tree) and peak
    anonymous memory (KiB, summed over the tree, sampled)."""

    seconds: float
    rss_kib: int
    anon_kib: int = 0

    def __add__(self, other: Sample) -> Sample:
        return Sample(
            self.seconds + other.seconds,
            max(self.rss_kib, other.rss_kib),
            max(self.anon_kib, other.anon_kib),
        )


@dataclass
class RunCtx:
    """Everything one tool needs for one run on one corpus."""

    corpus: str
    v1: Path
    v2: Path
    root: Path
    timeout: float
    verify: bool
    bucket: str = ""  # with --remote s3: this run's own bucket
    figures: dict[str, float] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    def record(self, step: str, sample: Sample) -> None:
        self.figures[f"t:{step}"] = sample.seconds
        self.figures[f"rss:{step}"] = sample.rss_kib / 1024
        self.figures[f"anon:{step}"] = sample.anon_kib / 1024

    def attempt(self, step: str, action: Callable[[], None]) -> bool:
        """Run one pull step; a failure is recorded and does not stop the others."""
        try:
            action()
        except (StepError, subprocess.TimeoutExpired, OSError) as exc:
            self.problems.append(f"{step} FAILED: {exc}")
            self.figures[f"fail:{step}"] = 1.0
            return False
        return True

    def check_tree(self, step: str, got: Path) -> None:
        """Compare a pulled folder with the corpus v2 (untimed)."""
        if not self.verify:
            return
        diff = tree_difference(self.v2, got)
        if diff:
            self.problems.append(f"{step}: pulled content differs from v2: {diff}")
            self.figures[f"bad:{step}"] = 1.0


# ---------------------------------------------------------------- running commands


def base_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The caller's environment without deltaset, DVC or AWS settings, plus `extra` (and the
    local S3 server's address and keys with --remote s3)."""
    own = ("DELTASET_", "DVC_", "AWS_")
    env = {k: v for k, v in os.environ.items() if not k.startswith(own)}
    env["LC_ALL"] = "C"
    if OPTS.s3_endpoint:
        env |= {
            "AWS_ENDPOINT_URL": OPTS.s3_endpoint,
            "AWS_ACCESS_KEY_ID": "bench",
            "AWS_SECRET_ACCESS_KEY": "bench",
            "AWS_DEFAULT_REGION": "us-east-1",
        }
    env.update(extra or {})
    return env


# ---------------------------------------------------------------- S3 server (--remote s3)


@contextlib.contextmanager
def s3_server(python: Path) -> Iterator[str]:
    """moto's S3 server on a free loopback port, for as long as the block runs."""
    port = free_port()
    argv = [str(python), "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)]
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        try:
            wait_for_port(port, proc, "the moto S3 server")
        except RuntimeError as exc:
            raise StepError(str(exc)) from None
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(30)


def new_bucket() -> str:
    name = f"bench-{uuid.uuid4().hex[:16]}"
    request = urllib.request.Request(f"{OPTS.s3_endpoint}/{name}", method="PUT")
    with urllib.request.urlopen(request, timeout=30):
        pass
    return name


def wrap_for_rss(argv: list[str], rss_file: Path) -> list[str]:
    """Prefix argv so that the peak RSS of its process tree lands in rss_file."""
    if GNU_TIME.exists():
        return [str(GNU_TIME), "-v", "-o", str(rss_file), *argv]
    probe = (
        "import resource,subprocess,sys\n"
        "rc=subprocess.call(sys.argv[2:])\n"
        "r=resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss\n"
        "open(sys.argv[1],'w').write(f'Maximum resident set size (kbytes): {r}')\n"
        "sys.exit(rc)\n"
    )
    return [sys.executable, "-c", probe, str(rss_file), *argv]


def read_rss(rss_file: Path) -> int:
    for line in rss_file.read_text().splitlines():
        if "Maximum resident set size" in line:
            return int(line.rsplit(":", 1)[1])
    return 0


def tree_pids(root: int) -> list[int]:
    """root and all its descendants, read from /proc/<pid>/task/<tid>/children."""
    pids, todo = [], [root]
    while todo:
        pid = todo.pop()
        pids.append(pid)
        with contextlib.suppress(OSError, ValueError):  # processes come and go meanwhile
            for task in os.scandir(f"/proc/{pid}/task"):
                children = Path(task.path, "children").read_text().split()
                todo.extend(int(child) for child in children)
    return pids


def anon_kib(pid: int) -> int:
    """RssAnon of one process: its private memory, without mapped file pages."""
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("RssAnon:"):
                return int(line.split()[1])
    return 0


class AnonSampler(threading.Thread):
    """Samples the process tree's summed anonymous memory every 20 ms."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid, self.peak, self.done = pid, 0, threading.Event()

    def run(self) -> None:
        while not self.done.wait(0.02):
            try:
                now = sum(anon_kib(p) for p in tree_pids(self.pid))
            except Exception as exc:  # noqa: BLE001 - a sampling slip must not stop the clock
                print(f"    ! memory sampling: {exc!r}", file=sys.stderr)
                continue
            self.peak = max(self.peak, now)

    def stop(self) -> int:
        self.done.set()
        self.join()
        return self.peak


def communicate(proc: subprocess.Popen[str], timeout: float) -> tuple[str, str]:
    """Wait for proc; on timeout end its whole process group (which we started)."""
    try:
        return proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        raise


def run(
    argv: Sequence[str],
    env: dict[str, str],
    cwd: Path | None = None,
    timeout: float = 3600,
) -> tuple[Sample, str]:
    """Run one command after a sync; return its Sample and stdout. Raise on failure."""
    os.sync()
    with tempfile.NamedTemporaryFile(prefix="rss-", delete=False) as handle:
        rss_file = Path(handle.name)
    try:
        start = time.perf_counter()
        proc = subprocess.Popen(
            wrap_for_rss(list(argv), rss_file),
            env=env,
            cwd=cwd,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        sampler = AnonSampler(proc.pid)
        sampler.start()
        try:
            out, err = communicate(proc, timeout)
        finally:
            anon = sampler.stop()
        if OPTS.sync_timed:
            os.sync()
        seconds = time.perf_counter() - start
        rss = read_rss(rss_file)
    finally:
        rss_file.unlink(missing_ok=True)
    if proc.returncode != 0:
        tail = (err or out).strip()[-1500:]
        raise StepError(f"`{shlex.join(argv)}` exited {proc.returncode}: {tail}")
    return Sample(seconds, rss, anon), out


def shell(script: str, env: dict[str, str], timeout: float) -> Sample:
    """Run a bash pipeline with pipefail, timed like run()."""
    sample, _ = run(["bash", "-o", "pipefail", "-c", script], env, timeout=timeout)
    return sample


def quiet(argv: Sequence[str], cwd: Path | None = None) -> str:
    """Run an untimed set-up command; raise on failure."""
    proc = subprocess.run(
        list(argv), cwd=cwd, env=base_env(), capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip()[-1500:]
        raise StepError(f"`{shlex.join(argv)}` exited {proc.returncode}: {tail}")
    return proc.stdout


# ---------------------------------------------------------------- file-system helpers


def du_bytes(path: Path) -> int:
    """Apparent size in bytes of a file or folder, as `du -sb` reports it."""
    if not path.exists():
        return 0
    return int(quiet(["du", "-sb", str(path)]).split()[0])


def count_files(path: Path) -> int:
    return sum(len(files) for _, _, files in os.walk(path))


def tree_difference(want: Path, got: Path) -> str:
    """Empty when both folders hold the same files with the same bytes (a writable copy's
    origin marker, in ``.deltaset``, aside)."""
    if not got.is_dir():
        return f"{got} is not a folder"
    proc = subprocess.run(
        ["diff", "-rq", "--no-dereference", "-x", ".deltaset", str(want), str(got)],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode == 0:
        return ""
    lines = (proc.stdout + proc.stderr).strip().splitlines()
    more = f" (+{len(lines) - 3} more)" if len(lines) > 3 else ""
    return "; ".join(lines[:3]) + more


def working_copy(src: Path, dst: Path) -> None:
    """A working copy of v1 that keeps mtimes, so rsync can leave unchanged files."""
    quiet(["cp", "-a", str(src), str(dst)])


def apply_v2(v2: Path, work: Path) -> None:
    """Turn the working copy into v2 in place; unchanged files keep inode and mtime."""
    quiet(["rsync", "-a", "--delete", "--checksum", f"{v2}/", f"{work}/"])


# ---------------------------------------------------------------- deltaset


def deltaset_env(ctx: RunCtx, cache: Path | None = None) -> dict[str, str]:
    extra = {"DELTASET_HOME": str(ctx.root / "home")}
    if cache is not None:
        extra["DELTASET_CACHE_DIR"] = str(cache)
    return base_env(extra)


def parse_json(text: str, what: str) -> Any:
    """Parse a command's JSON stdout, tolerating log lines before it."""
    text = text.strip()
    for start in (0, *[i for i, ch in enumerate(text) if ch in "[{" and i > 0]):
        try:
            return json.loads(text[start:])
        except json.JSONDecodeError:
            continue
    raise StepError(f"{what} printed no JSON: {text[-500:]!r}")


def find_ids(data: Any) -> Iterator[dict[str, Any]]:
    """Every JSON object carrying an "id", wherever it sits in `data`."""
    if isinstance(data, dict):
        if "id" in data:
            yield data
        for value in data.values():
            yield from find_ids(value)
    elif isinstance(data, list):
        for item in data:
            yield from find_ids(item)


def ds(ctx: RunCtx, *args: str, cache: Path | None = None) -> tuple[Sample, str]:
    return run([str(OPTS.deltaset), *args], deltaset_env(ctx, cache), timeout=ctx.timeout)


def deltaset_v2_id(ctx: RunCtx, v1_id: str) -> str:
    _, out = ds(ctx, "search", "--project", PROJECT, "--name", ctx.corpus, "--json")
    others = [str(v["id"]) for v in find_ids(parse_json(out, "search")) if v["id"] != v1_id]
    if not others:
        raise StepError(f"search lists no version besides v1 {v1_id}: {out[-500:]!r}")
    return others[-1]


def last_line(out: str, what: str) -> Path:
    lines = [line for line in out.strip().splitlines() if line.strip()]
    if not lines:
        raise StepError(f"{what} printed no path")
    return Path(lines[-1].strip())


def deltaset_create(ctx: RunCtx, work: Path) -> tuple[str, str]:
    remote = ["--storage", f"s3://{ctx.bucket}/deltaset"] if ctx.bucket else []
    created, out = ds(ctx, "create", "--project", PROJECT, "--name", ctx.corpus, "--json", *remote)
    v1_id = str(parse_json(out, "create --json")["id"])
    added, _ = ds(ctx, "add", "--files", str(work), "--quiet")
    closed, _ = ds(ctx, "close", "--quiet")
    ctx.record("create_v1", created + added + closed)
    storage = ctx.root / "home" / "storage"
    if not ctx.bucket and not storage.is_dir():
        raise StepError(f"no storage folder at {storage} after close")
    ctx.figures["stored_v1"] = du_bytes(storage) if not ctx.bucket else 0
    apply_v2(ctx.v2, work)
    synced, _ = ds(
        ctx, "sync", "--folder", str(work), "--parents", v1_id,
        "--project", PROJECT, "--name", ctx.corpus, "--quiet", *remote,
    )  # fmt: skip
    ctx.record("create_v2", synced)
    if ctx.bucket:  # sizes in a bucket are not measured
        ctx.figures.pop("stored_v1")
        return v1_id, deltaset_v2_id(ctx, v1_id)
    total = du_bytes(storage)
    ctx.figures["stored_v2"] = total - ctx.figures["stored_v1"]
    ctx.figures["stored_total"] = total
    ctx.figures["storage_files"] = count_files(storage)
    ctx.figures["cache_local"] = du_bytes(ctx.root / "home" / "cache")
    return v1_id, deltaset_v2_id(ctx, v1_id)


def deltaset_get(ctx: RunCtx, v2_id: str, cache: Path, step: str) -> None:
    sample, out = ds(ctx, "get", "--id", v2_id, "--quiet", cache=cache)
    ctx.record(step, sample)
    ctx.check_tree(step, last_line(out, "get"))


def deltaset_copy(ctx: RunCtx, v2_id: str, cache: Path, step: str) -> None:
    dest = ctx.root / f"pull-{step}"
    sample, _ = ds(ctx, "get", "--id", v2_id, "--copy", str(dest), "--quiet", cache=cache)
    ctx.record(step, sample)
    ctx.check_tree(step, dest)


_DELTASET_RUNS = itertools.count()


def bench_deltaset(ctx: RunCtx) -> None:
    if not OPTS.deltaset.exists():
        raise StepError(f"{OPTS.deltaset} is not installed yet")
    work = ctx.root / "work"
    working_copy(ctx.v1, work)
    _, v2_id = deltaset_create(ctx, work)
    get_cache, copy_cache = ctx.root / "cache-get", ctx.root / "cache-copy"

    def pull_get() -> None:
        if ctx.attempt("cold_get", lambda: deltaset_get(ctx, v2_id, get_cache, "cold_get")):
            ctx.attempt("warm_get", lambda: deltaset_get(ctx, v2_id, get_cache, "warm_get"))
        else:
            ctx.figures["skip:warm_get"] = 1.0

    def pull_copy() -> None:
        if ctx.attempt("cold_copy", lambda: deltaset_copy(ctx, v2_id, copy_cache, "cold_copy")):
            ctx.attempt("warm_copy", lambda: deltaset_copy(ctx, v2_id, copy_cache, "warm_copy"))
        else:
            ctx.figures["skip:warm_copy"] = 1.0

    # Every other run pulls with --copy first: on ext4, the first files created after the
    # previous run's folders were deleted pay for skipping their freed inodes (the kernel's
    # recently_deleted check), which always charged the cold get alone.
    pulls = [pull_get, pull_copy]
    if next(_DELTASET_RUNS) % 2:
        pulls.reverse()
    for pull in pulls:
        pull()


# ---------------------------------------------------------------- DVC


def dvc_env(ctx: RunCtx) -> dict[str, str]:
    """No analytics, no updater, and no config or site cache shared between runs."""
    conf = ctx.root / "dvc-conf"
    return base_env(
        {
            "DVC_NO_ANALYTICS": "1",
            "DVC_SITE_CACHE_DIR": str(ctx.root / "dvc-site-cache"),
            "DVC_GLOBAL_CONFIG_DIR": str(conf / "global"),
            "DVC_SYSTEM_CONFIG_DIR": str(conf / "system"),
        }
    )


def dvc(ctx: RunCtx, ws: Path, *args: str) -> Sample:
    sample, _ = run([str(OPTS.dvc), *args], dvc_env(ctx), cwd=ws, timeout=ctx.timeout)
    return sample


def dvc_workspace(ctx: RunCtx, ws: Path, cache: Path | None = None) -> None:
    """An empty DVC workspace (no SCM) pointing at the run's local-folder remote."""
    ws.mkdir(parents=True)
    dvc(ctx, ws, "init", "--no-scm", "-q")
    dvc(ctx, ws, "config", "core.analytics", "false")
    dvc(ctx, ws, "config", "core.check_update", "false")
    if ctx.bucket:
        dvc(ctx, ws, "remote", "add", "-d", "s3", f"s3://{ctx.bucket}/dvc")
        dvc(ctx, ws, "remote", "modify", "s3", "endpointurl", OPTS.s3_endpoint)
    else:
        dvc(ctx, ws, "remote", "add", "-d", "local", str(ctx.root / "remote"))
    if cache is not None:
        dvc(ctx, ws, "cache", "dir", str(cache))


def dvc_create(ctx: RunCtx, ws: Path) -> None:
    remote = ctx.root / "remote"
    working_copy(ctx.v1, ws / "data")
    ctx.record("create_v1", dvc(ctx, ws, "add", "-q", "data") + dvc(ctx, ws, "push", "-q"))
    if not ctx.bucket:
        ctx.figures["stored_v1"] = du_bytes(remote)
    apply_v2(ctx.v2, ws / "data")
    ctx.record("create_v2", dvc(ctx, ws, "add", "-q", "data") + dvc(ctx, ws, "push", "-q"))
    if ctx.bucket:  # sizes in a bucket are not measured
        return
    total = du_bytes(remote)
    ctx.figures["stored_v2"] = total - ctx.figures["stored_v1"]
    ctx.figures["stored_total"] = total
    ctx.figures["storage_files"] = count_files(remote)
    ctx.figures["cache_local"] = du_bytes(ws / ".dvc" / "cache")


def dvc_clone(ctx: RunCtx, ws: Path, name: str, cache: Path | None = None) -> Path:
    """A new workspace holding only the metadata of ws: data.dvc and the remote."""
    clone = ctx.root / name
    dvc_workspace(ctx, clone, cache)
    shutil.copy2(ws / "data.dvc", clone / "data.dvc")
    return clone


def dvc_pull(ctx: RunCtx, clone: Path, step: str) -> None:
    ctx.record(step, dvc(ctx, clone, "pull", "-q"))
    ctx.check_tree(step, clone / "data")


def bench_dvc(ctx: RunCtx) -> None:
    if not OPTS.dvc.exists():
        raise StepError(f"{OPTS.dvc} is missing: run bench/setup.sh")
    ws = ctx.root / "ws"
    dvc_workspace(ctx, ws)
    dvc_create(ctx, ws)
    cold = dvc_clone(ctx, ws, "clone-cold")
    if ctx.attempt("cold_copy", lambda: dvc_pull(ctx, cold, "cold_copy")):
        warm = dvc_clone(ctx, ws, "clone-warm", cache=cold / ".dvc" / "cache")
        ctx.attempt("warm_copy", lambda: dvc_pull(ctx, warm, "warm_copy"))
    else:
        ctx.figures["skip:warm_copy"] = 1.0


# ---------------------------------------------------------------- cp -r and tar | zstd


def plain(ctx: RunCtx, *argv: str) -> Sample:
    return run(list(argv), base_env(), timeout=ctx.timeout)[0]


def bench_cp(ctx: RunCtx) -> None:
    work, store = ctx.root / "work", ctx.root / "store"
    working_copy(ctx.v1, work)
    store.mkdir()
    ctx.record("create_v1", plain(ctx, "cp", "-r", str(work), str(store / "v1")))
    ctx.figures["stored_v1"] = du_bytes(store)
    apply_v2(ctx.v2, work)
    ctx.record("create_v2", plain(ctx, "cp", "-r", str(work), str(store / "v2")))
    finish_store(ctx, store)
    pulled = ctx.root / "pull"
    ctx.record("cold_copy", plain(ctx, "cp", "-r", str(store / "v2"), str(pulled)))
    ctx.check_tree("cold_copy", pulled)


def tar_zstd(ctx: RunCtx, work: Path, archive: Path) -> Sample:
    script = f"tar -cf - -C {shlex.quote(str(work))} . | zstd -1 -T0 -q > {archive}"
    return shell(script, base_env(), ctx.timeout)


def bench_tar(ctx: RunCtx) -> None:
    work, store = ctx.root / "work", ctx.root / "store"
    working_copy(ctx.v1, work)
    store.mkdir()
    ctx.record("create_v1", tar_zstd(ctx, work, store / "v1.tar.zst"))
    ctx.figures["stored_v1"] = du_bytes(store)
    apply_v2(ctx.v2, work)
    ctx.record("create_v2", tar_zstd(ctx, work, store / "v2.tar.zst"))
    finish_store(ctx, store)
    pulled = ctx.root / "pull"
    pulled.mkdir()
    script = f"zstd -dc {store / 'v2.tar.zst'} | tar -x -C {shlex.quote(str(pulled))}"
    ctx.record("cold_copy", shell(script, base_env(), ctx.timeout))
    ctx.check_tree("cold_copy", pulled)


def finish_store(ctx: RunCtx, store: Path) -> None:
    total = du_bytes(store)
    ctx.figures["stored_v2"] = total - ctx.figures["stored_v1"]
    ctx.figures["stored_total"] = total
    ctx.figures["storage_files"] = count_files(store)


BENCHES: dict[str, Callable[[RunCtx], None]] = {
    "deltaset": bench_deltaset,
    "dvc": bench_dvc,
    "cp": bench_cp,
    "tar": bench_tar,
}


# Steps each tool has; the others show "—".
APPLIES: dict[str, tuple[str, ...]] = {
    "deltaset": tuple(key for key, _ in STEPS),
    "dvc": ("create_v1", "create_v2", "cold_copy", "warm_copy"),
    "cp": ("create_v1", "create_v2", "cold_copy"),
    "tar": ("create_v1", "create_v2", "cold_copy"),
}


# ---------------------------------------------------------------- orchestration


@dataclass
class Results:
    """figures[corpus][tool][key] -> one value per run; problems as text lines."""

    figures: dict[str, dict[str, dict[str, list[float]]]] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    corpora: dict[str, dict[str, int]] = field(default_factory=dict)

    def add(self, corpus: str, tool: str, run_no: int, ctx: RunCtx) -> None:
        per_tool = self.figures.setdefault(corpus, {}).setdefault(tool, {})
        for key, value in ctx.figures.items():
            per_tool.setdefault(key, []).append(value)
        for problem in ctx.problems:
            self.problems.append(f"{corpus} / {tool} / run {run_no}: {problem}")


def make_corpora(out: Path, names: list[str], scale: float, seed: int) -> Path:
    base = out / f"corpus-scale{scale:g}-seed{seed}"
    cmd = [sys.executable, str(MAKE_CORPUS), str(base), "--corpus", *names]
    cmd += ["--scale", str(scale), "--seed", str(seed)]
    print(f"corpora: {shlex.join(cmd)}", flush=True)
    subprocess.run(cmd, check=True)
    return base


def corpus_stats(base: Path, name: str) -> dict[str, int]:
    stats = {}
    for version in ("v1", "v2"):
        stats[f"{version}_files"] = count_files(base / name / version)
        stats[f"{version}_bytes"] = du_bytes(base / name / version)
    return stats


def one_run(args: argparse.Namespace, base: Path, corpus: str, tool: str) -> RunCtx:
    root = Path(tempfile.mkdtemp(prefix=f"{corpus}-{tool}-", dir=args.out / "runs"))
    ctx = RunCtx(
        corpus=corpus,
        v1=base / corpus / "v1",
        v2=base / corpus / "v2",
        root=root,
        timeout=args.timeout,
        verify=not args.no_verify,
        bucket=new_bucket() if OPTS.s3_endpoint else "",
    )
    try:
        BENCHES[tool](ctx)
    except (StepError, subprocess.TimeoutExpired, OSError) as exc:
        ctx.problems.append(f"FAILED: {exc}")
        ctx.figures["failed"] = 1.0
        for step in APPLIES[tool]:
            if f"t:{step}" not in ctx.figures and f"skip:{step}" not in ctx.figures:
                ctx.figures.setdefault(f"fail:{step}", 1.0)
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    return ctx


def progress(corpus: str, tool: str, run_no: int, ctx: RunCtx) -> None:
    times = " ".join(
        f"{key}={ctx.figures['t:' + key]:.2f}s" for key, _ in STEPS if f"t:{key}" in ctx.figures
    )
    status = "FAILED" if "failed" in ctx.figures else "ok"
    print(f"  {corpus} run {run_no} {tool:8s} {status} {times}", flush=True)
    for problem in ctx.problems:
        print(f"    ! {problem[:400]}", flush=True)


def run_all(args: argparse.Namespace, base: Path) -> Results:
    results = Results()
    (args.out / "runs").mkdir(parents=True, exist_ok=True)
    for corpus in args.corpus:
        results.corpora[corpus] = corpus_stats(base, corpus)
        for run_no in range(1, args.runs + 1):
            for tool in args.tools:
                ctx = one_run(args, base, corpus, tool)
                progress(corpus, tool, run_no, ctx)
                results.add(corpus, tool, run_no, ctx)
    return results


# ---------------------------------------------------------------- report


def median(values: list[float] | None) -> float | None:
    return statistics.median(values) if values else None


def fmt_value(key: str, value: float | None) -> str:
    if value is None:
        return "—"
    if key.startswith("t:"):
        return f"{value:.2f} s"
    if key.startswith(("rss:", "anon:")):
        return f"{value:.0f} MiB"
    if key == "storage_files":
        return f"{value:,.0f}"
    return f"{value / MB:,.2f} MB"


def fmt_ratio(key: str, num: float | None, den: float | None) -> str:
    """num / den; none when den shows as zero (a ratio to "0 MiB" means nothing)."""
    if num is None or den is None or fmt_value(key, den).startswith("0 "):
        return "—"
    ratio = num / den
    return f"{ratio:.2f}×" if ratio >= 0.1 else f"{ratio:.2g}×"


def cell_text(key: str, value: float | None, figures: dict[str, list[float]]) -> str:
    """The median, flagged when some runs failed or pulled wrong content."""
    step = key.split(":", 1)[-1]
    failures = len(figures.get(f"fail:{step}", []))
    if value is None and failures and step in dict(STEPS):
        return "failed"
    if value is None and figures.get(f"skip:{step}"):
        return "not run (cold pull failed)"
    if value is None:
        return "—"
    cell = fmt_value(key, value)
    if figures.get(f"bad:{step}"):
        cell += " (wrong content)"
    if failures:
        cell += f" ({failures} run(s) failed)"
    return cell


def table_row(
    label: str, key: str, per_tool: dict[str, dict[str, list[float]]], tools: list[str]
) -> str:
    meds = {tool: median(per_tool.get(tool, {}).get(key)) for tool in tools}
    cells = [cell_text(key, meds[tool], per_tool.get(tool, {})) for tool in tools]
    ratios = [
        fmt_ratio(key, meds.get("deltaset"), meds[other])
        for other in tools
        if other != "deltaset" and "deltaset" in tools
    ]
    return "| " + " | ".join([label, *cells, *ratios]) + " |"


def table_header(tools: list[str]) -> list[str]:
    heads = ["figure (median)", *[TOOL_TITLES[t] for t in tools]]
    if "deltaset" in tools:
        heads += [f"deltaset / {TOOL_TITLES[t]}" for t in tools if t != "deltaset"]
    return ["| " + " | ".join(heads) + " |", "|" + "---|" * len(heads)]


def corpus_tables(results: Results, corpus: str, tools: list[str]) -> list[str]:
    per_tool = results.figures.get(corpus, {})
    lines = ["", "Time (wall clock):", "", *table_header(tools)]
    lines += [table_row(label, f"t:{key}", per_tool, tools) for key, label in STEPS]
    lines += ["", "Bytes (apparent size, `du -sb`):", "", *table_header(tools)]
    lines += [table_row(label, key, per_tool, tools) for key, label in SIZES]
    lines += ["", "Peak memory (max RSS of the largest process, per step):", ""]
    lines += table_header(tools)
    lines += [table_row(label, f"rss:{key}", per_tool, tools) for key, label in STEPS]
    lines += ["", "Peak anonymous memory (RssAnon summed over the process tree, sampled):", ""]
    lines += table_header(tools)
    lines += [table_row(label, f"anon:{key}", per_tool, tools) for key, label in STEPS]
    return lines


def raw_lines(results: Results, corpus: str, tools: list[str]) -> list[str]:
    """Every run's value, so the spread behind each median stays visible."""
    per_tool = results.figures.get(corpus, {})
    keys = [f"t:{k}" for k, _ in STEPS] + [k for k, _ in SIZES]
    keys += [f"{kind}:{k}" for kind in ("rss", "anon") for k, _ in STEPS]
    lines = ["", "| figure | " + " | ".join(TOOL_TITLES[t] for t in tools) + " |"]
    lines.append("|" + "---|" * (len(tools) + 1))
    for key in keys:
        cells = [
            " / ".join(fmt_value(key, v) for v in per_tool.get(tool, {}).get(key, []))
            for tool in tools
        ]
        if any(cells):
            lines.append(f"| `{key}` | " + " | ".join(c or "—" for c in cells) + " |")
    return lines


def corpus_heading(results: Results, corpus: str) -> list[str]:
    s = results.corpora[corpus]
    return [
        "",
        f"## `{corpus}`",
        "",
        f"v1: {s['v1_files']:,} files, {s['v1_bytes'] / MB:,.1f} MB; "
        f"v2: {s['v2_files']:,} files, {s['v2_bytes'] / MB:,.1f} MB.",
    ]


def tool_version(argv: list[str]) -> str:
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return "not available"
    text = (proc.stdout or proc.stderr).strip().splitlines()
    return text[0].strip() if proc.returncode == 0 and text else "not available"


def deltaset_version() -> str:
    version = tool_version([str(OPTS.deltaset), "--version"])
    if version == "not available":
        python = OPTS.deltaset.parent / "python"
        probe = "import importlib.metadata as m; print(m.version('deltaset'))"
        version = tool_version([str(python), "-c", probe])
    commit = tool_version(["git", "-C", str(REPO_DIR), "log", "-1", "--format=%h %cs"])
    dirty = subprocess.run(
        ["git", "-C", str(REPO_DIR), "status", "--porcelain", "--", "src"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    return (
        f"{version} (repo commit {commit}{', plus uncommitted changes in src/' if dirty else ''})"
    )


def machine_lines() -> list[str]:
    mem = Path("/proc/meminfo").read_text().split("\n", 1)[0].split()[1]
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    return [
        f"- machine: {os.cpu_count()} cores (`nproc`), "
        f"{int(mem) * 1024 / (1 << 30):.1f} GiB memory, {cpu}, "
        f"Linux {platform.release()}",
        f"- date: {dt.datetime.now(dt.UTC).strftime('%Y-%m-%d %H:%M UTC')}",
    ]


def version_lines(tools: list[str]) -> list[str]:
    lines = []
    if "deltaset" in tools and not OPTS.deltaset.exists():
        lines.append(f"- deltaset: pending (no CLI at {OPTS.deltaset} yet)")
    elif "deltaset" in tools:
        lines.append(f"- deltaset: {deltaset_version()}")
    if "dvc" in tools:
        lines.append(f"- DVC: {tool_version([str(OPTS.dvc), '--version'])}")
    if "tar" in tools:
        lines.append(
            f"- {tool_version(['tar', '--version'])}; {tool_version(['zstd', '-V']).strip('* ')}"
        )
    return lines


def command_line(args: argparse.Namespace) -> str:
    parts = ["python3", "bench/run.py", "--corpus", *args.corpus]
    parts += ["--scale", f"{args.scale:g}", "--runs", str(args.runs)]
    parts += ["--tools", *args.tools, "--out", str(args.out)]
    if args.remote != "local":
        parts += ["--remote", args.remote]
    if args.results.resolve() != (BENCH_DIR / "RESULTS.md").resolve():
        name = args.results.resolve()
        shown = name.relative_to(REPO_DIR) if name.is_relative_to(REPO_DIR) else name
        parts += ["--results", str(shown)]
    if args.seed != 7:
        parts += ["--seed", str(args.seed)]
    if args.sync_timed:
        parts.append("--sync-timed")
    return shlex.join(parts)


SUMMARY_START, SUMMARY_END = "<!-- summary -->", "<!-- /summary -->"


def kept_summary(report: Path) -> list[str]:
    """The hand-written part of an earlier report (between the summary markers), kept as is."""
    text = report.read_text() if report.exists() else ""
    start, end = text.find(SUMMARY_START), text.find(SUMMARY_END)
    if start < 0 or end < start:
        return []
    return ["", text[start : end + len(SUMMARY_END)]]


def render(args: argparse.Namespace, results: Results) -> str:
    lines = [
        "# deltaset benchmark results",
        "",
        f"Reproduce with `{command_line(args)}` (then `bash bench/setup.sh` first "
        "if bench/.venv-dvc is missing).",
        "",
        *machine_lines(),
        f"- corpus scale: {args.scale:g} (seed {args.seed}); runs: {args.runs}; "
        "every figure is the median over the runs",
        *version_lines(args.tools),
        "",
        "Ratios are deltaset's median divided by the other tool's: below 1× "
        "deltaset is faster, smaller or lighter. See bench/README.md for what each "
        "step measures exactly. The machine is noisy: compare within one table only.",
        *kept_summary(args.results),
    ]
    for corpus in args.corpus:
        lines += corpus_heading(results, corpus)
        lines += corpus_tables(results, corpus, args.tools)
    lines += ["", "## Problems", ""]
    lines += [f"- {p}" for p in results.problems] or ["None."]
    lines += ["", "## Every run", ""]
    for corpus in args.corpus:
        lines += ["", f"### `{corpus}`", *raw_lines(results, corpus, args.tools)]
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------- main


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--corpus", nargs="+", choices=["small", "large", "many"], default=["small", "large"]
    )
    parser.add_argument("--scale", type=float, default=0.1)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--out", type=Path, default=Path("/tmp/deltaset-bench"))
    parser.add_argument("--tools", nargs="+", choices=TOOLS, default=list(TOOLS))
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--timeout", type=float, default=1800, help="seconds allowed for one command (default 1800)"
    )
    parser.add_argument(
        "--results",
        type=Path,
        default=BENCH_DIR / "RESULTS.md",
        help="markdown report to write (default bench/RESULTS.md)",
    )
    parser.add_argument(
        "--keep", action="store_true", help="keep each run's folder under OUT/runs for inspection"
    )
    parser.add_argument(
        "--no-verify", action="store_true", help="skip comparing every pulled folder with v2"
    )
    parser.add_argument(
        "--sync-timed",
        action="store_true",
        help="end every timed step with sync(2) inside the clock",
    )
    parser.add_argument(
        "--remote",
        choices=["local", "s3"],
        default="local",
        help="where both tools store: a local folder, or buckets of a moto S3 server on "
        "127.0.0.1 (deltaset and DVC only; bytes stored are not measured there)",
    )
    parser.add_argument(
        "--deltaset",
        type=Path,
        default=OPTS.deltaset,
        help="deltaset executable (default: the project venv's)",
    )
    parser.add_argument(
        "--dvc",
        type=Path,
        default=OPTS.dvc,
        help="dvc executable (default: bench/.venv-dvc/bin/dvc)",
    )
    args = parser.parse_args(argv)
    args.tools = [t for t in TOOLS if t in args.tools]
    if args.remote == "s3":
        args.tools = [t for t in args.tools if t in ("deltaset", "dvc")]
    args.out = args.out.resolve()
    return args


def ensure_prerequisites(tools: list[str], remote: str = "local") -> None:
    missing = [tool for tool in ("rsync", "zstd", "tar", "du", "diff") if not shutil.which(tool)]
    dvc_s3 = OPTS.dvc.parent / "python"
    needs_s3 = remote == "s3" and "dvc" in tools
    if "dvc" in tools and (
        not OPTS.dvc.exists()
        or (needs_s3 and subprocess.run([str(dvc_s3), "-c", "import dvc_s3"]).returncode)
    ):
        subprocess.run(["bash", str(BENCH_DIR / "setup.sh")], check=True)
    if missing:
        sys.exit(f"missing commands: {' '.join(missing)} (bash bench/setup.sh installs them)")
    if "deltaset" in tools:
        compile_bytecode(OPTS.deltaset)


def compile_bytecode(executable: Path) -> None:
    """Compile deltaset's modules, as a regular ``pip install`` does at install time.

    An editable install compiles nothing, and with PYTHONDONTWRITEBYTECODE set every command
    would compile every module again: about 0.15 s of start-up no user pays.
    """
    python = executable.parent / "python"
    source = REPO_DIR / "src" / "deltaset"
    if python.exists() and source.is_dir():
        subprocess.run([str(python), "-m", "compileall", "-q", str(source)], check=True)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    OPTS.deltaset, OPTS.dvc = args.deltaset.absolute(), args.dvc.absolute()
    OPTS.sync_timed = args.sync_timed
    ensure_prerequisites(args.tools, args.remote)
    args.out.mkdir(parents=True, exist_ok=True)
    base = make_corpora(args.out, args.corpus, args.scale, args.seed)
    with contextlib.ExitStack() as stack:
        if args.remote == "s3":
            OPTS.s3_endpoint = stack.enter_context(s3_server(OPTS.deltaset.parent / "python"))
        results = run_all(args, base)
    args.results.write_text(render(args, results))
    raw = args.out / f"{args.results.stem}.json"
    raw.write_text(
        json.dumps(
            {"figures": results.figures, "problems": results.problems, "corpora": results.corpora},
            indent=1,
        )
    )
    print(f"wrote {args.results} and {raw}")


if __name__ == "__main__":
    main()
