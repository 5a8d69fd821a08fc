"""SQLite connections shared by the catalog and the caches: WAL mode, waits instead of failing."""

from __future__ import annotations

import shutil
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from deltaset.errors import CatalogError, DeltasetError, DiskFullError

BUSY_TIMEOUT_S = 60.0
NEARLY_FULL = 1 << 20  # bytes free below which a vague SQLite I/O error means a full disk


def open_error(path: Path, what: str, exc: sqlite3.Error) -> DeltasetError:
    """The one sentence for a database that cannot be opened or written: a full disk says so."""
    try:
        free = shutil.disk_usage(path.parent).free
    except OSError:
        free = NEARLY_FULL
    if "full" in str(exc).lower() or free < NEARLY_FULL:
        return DiskFullError(f"Cannot use the {what} {path}: no space left on its device.")
    return CatalogError(f"The {what} {path} cannot be opened: {exc}.")


def is_damaged(exc: sqlite3.Error) -> bool:
    """Whether ``exc`` says the database file is damaged (torn pages, not a database at all)."""
    name = getattr(exc, "sqlite_errorname", "") or ""
    return name.startswith(("SQLITE_CORRUPT", "SQLITE_NOTADB"))


def connect(path: Path, *, synchronous: str = "NORMAL") -> sqlite3.Connection:
    """A connection in autocommit mode (transactions are explicit), in WAL journal mode."""
    path.parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(
        path, timeout=BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False
    )
    _enable_wal(db)
    db.execute(f"PRAGMA synchronous={synchronous}")
    return db


def _enable_wal(db: sqlite3.Connection) -> None:
    """Switch to WAL, retrying: SQLite fails the switch at once, without waiting for the busy
    timeout, while another process creating the same database holds the lock."""
    deadline = time.monotonic() + BUSY_TIMEOUT_S
    while True:
        try:
            db.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.01)


@contextmanager
def transaction(db: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """A write transaction that takes the lock up front, so two writers never deadlock."""
    db.execute("BEGIN IMMEDIATE")
    try:
        yield db
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")


@contextmanager
def brief_wait(db: sqlite3.Connection, seconds: float) -> Iterator[sqlite3.Connection]:
    """Wait at most ``seconds`` for another process's lock, for work that can be skipped."""
    db.execute(f"PRAGMA busy_timeout = {int(seconds * 1000)}")
    try:
        yield db
    finally:
        db.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
