"""Placing a cached blob at a path: hard link, symbolic link, or copy where links are impossible."""

from __future__ import annotations

import errno
import os
import shutil
from enum import StrEnum
from pathlib import Path

_LINK_FAILURES = (errno.EXDEV, errno.EPERM, errno.EMLINK, errno.ENOTSUP, errno.EACCES)


class LinkMode(StrEnum):
    HARDLINK = "hardlink"
    SYMLINK = "symlink"
    COPY = "copy"


def place(blob: Path, dest: Path, mode: LinkMode) -> LinkMode:
    """Put ``blob`` at ``dest`` the cheapest way ``mode`` allows; returns the way used."""
    try:
        if mode is LinkMode.HARDLINK:
            os.link(blob, dest)
            return LinkMode.HARDLINK
        if mode is LinkMode.SYMLINK:
            os.symlink(blob, dest)
            return LinkMode.SYMLINK
    except OSError as exc:
        if exc.errno not in _LINK_FAILURES:
            raise
    shutil.copyfile(blob, dest)
    os.chmod(dest, 0o444)
    return LinkMode.COPY


def copy_writable(source: Path, dest: Path) -> None:
    """A real, writable copy (for mutable copies of a version)."""
    shutil.copyfile(source, dest)
    os.chmod(dest, 0o644)
