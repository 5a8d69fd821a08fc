"""Writes into cached files as a careless root process makes them: bytes changed, times kept."""

from __future__ import annotations

import contextlib
import os
import sqlite3
from collections.abc import Callable
from pathlib import Path

from deltaset import config
from deltaset.cache.trees import TreeRecords


def cached_blob(blob_id: str) -> Path:
    """The file of ``blob_id`` in this process's blob cache: in the folder that is its home
    if it has one (a cold get's), else under ``blobs/``. Read from the index and the folder's
    record, without opening the cache (which would sweep what a killed command left)."""
    return cached_blob_in(config.load().cache_dir, blob_id)


def cached_blob_in(root: Path, blob_id: str) -> Path:
    """:func:`cached_blob` in the cache at ``root``."""
    homes: list[str] = []
    if (root / "index.db").exists():
        with contextlib.closing(sqlite3.connect(root / "index.db")) as db:
            homes = [
                key
                for (key,) in db.execute(
                    "SELECT f.key FROM blob_homes AS h JOIN folders AS f ON f.id = h.folder "
                    "WHERE h.blob = ?",
                    (bytes.fromhex(blob_id),),
                )
            ]
            # A folder whose blobs' rows the index defers is home to each of its blobs.
            homes += [key for (key,) in db.execute(DEFERRED_KEYS)]
    for home in homes:
        record = TreeRecords(root / "records").load(home)
        at = next(record.positions_of(blob_id), None) if record is not None else None
        if record is not None and at is not None:
            return root / "trees" / home / record.paths[at]
    return root / "blobs" / blob_id[:2] / blob_id


DEFERRED_KEYS = "SELECT key FROM folders WHERE id IN (SELECT folder FROM deferred_folders)"


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
