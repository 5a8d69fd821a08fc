"""Locks between processes: shared pins held by readers, exclusive locks for eviction.

A pin is an ``flock`` shared lock held for as long as the process lives, so a folder handed
out by ``get_local_copy`` is never evicted under a reader; the kernel drops it if the process dies.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

_pins: dict[Path, int] = {}


def _open(path: Path) -> int:
    path.parent.mkdir(parents=True, exist_ok=True)
    return os.open(path, os.O_RDWR | os.O_CREAT, 0o644)


def pin(path: Path) -> None:
    """Hold a shared lock on ``path`` until this process exits."""
    if path in _pins:
        return
    fd = _open(path)
    fcntl.flock(fd, fcntl.LOCK_SH)
    _pins[path] = fd


@contextmanager
def shared(path: Path) -> Iterator[None]:
    fd = _open(path)
    try:
        fcntl.flock(fd, fcntl.LOCK_SH)
        yield
    finally:
        os.close(fd)


@contextmanager
def exclusive(path: Path, *, wait: bool = True) -> Iterator[bool]:
    """Yields whether the exclusive lock was taken (always True when ``wait``)."""
    fd = _open(path)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            yield False
            return
        yield True
    finally:
        os.close(fd)


def held_by_this_process(path: Path) -> bool:
    return path in _pins
