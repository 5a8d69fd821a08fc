"""Small tmpfs mounts for the tests of a full disk (tests run as root here), made so that a run
killed mid-test leaves none in the way of the next run.

A mount left under pytest's numbered temporary folders broke every later run: pytest, removing
its old folders, cannot remove a mount point, and warns (an error here) at each run from then
on. So each mount sits outside them, in ``<temp>/deltaset-tmpfs/<owner>/``, whose owner holds
an exclusive ``flock`` on ``<owner>.lock`` while it mounts there (the kernel drops it the moment
the process dies, even killed with ``-9``), and is named by its source, :data:`SOURCE`. Before
it mounts, each owner sweeps the folders of owners that are gone (their lock can be taken): it
unmounts the mounts of that source under them, then removes them. Nothing another tool mounted
is ever touched.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import re
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from deltaset.cache.link_log import locked_new_file

SOURCE = "deltaset-test-tmpfs"  # a mount's source, as /proc/self/mounts lists it
_LOCK = ".lock"
_MAKING = ".locking"  # a lock's name until it is locked

Mount = Callable[[str, str], Path]


def default_root() -> Path:
    return Path(tempfile.gettempdir()) / "deltaset-tmpfs"


@pytest.fixture
def tmpfs() -> Iterator[Mount]:
    """``tmpfs(name, size)`` mounts a tmpfs of ``size`` (such as ``2m``) in a folder ``name``
    of this test's own, and unmounts it when the test ends."""
    mounts = Mounts(default_root())
    try:
        yield mounts.mount
    finally:
        mounts.close()


class Mounts:
    """The tmpfs mounts of one owner under ``root``; :meth:`close` unmounts them."""

    def __init__(self, root: Path) -> None:
        root.mkdir(parents=True, exist_ok=True)
        sweep(root)
        owner = uuid.uuid4().hex
        self._lock = locked_new_file(f"{root}/{owner}{_MAKING}", f"{root}/{owner}{_LOCK}")
        self.folder = root / owner
        self.folder.mkdir()
        self._mounted: list[Path] = []

    def mount(self, name: str, size: str) -> Path:
        folder = self.folder / name
        folder.mkdir()
        command = ["mount", "-t", "tmpfs", "-o", f"size={size}", SOURCE, str(folder)]
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        assert done.returncode == 0, f"cannot mount a tmpfs (tests need root): {done.stderr}"
        self._mounted.append(folder)
        return folder

    def close(self) -> None:
        try:
            for folder in reversed(self._mounted):
                subprocess.run(["umount", "-l", str(folder)], check=True)
            shutil.rmtree(self.folder)
        finally:
            os.unlink(f"{self.folder}{_LOCK}")
            os.close(self._lock)


def fill(folder: Path) -> Path:
    """Write a filler file into ``folder`` until its device has no byte left."""
    filler = folder / "filler"
    with filler.open("wb", buffering=0) as handle:
        while True:
            try:
                handle.write(b"\0" * 4096)
            except OSError as exc:
                if exc.errno != errno.ENOSPC:
                    raise
                break
    assert shutil.disk_usage(folder).free == 0
    return filler


def sweep(root: Path) -> None:
    """Unmount and remove what the owners under ``root`` that are gone left."""
    for folder in root.iterdir():
        if folder.is_dir() and not folder.is_symlink():
            with contextlib.suppress(FileNotFoundError):
                _sweep_owner(folder)


def _sweep_owner(folder: Path) -> None:
    lock = Path(f"{folder}{_LOCK}")
    try:
        fd = os.open(lock, os.O_RDONLY)
    except FileNotFoundError:
        fd = -1  # an owner makes its lock before its folder: this one is gone
    try:
        if fd >= 0:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return  # its owner is alive
        for mounted in sorted(mounts_under(folder), reverse=True):
            subprocess.run(["umount", "-l", str(mounted)], check=True)
        shutil.rmtree(folder)
        lock.unlink(missing_ok=True)
    finally:
        if fd >= 0:
            os.close(fd)


def mounts_under(folder: Path) -> list[Path]:
    """The mount points of :data:`SOURCE` below ``folder``."""
    found = []
    for line in Path("/proc/self/mounts").read_text().splitlines():
        source, point = line.split(" ")[:2]
        path = Path(_unescaped(point))
        if source == SOURCE and path.is_relative_to(folder):
            found.append(path)
    return found


def _unescaped(field: str) -> str:
    """A path as /proc/self/mounts writes it, spaces and such as octal escapes."""
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), field)
