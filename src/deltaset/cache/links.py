"""Placing a cached blob at a path: hard link, symbolic link, or copy where links are impossible."""

from __future__ import annotations

import contextlib
import errno
import itertools
import os
import uuid
from collections.abc import Callable
from enum import StrEnum

from deltaset.faults import failpoint

LINK_FAILURES = (errno.EXDEV, errno.EPERM, errno.EMLINK, errno.ENOTSUP, errno.EACCES)


class LinkMode(StrEnum):
    HARDLINK = "hardlink"
    SYMLINK = "symlink"
    COPY = "copy"


StrPath = str | os.PathLike[str]

# Temporary names: a random prefix a process (drawn again in a forked child), then a count. A
# uuid4 a file cost a getrandom call and an object on every file of a pull.
_prefix = uuid.uuid4().hex
_counter = itertools.count()


def _new_prefix() -> None:
    global _prefix, _counter
    _prefix, _counter = uuid.uuid4().hex, itertools.count()


os.register_at_fork(after_in_child=_new_prefix)


def unique_name() -> str:
    """A name no other file being written on this machine has (while this process runs)."""
    return f"{_prefix}-{next(_counter)}"


def place(blob: StrPath, dest: StrPath, mode: LinkMode) -> LinkMode:
    """Put ``blob`` at ``dest`` the cheapest way ``mode`` allows; returns the way used."""
    try:
        if mode is LinkMode.HARDLINK:
            os.link(blob, dest)
            return LinkMode.HARDLINK
        if mode is LinkMode.SYMLINK:
            os.symlink(blob, dest)
            return LinkMode.SYMLINK
    except OSError as exc:
        if exc.errno not in LINK_FAILURES:
            raise
    copy_file(blob, dest, 0o444)
    return LinkMode.COPY


def copy_writable(source: StrPath, dest: StrPath) -> None:
    """A real, writable copy (for mutable copies of a version)."""
    _write_then_rename(dest, lambda partial: copy_file(source, partial, 0o644))


def write_writable(data: bytes, dest: StrPath) -> None:
    """A writable file holding ``data`` (what :func:`copy_writable` makes, from memory)."""
    _write_then_rename(dest, lambda partial: write_new(data, partial))


def write_new(data: bytes, dest: StrPath) -> None:
    """:func:`write_writable` in a private folder, published whole once written: no
    temporary name, and no rename a file (a tenth of a small file's cost)."""
    fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    try:
        failpoint("pull.copy_opened")
        write_all(fd, data)
    finally:
        os.close(fd)


def partial_path(dest: StrPath) -> str:
    """A temporary name beside ``dest`` to build it under, renamed to ``dest`` when whole, so
    that a kill never leaves part of a file under its name. Short, as ``dest``'s own name may
    already be as long as a name can be. (Cut at the last separator rather than by
    ``os.path``: this runs once a file of a copy, and the two calls cost more than the write.)"""
    text = os.fspath(dest)
    cut = max(text.rfind("/"), text.rfind(os.sep))
    return f"{text[: cut + 1]}.{unique_name()}.part"


def _write_then_rename(dest: StrPath, write: Callable[[str], object]) -> None:
    partial = partial_path(dest)
    try:
        write(partial)
        os.replace(partial, dest)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(partial)
        raise


def write_all(fd: int, data: bytes) -> None:
    """Write all of ``data`` to ``fd`` (``os.write`` may write less than it is given)."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def copy_file(source: StrPath, dest: StrPath, mode: int) -> os.stat_result:
    """Copy in the kernel (sendfile), creating ``dest`` with ``mode``: no Python buffers and no
    separate chmod, which makes copying many small files about twice as fast as shutil.
    Returns the stat of ``source`` once copied: a write into it before the copy ended changed
    its ctime (a cached file's is compared with the one it was checked with)."""
    src = os.open(source, os.O_RDONLY)
    try:
        dst = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
        try:
            failpoint("pull.copy_opened")
            size, done = os.fstat(src).st_size, 0
            while done < size:
                sent = os.sendfile(dst, src, done, size - done)
                if sent == 0:
                    break
                done += sent
        finally:
            os.close(dst)
        return os.fstat(src)
    finally:
        os.close(src)
