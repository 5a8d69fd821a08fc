"""Uses: each process that reads a version leaves a record of it in the catalog (who, where,
which code, under which run), once per version and run, so any version knows its consumers
and any run its data (``deltaset usage``).

Recording never fails a read: a use that cannot be kept is a warning, given once.
"""

from __future__ import annotations

import getpass
import logging
import os
import shlex
import socket
import subprocess
import sys
import threading
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from deltaset.catalog.base import Use
from deltaset.catalog.rows import now_iso
from deltaset.core.records import VersionRecord
from deltaset.engine import runs
from deltaset.engine.context import Context

log = logging.getLogger("deltaset")
GIT_TIMEOUT_S = 2.0

_lock = threading.Lock()
_recorded: set[tuple[str, str, str, runs.Run | None]] = set()
_warned = False


@dataclass(frozen=True, slots=True)
class GitState:
    commit: str = ""
    dirty: bool | None = None  # None: not in a git repository


def record(ctx: Context, version: VersionRecord, alias: str | None = None) -> None:
    """Keep a use of ``version`` (named ``alias``, by default the dataset's name) by this
    process, under each run active now, unless one was kept already or the setting is off."""
    if not ctx.settings.record_uses:
        return
    try:
        _record(ctx, version, alias or version.name)
    except Exception as exc:  # noqa: BLE001  # a read must never fail for its record
        _warn_once(exc)


def _record(ctx: Context, version: VersionRecord, alias: str) -> None:
    settings = ctx.settings
    where = str(settings.offline_session or settings.api_url or settings.catalog_path)
    active: list[runs.Run | None] = [*runs.active_runs()] or [None]
    with _lock:
        new = [r for r in active if (where, version.id, alias, r) not in _recorded]
        _recorded.update((where, version.id, alias, r) for r in new)
    if not new:
        return
    base = _process_use(version.id, alias)
    ctx.catalog.add_uses([_under(base, run) for run in new])
    read = runs.VersionRead(
        version.id, alias, version_url(version), version.project, version.name, version.version
    )
    for run in new:
        if run is not None:
            runs.tell(run, read)


def version_url(version: VersionRecord) -> str:
    return f"deltaset://{version.project}/{version.name}@{version.version}"


def _process_use(version_id: str, alias: str) -> Use:
    try:
        git = git_state(os.getcwd())
    except OSError:  # the working directory was deleted
        git = GitState()
    return Use(
        version_id=version_id,
        alias=storable(alias),
        used=now_iso(),
        user=_user(),
        host=_host(),
        command=_command(),
        git_commit=git.commit,
        git_dirty=git.dirty,
    )


def _under(use: Use, run: runs.Run | None) -> Use:
    if run is None:
        return use
    return Use(
        **{
            **use.to_dict(),
            "run_kind": run.kind,
            "run_id": storable(run.id),
            "run_name": storable(run.name),
            "experiment": storable(run.experiment),
        }
    )


@cache
def git_state(folder: str) -> GitState:
    """The commit checked out in the git repository holding ``folder`` and whether its
    tracked files differ from it: one ``git status`` per folder and process."""
    if _repository_of(Path(folder)) is None:
        return GitState()
    try:
        done = subprocess.run(
            ["git", "status", "--porcelain=v2", "--branch", "--untracked-files=no"],
            cwd=folder,
            capture_output=True,
            text=True,
            timeout=GIT_TIMEOUT_S,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return GitState()
    if done.returncode != 0:
        return GitState()
    lines = done.stdout.splitlines()
    commit = next((ln.split()[2] for ln in lines if ln.startswith("# branch.oid ")), "")
    dirty = any(not ln.startswith("#") for ln in lines)
    return GitState("" if commit == "(initial)" else commit, dirty)


def _repository_of(folder: Path) -> Path | None:
    """The git repository above ``folder``, found without starting git (most reads are
    from no repository at all)."""
    for candidate in (folder, *folder.parents):
        if (candidate / ".git").exists():
            return candidate
    return None


@cache
def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


@cache
def _host() -> str:
    return socket.gethostname()


@cache
def _command() -> str:
    return storable(shlex.join(getattr(sys, "orig_argv", sys.argv)))


def storable(text: str) -> str:
    """``text`` as any catalog can keep it: bytes of a command line or an environment that
    are not UTF-8 (held by Python as surrogates) become ``\\xNN``."""
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def _warn_once(exc: Exception) -> None:
    global _warned
    with _lock:
        if _warned:
            return
        _warned = True
    log.warning(
        "deltaset could not record which version this process read (%s); reads go on, and "
        "'deltaset config set record-uses off' stops recording",
        str(exc).rstrip("."),
    )


def forget() -> None:
    """Record again from scratch (tests start several 'processes' in one)."""
    global _warned
    with _lock:
        _recorded.clear()
        _warned = False
    git_state.cache_clear()
