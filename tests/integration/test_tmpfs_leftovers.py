"""A test run killed while a test holds a tmpfs mounted (see :mod:`tests.tmpfs`) leaves the
next runs nothing to trip on: pytest removes the killed run's folders, with warnings as errors,
and the next test to mount sweeps the killed run's mount."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.tmpfs import mounts_under

ROOT = Path(__file__).resolve().parents[2]
INNER = """
import os
import signal
from pathlib import Path

from tests.tmpfs import Mount, tmpfs  # noqa: F401


def test_mounting(tmp_path: Path, tmpfs: Mount) -> None:
    (tmp_path / "file").write_bytes(b"x")
    (tmpfs("disk", "1m") / "file").write_bytes(b"x")
    if os.environ.get("KILL_MID_TEST"):
        os.kill(os.getpid(), signal.SIGKILL)
"""
DAY = 24 * 3600


@pytest.fixture
def inner(tmp_path: Path) -> Iterator[Path]:
    """A project of one test that mounts a tmpfs, whose runs keep their temporary folders
    (pytest's and the mounts') in ``tmp_path/tmp``; every mount there goes at the end."""
    project = tmp_path / "project"
    project.mkdir()
    (project / "pytest.ini").write_text("[pytest]\nfilterwarnings = error\n")
    (project / "test_inner.py").write_text(INNER)
    (tmp_path / "tmp").mkdir()
    try:
        yield project
    finally:
        for mounted in sorted(mounts_under(tmp_path), reverse=True):
            subprocess.run(["umount", "-l", str(mounted)], check=True)


def run(project: Path, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {
        **os.environ,
        **env,
        "TMPDIR": str(project.parent / "tmp"),
        "PYTHONPATH": f"{ROOT}{os.pathsep}{ROOT / 'src'}",
        "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1",
    }
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_inner.py"]
    return subprocess.run(
        command, cwd=project, env=environ, capture_output=True, text=True, timeout=120, check=False
    )


def test_a_mount_a_killed_run_left_breaks_no_later_run(inner: Path) -> None:
    temp = inner.parent / "tmp"
    killed = run(inner, KILL_MID_TEST="1")
    assert killed.returncode == -signal.SIGKILL, killed.stdout + killed.stderr
    [left] = mounts_under(temp)
    [killed_run] = temp.glob("pytest-of-*/pytest-[0-9]*")
    # pytest removes a killed run's folder once its lock is three days old: as if they passed.
    old = time.time() - 4 * DAY
    os.utime(killed_run / ".lock", (old, old))

    for _ in range(3):  # the third run's end removes the oldest of the four
        done = run(inner)
        assert done.returncode == 0, done.stdout + done.stderr
        assert left not in mounts_under(temp)  # swept by the first run to mount
    assert not killed_run.exists()
    assert mounts_under(temp) == []
