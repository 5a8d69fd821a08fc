"""Small SQLite databases derived from immutable data (a final version's folders, the changes
between two final versions), built once and kept in the cache folder so that each page of the
web catalog is a few index lookups.

An index is written to a partial file and renamed into place, so a reader sees it whole or not
at all; it is then opened read-only as immutable (nothing ever writes it again). A damaged one
is removed and built again; only the most recently used few are kept.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path

INDEXES_KEPT = 32  # indexes kept in one folder; the least recently used go

Fill = Callable[[sqlite3.Connection], None]


@contextlib.contextmanager
def kept_index(target: Path, fill: Fill, check: str) -> Iterator[sqlite3.Connection]:
    """The index at ``target`` (``check``: a query it answers when whole), built by ``fill``
    when there is none; in memory when the cache folder cannot hold it."""
    db = open_index(target, check) or _build(target, fill, check)
    try:
        yield db
    finally:
        db.close()


@contextlib.contextmanager
def memory_index(fill: Fill) -> Iterator[sqlite3.Connection]:
    """An index built in memory for this use only (of data that may still change)."""
    db = sqlite3.connect(":memory:")
    try:
        fill(db)
        yield db
    finally:
        db.close()


def open_index(target: Path, check: str) -> sqlite3.Connection | None:
    """The kept index at ``target``, or None when there is none or it is unreadable."""
    if not target.exists():
        return None
    try:
        db = sqlite3.connect(f"{target.as_uri()}?mode=ro&immutable=1", uri=True)
        db.execute(check).fetchall()
    except sqlite3.Error:
        with contextlib.suppress(OSError):
            target.unlink()  # damaged: built again
        return None
    with contextlib.suppress(OSError):
        os.utime(target)  # recently used: kept by forget_old
    return db


def write_index(target: Path, fill: Fill) -> None:
    """Write an index to ``target`` with ``fill``, whole or not at all."""

    def write(partial: Path) -> None:
        db = sqlite3.connect(partial)
        try:
            db.execute("PRAGMA journal_mode=OFF")
            db.execute("PRAGMA synchronous=OFF")
            fill(db)
        finally:
            db.close()

    write_whole(target, write)


def write_whole(target: Path, write: Callable[[Path], object]) -> None:
    """Make ``target`` by ``write`` into a partial file renamed into place: whole or not at
    all, and no partial file left behind."""
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f"{target.name}.{os.getpid()}.partial")
    try:
        write(partial)
        os.replace(partial, target)
    except BaseException:
        with contextlib.suppress(OSError):
            partial.unlink()
        raise


def _build(target: Path, fill: Fill, check: str) -> sqlite3.Connection:
    try:
        write_index(target, fill)
    except (OSError, sqlite3.Error):
        db = sqlite3.connect(":memory:")  # a read-only cache costs speed, not the answer
        fill(db)
        return db
    forget_old(target)
    found = open_index(target, check)
    if found is None:  # removed by another process between the rename and the open
        db = sqlite3.connect(":memory:")
        fill(db)
        return db
    return found


def forget_old(kept: Path) -> None:
    """Keep the :data:`INDEXES_KEPT` most recently used indexes (each can take megabytes)."""
    with contextlib.suppress(OSError):
        found = sorted(
            (e for e in os.scandir(kept.parent) if e.name.endswith(".sqlite")),
            key=lambda e: e.stat().st_mtime,
            reverse=True,
        )
        for entry in found[INDEXES_KEPT:]:
            if entry.path != str(kept):
                with contextlib.suppress(OSError):
                    os.unlink(entry.path)
