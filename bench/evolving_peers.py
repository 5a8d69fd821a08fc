"""The peers of ``bench/evolving_bench.py --peers`` that keep a history themselves.

Each commits every version of a corpus in order, the way its users would, then restores the
newest into an empty folder: DVC (a local-folder remote), borg (``--encryption=none``,
``--compression zstd,3``, its default chunker), restic (its default compression, ``auto``)
and Oxen (a local repository, through its Python bindings). For each: the bytes it stores for
the whole history, wall and CPU seconds of the commits, and of a cold restore of the newest,
which is checked file by file against the folder. A peer that is not installed is left out
(``PEERS=1 bash bench/setup.sh`` installs them).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

HERE = Path(__file__).parent
DVC = HERE / ".venv-dvc" / "bin" / "dvc"
OXEN_PYTHON = HERE / ".venv-oxen" / "bin" / "python"


def cpu() -> float:
    """CPU seconds the finished child processes used (steadier than wall time on a busy host)."""
    used = os.times()
    return used.children_user + used.children_system


def du(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def run(
    cmd: Sequence[str | Path], env: dict[str, str] | None = None, cwd: Path | None = None
) -> str:
    """``cmd``'s standard output; a failure ends the benchmark, naming the command."""
    done = subprocess.run([str(c) for c in cmd], env=env, cwd=cwd, capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"{' '.join(map(str, cmd))} failed: {done.stderr[-2000:]}")
    return done.stdout


class Timer:
    """Wall and CPU seconds of the child processes run inside :meth:`measure`, summed."""

    def __init__(self) -> None:
        self.wall = self.cpu = 0.0

    @contextmanager
    def measure(self) -> Iterator[None]:
        start, used = time.perf_counter(), cpu()
        yield
        self.wall += time.perf_counter() - start
        self.cpu += cpu() - used


def replace_contents(target: Path, folder: Path) -> None:
    """Make ``target`` hold exactly ``folder``'s files (what a user's working copy does)."""
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(folder, target)


def dvc(folders: list[Path], work: Path) -> tuple[Timer, Timer, Path, Path]:
    env = {
        **os.environ,
        "DVC_NO_ANALYTICS": "1",
        "DVC_SITE_CACHE_DIR": str(work / "site-cache"),
        "DVC_GLOBAL_CONFIG_DIR": str(work / "conf-global"),
        "DVC_SYSTEM_CONFIG_DIR": str(work / "conf-system"),
    }
    remote, workspace, clone = work / "remote", work / "workspace", work / "clone"
    for place in (workspace, clone):
        place.mkdir()
        run([DVC, "init", "--no-scm", "-q"], env, place)
        run([DVC, "remote", "add", "-d", "local", remote], env, place)
    commits, restore = Timer(), Timer()
    for folder in folders:
        replace_contents(workspace / "data", folder)
        with commits.measure():
            run([DVC, "add", "-q", "data"], env, workspace)
            run([DVC, "push", "-q"], env, workspace)
    shutil.copy(workspace / "data.dvc", clone / "data.dvc")
    with restore.measure():
        run([DVC, "pull", "-q"], env, clone)
    return commits, restore, remote, clone / "data"


def borg(folders: list[Path], work: Path) -> tuple[Timer, Timer, Path, Path]:
    env = {
        **os.environ,
        "BORG_BASE_DIR": str(work / "home"),
        "BORG_UNKNOWN_UNENCRYPTED_REPO_ACCESS_IS_OK": "yes",
        "BORG_RELOCATED_REPO_ACCESS_IS_OK": "yes",
    }
    repo, restored = work / "repo", work / "restored"
    run(["borg", "init", "--encryption=none", repo], env)
    commits, restore = Timer(), Timer()
    for folder in folders:
        with commits.measure():
            archive = f"{repo}::{folder.name}"
            run(["borg", "create", "--compression", "zstd,3", archive, "."], env, folder)
    restored.mkdir()
    with restore.measure():
        run(["borg", "extract", f"{repo}::{folders[-1].name}"], env, restored)
    return commits, restore, repo, restored


def restic(folders: list[Path], work: Path) -> tuple[Timer, Timer, Path, Path]:
    env = {**os.environ, "RESTIC_PASSWORD": "bench", "RESTIC_CACHE_DIR": str(work / "cache")}
    repo, restored = work / "repo", work / "restored"
    run(["restic", "init", "--quiet", "--repo", repo], env)
    commits, restore = Timer(), Timer()
    for folder in folders:
        with commits.measure():
            run(
                ["restic", "backup", "--quiet", "--repo", repo, "--host", "bench", "."], env, folder
            )
    with restore.measure():
        run(["restic", "restore", "latest", "--quiet", "--repo", repo, "--target", restored], env)
    return commits, restore, repo, restored  # ".": the folder's files at the snapshot's top


def oxen(folders: list[Path], work: Path) -> tuple[Timer, Timer, Path, Path]:
    env = {**os.environ, "HOME": str(work / "home")}
    workspace, clone = work / "workspace", work / "clone"
    workspace.mkdir()
    clone.mkdir()

    def bindings(statement: str, *args: Path) -> list[str | Path]:
        repo = "import oxen, sys; repo = oxen.Repo(sys.argv[1]);"
        return [OXEN_PYTHON, "-c", f"{repo} {statement}", *args]

    setup = "oxen.user.config_user('bench', 'bench@localhost'); repo.init()"
    run(bindings(setup, workspace), env)
    commits, restore = Timer(), Timer()
    for folder in folders:
        replace_contents(workspace / "data", folder)
        with commits.measure():
            run(bindings("repo.add(sys.argv[2])", workspace, workspace / "data"), env)
            run(bindings(f"repo.commit('{folder.name}')", workspace), env)
    shutil.copytree(workspace / ".oxen", clone / ".oxen")
    with restore.measure():
        run(bindings("repo.restore('data')", clone), env)
    return commits, restore, workspace / ".oxen", clone / "data"


PEERS: dict[str, tuple[Callable[[], bool], Callable[..., tuple[Timer, Timer, Path, Path]]]] = {
    "dvc": (DVC.exists, dvc),
    "borg": (lambda: shutil.which("borg") is not None, borg),
    "restic": (lambda: shutil.which("restic") is not None, restic),
    "oxen": (OXEN_PYTHON.exists, oxen),
}


def measure(
    name: str, folders: list[Path], work: Path, same_files: Callable[[Path, Path], None]
) -> dict[str, float] | None:
    """One peer's figures for the history ``folders``; None when it is not installed."""
    installed, commit_all = PEERS[name]
    if not installed():
        return None
    commits, restore, stored, restored = commit_all(folders, work)
    same_files(restored, folders[-1])
    return {
        "stored": du(stored),
        "commits_s": commits.wall,
        "commits_cpu_s": commits.cpu,
        "pull_s": restore.wall,
        "pull_cpu_s": restore.cpu,
    }
