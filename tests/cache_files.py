"""What a blob cache holds on disk, as the tests of its writes look at it: its files, what its
staging folder still holds, what ``deltaset cache info`` counts, and commands killed or paused
at a failpoint of a write (see :mod:`deltaset.faults`)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from deltaset.faults import FAILPOINT_ENV, PAUSE_ENV
from tests.conftest import run_cli

KILLED = -signal.SIGKILL


def blob_files(cache: Path) -> list[Path]:
    return sorted(p for p in (cache / "blobs").rglob("*") if p.is_file())


def leftovers(cache: Path) -> list[str]:
    """What the cache's staging folder holds: nothing, once every write is over or swept."""
    return os.listdir(cache / "tmp")


def cache_info() -> tuple[int, int]:
    """What ``deltaset cache info`` counts, bytes and files: it opens the cache, as every
    operation does, so it sweeps what a killed one left first."""
    done = run_cli("cache", "info", "--json")
    assert done.returncode == 0, done.stderr
    info = json.loads(done.stdout)
    return int(info["bytes"]), int(info["files"])


def killed_at(point: str, *args: str) -> None:
    """Run ``deltaset args``, killed at the failpoint ``point``."""
    done = run_cli(*args, env={FAILPOINT_ENV: point})
    assert done.returncode == KILLED, done.stderr


def paused_at(
    point: str, until: Path, meanwhile: Callable[[], object], *args: str
) -> subprocess.CompletedProcess[str]:
    """Run ``deltaset args`` in a process of its own, pausing a few seconds at the failpoint
    ``point``; call ``meanwhile`` once ``until`` exists (or the process ended), then let it
    end. Returns how it ended, its errors."""
    command = [sys.executable, "-m", "deltaset", *args]
    env = {**os.environ, PAUSE_ENV: f"{point}:4"}
    with subprocess.Popen(command, env=env, stderr=subprocess.PIPE, text=True) as process:
        while not until.exists() and process.poll() is None:
            time.sleep(0.005)
        meanwhile()
        _, errors = process.communicate(timeout=120)
    return subprocess.CompletedProcess(command, process.returncode, None, errors)
