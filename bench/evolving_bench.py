"""Bytes stored for a whole history, and the time to close and pull it (issue 19).

On each corpus of ``bench/evolving.py``, the versions are committed in order by:

- deltaset (``sync --folder vNN --parents PREVIOUS``), from one or more source trees (``--src``,
  e.g. the main branch's and this one's): bytes in the storage folder, bytes the syncs left
  in the cache, seconds of every sync (add + close), and seconds of a cold ``get --copy`` of
  the newest version;
- git: each version committed in order, then ``git gc --aggressive``: bytes of the pack;
- ``zstd -3 --long=27 --patch-from`` and ``xdelta3 -e -9 -s``: the first version compressed,
  then each file as a patch from the same path's previous content (a new file: from the
  previous file with the same suffix), summed;
- DVC, borg, restic and Oxen, each committing every version in order and restoring the newest
  cold (``bench/evolving_peers.py``; ``--peer-tools`` picks them).

    python3 bench/evolving_bench.py --out /tmp/evolving --src /work/main/src src --runs 3

With ``--repack``, each history is then rewritten by ``gc --delete --repack`` and measured again
(bytes stored, cold pulls of the newest and the oldest version).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from evolving import corpus
from evolving_peers import PEERS, cpu, du, run
from evolving_peers import measure as measure_peer


def files_of(folder: Path) -> dict[str, Path]:
    found = {str(p.relative_to(folder)): p for p in sorted(folder.rglob("*")) if p.is_file()}
    return {name: path for name, path in found.items() if not name.startswith(".deltaset")}


def deltaset(folders: list[Path], src: Path, work: Path, repack: bool) -> dict[str, float]:
    """Commit every version with deltaset from ``src``; stored bytes, sync and pull seconds
    (and with ``repack``, those after a ``gc --repack``)."""
    home = work / "home"
    env = {**os.environ, "PYTHONPATH": str(src.resolve()), "DELTASET_HOME": str(home)}
    env.pop("DELTASET_CACHE_DIR", None)
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # else every command compiles every module again
    base = [sys.executable, "-m", "deltaset"]
    parent: list[str] = []
    ids: list[str] = []
    syncs = []
    sync_cpu = cpu()
    for folder in folders:
        start = time.perf_counter()
        out = run([*base, "sync", "--folder", str(folder), *parent, "--project", "evolving",
                   "--name", "history", "--json", "--quiet"], env)  # fmt: skip
        syncs.append(time.perf_counter() - start)
        version = json.loads(out[out.index("{") :])
        ids.append(str(version.get("id") or version["version"]["id"]))
        parent = ["--parents", ids[-1]]
    sync_cpu = cpu() - sync_cpu
    stored = du(home / "storage")
    cached = du(home / "cache") if (home / "cache").is_dir() else 0  # what the syncs left there
    cold = work / "cold-cache"
    env_cold = {**env, "DELTASET_CACHE_DIR": str(cold)}
    start, pull_cpu = time.perf_counter(), cpu()
    run([*base, "get", "--id", parent[1], "--copy", str(work / "pulled"), "--quiet"], env_cold)
    pull, pull_cpu = time.perf_counter() - start, cpu() - pull_cpu
    same_files(work / "pulled", folders[-1])
    found = {
        "stored": stored,
        "cache_bytes": cached,
        "sync_s": sum(syncs),
        "sync_cpu_s": sync_cpu,
        "last_sync_s": syncs[-1],
        "pull_s": pull,
        "pull_cpu_s": pull_cpu,
    }
    if repack:
        found |= after_repack(base, env, work, ids, folders)
    return found


def same_files(pulled: Path, folder: Path) -> None:
    if files_of(pulled).keys() != files_of(folder).keys():
        raise SystemExit(f"the pulled {folder.name} lists other files than it should")
    for name, path in files_of(folder).items():
        if (pulled / name).read_bytes() != path.read_bytes():
            raise SystemExit(f"the pulled {name} differs from {folder.name}'s")


def after_repack(
    base: list[str], env: dict[str, str], work: Path, ids: list[str], folders: list[Path]
) -> dict[str, float]:
    """``gc --delete --repack``: its seconds, the bytes stored after it, and a cold pull of the
    newest and of the oldest version (each into an empty cache)."""
    start, gc_cpu = time.perf_counter(), cpu()
    run([*base, "gc", "--delete", "--repack", "--keep-recent", "0", "--quiet"], env)
    found = {"repack_s": time.perf_counter() - start, "repack_cpu_s": cpu() - gc_cpu}
    found["stored_repacked"] = du(Path(env["DELTASET_HOME"]) / "storage")
    for label, at in (("newest", -1), ("oldest", 0)):
        cold, pulled = work / f"cold-{label}", work / f"pulled-{label}"
        env_cold = {**env, "DELTASET_CACHE_DIR": str(cold)}
        start, pull_cpu = time.perf_counter(), cpu()
        run([*base, "get", "--id", ids[at], "--copy", str(pulled), "--quiet"], env_cold)
        found[f"repacked_pull_{label}_s"] = time.perf_counter() - start
        found[f"repacked_pull_{label}_cpu_s"] = cpu() - pull_cpu
        same_files(pulled, folders[at])
    return found


def git_bytes(folders: list[Path], work: Path) -> int:
    repo = work / "git"
    run(["git", "init", "-q", str(repo)])
    who = {"NAME": "bench", "EMAIL": "bench@example.invalid"}
    env = {
        **os.environ,
        **{f"GIT_{r}_{k}": v for r in ("AUTHOR", "COMMITTER") for k, v in who.items()},
    }
    for folder in folders:
        for old in repo.iterdir():
            if old.name != ".git":
                shutil.rmtree(old) if old.is_dir() else old.unlink()
        shutil.copytree(folder, repo, dirs_exist_ok=True)
        run(["git", "add", "-A"], env, repo)
        run(["git", "commit", "-q", "-m", folder.name], env, repo)
    run(["git", "gc", "-q", "--aggressive", "--prune=now"], env, repo)
    return du(repo / ".git" / "objects" / "pack")


def _previous(name: str, earlier: dict[str, Path]) -> Path | None:
    if name in earlier:
        return earlier[name]
    same = [n for n in earlier if Path(n).suffix == Path(name).suffix]
    return earlier[max(same)] if same else None


def patch_bytes(folders: list[Path], tool: str, work: Path) -> int:
    """The first version compressed whole, then each changed or new file as a patch."""
    total, earlier = 0, {}
    out = work / "patch"
    for number, folder in enumerate(folders):
        now = files_of(folder)
        for name, path in now.items():
            base = _previous(name, earlier) if number else None
            if base is not None and base.read_bytes() == path.read_bytes():
                continue
            if tool == "zstd":
                cmd = ["zstd", "-q", "-f", "-3", "--long=27", path, "-o", out]
                if base is not None:
                    cmd[4:4] = [f"--patch-from={base}"]
            else:
                cmd = ["xdelta3", "-e", "-9", "-f", *(["-s", base] if base else []), path, out]
            run([str(c) for c in cmd])
            total += out.stat().st_size
        earlier = now
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=Path("/tmp/evolving"))
    parser.add_argument("--corpus", nargs="+", default=["table", "dumps", "source"])
    parser.add_argument("--src", nargs="+", type=Path, default=[Path("src")])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument(
        "--peers", action="store_true", help="measure git, zstd, xdelta3 and --peer-tools too"
    )
    parser.add_argument("--peer-tools", nargs="*", choices=sorted(PEERS), default=sorted(PEERS))
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--repack",
        action="store_true",
        help="then run gc --delete --repack: its time, the bytes after it, cold pulls of the "
        "newest and the oldest version",
    )
    args = parser.parse_args()
    results = {}
    for name in args.corpus:
        folders, label = corpus(name, args.out, args.seed)
        row: dict[str, object] = {"label": label, "versions": len(folders)}
        row["raw_bytes_newest"] = du(folders[-1])
        if args.peers:
            with tempfile.TemporaryDirectory(dir=args.out) as tmp:
                row["git_gc_aggressive"] = git_bytes(folders, Path(tmp))
            for tool in ("zstd", "xdelta3"):
                if shutil.which(tool):
                    with tempfile.TemporaryDirectory(dir=args.out) as tmp:
                        row[f"{tool}_patches"] = patch_bytes(folders, tool, Path(tmp))
            for peer in args.peer_tools:
                with tempfile.TemporaryDirectory(dir=args.out) as tmp:
                    row[peer] = measure_peer(peer, folders, Path(tmp), same_files)
                print(json.dumps({name: {peer: row[peer]}}), flush=True)
        runs: dict[Path, list[dict[str, float]]] = {src: [] for src in args.src}
        for _ in range(args.runs):  # interleaved, so that the machine's load spreads over all
            for src in args.src:
                with tempfile.TemporaryDirectory(dir=args.out) as tmp:
                    runs[src].append(deltaset(folders, src, Path(tmp), args.repack))
        for src, found in runs.items():
            row[str(src)] = {k: statistics.median(r[k] for r in found) for k in found[0]}
        results[name] = row
        print(json.dumps({name: row}, indent=1), flush=True)
    print(f"load average at the end: {os.getloadavg()}")


if __name__ == "__main__":
    main()
