"""Rebuilding the line deltas a pull of a version decodes (issue 19): capture them once, then
time their decoding by each of several source trees, interleaved.

    # a history made by ``bench/evolving_bench.py`` or ``deltaset sync`` in DELTASET_HOME:
    DELTASET_HOME=H PYTHONPATH=src python bench/line_deltas.py capture --id VERSION --out D.pickle
    python bench/line_deltas.py time D.pickle --src /tmp/main/src src --runs 5
    DELTASET_HOME=H python bench/line_deltas.py pull --id VERSION --src /tmp/main/src src

``capture`` pulls the version cold (``get_mutable_local_copy`` into an empty cache) with the
codec's line-delta decoder wrapped: it keeps each line delta's payload, raw length and base
bytes, and the chunk ids the pull read. ``time`` imports each source tree in a child process,
decodes every captured line delta (checking its bytes against the blob id), and prints the
best and median CPU seconds of ``--runs``; with ``--read HOME``, also a ``BlobStore.read`` of
the captured chunk ids (a fresh store each run: no memo kept between runs). ``pull`` times a
cold ``get --copy`` of the version by the CLI of each source tree, interleaved (CPU seconds
of the child process, each into an empty cache).
"""

from __future__ import annotations

import argparse
import os
import pickle
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any


def capture(version_id: str, out: Path) -> None:
    from deltaset.api.dataset import Dataset
    from deltaset.objects.store import BlobStore
    from deltaset.packs import codec

    deltas: list[tuple[bytes, int, str, bytes]] = []
    chunks: list[str] = []
    decode_lines, read = codec._decode_lines, BlobStore.read

    def keep_delta(payload: bytes, raw_length: int, blob_id: str, base: bytes) -> bytes:
        deltas.append((payload, raw_length, blob_id, base))
        return decode_lines(payload, raw_length, blob_id, base)

    def keep_ids(self: BlobStore, blob_ids: Any, *args: Any, **kwargs: Any) -> int:
        blob_ids = list(blob_ids)
        chunks.extend(blob_ids)
        return read(self, blob_ids, *args, **kwargs)

    codec._decode_lines = keep_delta  # type: ignore[assignment]
    BlobStore.read = keep_ids  # type: ignore[method-assign]
    with tempfile.TemporaryDirectory() as work:
        os.environ["DELTASET_CACHE_DIR"] = str(Path(work) / "cache")
        Dataset.get(dataset_id=version_id).get_mutable_local_copy(str(Path(work) / "copy"))
    out.write_bytes(pickle.dumps({"deltas": deltas, "chunks": chunks}))
    raw = sum(d[1] for d in deltas)
    print(f"{len(deltas)} line deltas ({raw / 1e6:.1f} MB), {len(chunks)} chunk ids read")


CHILD = r"""
import pickle, statistics, sys, time
from blake3 import blake3
from deltaset.packs import codec
captured = pickle.loads(open(sys.argv[1], "rb").read())
runs, home = int(sys.argv[2]), sys.argv[3]
for payload, raw_length, blob_id, base in captured["deltas"]:
    data = codec._decode_lines(payload, raw_length, blob_id, base)
    assert blake3(data).hexdigest() == blob_id, blob_id
def decode_all():
    for payload, raw_length, blob_id, base in captured["deltas"]:
        codec._decode_lines(payload, raw_length, blob_id, base)
def read_all():
    from deltaset.engine.context import Context
    ctx = Context()
    try:
        url = ctx.storage_url(None)
        found = {}
        ctx.blobs(url).read(captured["chunks"], found.__setitem__)
    finally:
        ctx.close()
times = {"decode": [], "read": []}
for _ in range(runs):
    for name, step in (("decode", decode_all), ("read", read_all)):
        if name == "read" and not home:
            continue
        start = time.process_time()
        step()
        times[name].append(time.process_time() - start)
print(" ".join(f"{k}={min(v):.4f}/{statistics.median(v):.4f}" for k, v in times.items() if v))
"""


def time_sources(data: Path, sources: list[Path], runs: int, rounds: int, home: str) -> None:
    for round_ in range(rounds):
        for src in sources:
            env = {**os.environ, "PYTHONPATH": str(src.resolve())}
            if home:
                env["DELTASET_HOME"] = home
            start = time.perf_counter()
            done = subprocess.run(
                [sys.executable, "-c", CHILD, str(data), str(runs), home],
                env=env, capture_output=True, text=True, check=False,
            )  # fmt: skip
            if done.returncode:
                raise SystemExit(done.stderr[-3000:])
            print(f"round {round_} {src}: {done.stdout.strip()} (best/median CPU s; "
                  f"{time.perf_counter() - start:.1f} s wall)", flush=True)  # fmt: skip


def pull(version_id: str, sources: list[Path], runs: int) -> None:
    times: dict[Path, list[tuple[float, float]]] = {src: [] for src in sources}
    for _ in range(runs):
        for src in sources:
            with tempfile.TemporaryDirectory() as work:
                env = {**os.environ, "PYTHONPATH": str(src.resolve())}
                env["DELTASET_CACHE_DIR"] = str(Path(work) / "cache")
                env.pop("PYTHONDONTWRITEBYTECODE", None)  # else each run compiles every module
                before = resource.getrusage(resource.RUSAGE_CHILDREN)
                start = time.perf_counter()
                subprocess.run(
                    [sys.executable, "-m", "deltaset", "get", "--id", version_id,
                     "--copy", str(Path(work) / "copy"), "--quiet"],
                    env=env, check=True,
                )  # fmt: skip
                wall = time.perf_counter() - start
                after = resource.getrusage(resource.RUSAGE_CHILDREN)
                used = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
                times[src].append((used, wall))
    for src, found in times.items():
        cpu = statistics.median(t[0] for t in found)
        wall = statistics.median(t[1] for t in found)
        print(f"{src}: cold get --copy {cpu:.2f} CPU s, {wall:.2f} s wall (medians of {runs})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    take = commands.add_parser("capture")
    take.add_argument("--id", required=True)
    take.add_argument("--out", type=Path, required=True)
    measure = commands.add_parser("time")
    measure.add_argument("data", type=Path)
    measure.add_argument("--src", nargs="+", type=Path, default=[Path("src")])
    measure.add_argument("--runs", type=int, default=5)
    measure.add_argument("--rounds", type=int, default=1)
    measure.add_argument("--read", default="", help="the DELTASET_HOME of the captured history")
    pulling = commands.add_parser("pull")
    pulling.add_argument("--id", required=True)
    pulling.add_argument("--src", nargs="+", type=Path, default=[Path("src")])
    pulling.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    if args.command == "capture":
        capture(args.id, args.out)
    elif args.command == "pull":
        pull(args.id, args.src, args.runs)
    else:
        time_sources(args.data, args.src, args.runs, args.rounds, args.read)


if __name__ == "__main__":
    main()
