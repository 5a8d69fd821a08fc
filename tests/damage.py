"""Writes into cached files as a careless root process makes them: bytes changed, times kept."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from deltaset import config


def cached_blob(blob_id: str) -> Path:
    """The file of ``blob_id`` in this process's blob cache."""
    return config.load().cache_dir / "blobs" / blob_id[:2] / blob_id


def flip_a_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    _write_keeping_mtime(path, lambda f: f.write(data))


def append_bytes(path: Path) -> None:
    _write_keeping_mtime(path, lambda f: (f.seek(0, os.SEEK_END), f.write(b"\0" * 8)))


def _write_keeping_mtime(path: Path, write: Callable[..., object]) -> None:
    """Write into ``path`` as a careless root process would, then restore its times."""
    before = path.stat()
    os.chmod(path, 0o644)  # a no-op for root, who writes anyway; needed by anyone else
    with open(path, "r+b") as file:
        write(file)
    os.chmod(path, before.st_mode & 0o777)
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))


DAMAGE = {"one byte changed": flip_a_byte, "8 bytes appended": append_bytes}
