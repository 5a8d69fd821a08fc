"""FileCache: single downloaded files (and their extracted archives), by URL and context.

What ``StorageManager.get_local_copy`` keeps. Each URL of each cache context has an entry
folder, ``<context>/<key>/``, holding the file under its own name and any folders its archive
was extracted into. Like the version cache, it is safe across processes:

- a download or an extraction of an entry holds that entry's ``fetch`` lock, so two processes
  asking for the same URL download it once;
- an entry handed out is pinned (a shared lock held until the process ends, see
  :mod:`deltaset.cache.locking`), and eviction skips pinned entries;
- files and folders are published by a rename once whole, so a cut-off download or a refused
  archive never shows under an entry's name.

Eviction is least recently used first, down to a byte limit over every context, and to a
number of files per context (ClearML's ``set_cache_file_limit``).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sqlite3
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote, unquote, urlparse

import blake3

from deltaset import sqlitedb
from deltaset.cache import archives, locking
from deltaset.cache.index import IF_FULL, index_error
from deltaset.storage.errors import map_os_errors
from deltaset.storage.local import sweep_stale

DEFAULT_FILE_LIMIT = 100  # files per context, as ClearML keeps
_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS files (context TEXT, key TEXT, file_bytes INTEGER, "
    "extracted_bytes INTEGER, used REAL, PRIMARY KEY (context, key))"
)

Fetch = Callable[[Path], int]  # writes the file at the path given, returns its size


def file_name(url: str) -> str:
    """The name a downloaded file keeps: the last part of its URL's path."""
    name = unquote(urlparse(url).path.rstrip("/").rsplit("/", 1)[-1])
    if not name or name in (".", "..") or "\0" in name:
        return "download"
    return name


class FileCache:
    """Layout under ``root``: ``index.db``, ``locks/``, ``tmp/``, ``<context>/<key>/``."""

    def __init__(self, root: Path, byte_limit: int = 0) -> None:
        self.root = root
        self.byte_limit = byte_limit
        with map_os_errors(f"create the cache folder {root}", IF_FULL):
            for folder in ("locks", "tmp"):
                (root / folder).mkdir(parents=True, exist_ok=True)
        sweep_stale(root / "tmp")
        self._index_path = root / "index.db"
        with self._index() as db:
            db.execute(_SCHEMA)

    @contextmanager
    def _index(self) -> Iterator[sqlite3.Connection]:
        try:
            db = sqlitedb.connect(self._index_path)
            try:
                yield db
            finally:
                db.close()
        except sqlite3.Error as exc:
            raise index_error(self._index_path, exc) from exc

    # -- where things are ---------------------------------------------------------------------

    def entry(self, context: str, url: str) -> Path:
        return self.root / _context_folder(context) / blake3.blake3(url.encode()).hexdigest(16)

    def _lock(self, entry: Path, kind: str) -> Path:
        return self.root / "locks" / f"{entry.parent.name}-{entry.name}.{kind}"

    # -- getting ------------------------------------------------------------------------------

    def get(self, context: str, url: str, fetch: Fetch, force: bool = False) -> Path:
        """The cached copy of ``url``, fetched first when missing (or when ``force``)."""
        entry = self.entry(context, url)
        file = entry / file_name(url)
        locking.pin(self._lock(entry, "pin"))
        with locking.exclusive(self._lock(entry, "fetch")):
            known = self._file_bytes(context, entry.name)
            if force or known is None or _size(file) != known:
                self._drop_extracted(entry)
                _drop_partials(entry)  # left by a killed download: none is under way now
                size = fetch(file)
                self._record(context, entry.name, size, 0)
            else:
                self._touch(context, entry.name)
        return file

    def extracted(self, context: str, url: str, archive: Path, name: str | None) -> Path:
        """The folder the cached archive of ``url`` (at ``archive``) is extracted into,
        extracted first if it is not yet; ``name`` keeps extractions under names apart."""
        entry = self.entry(context, url)
        target = entry / (f"extracted-{quote(name, safe='')}" if name else "extracted")
        locking.pin(self._lock(entry, "pin"))
        with locking.exclusive(self._lock(entry, "fetch")):
            if not target.is_dir():
                self._extract(archive, target)
                self._add_extracted(context, entry.name, _tree_bytes(target))
        return target

    def _extract(self, archive: Path, target: Path) -> None:
        staging = self.root / "tmp" / f"extract-{uuid.uuid4().hex}"
        try:
            with map_os_errors(f"extract {archive.name}", IF_FULL):
                staging.mkdir(parents=True)
            archives.extract(archive, staging)
            with map_os_errors(f"extract {archive.name}", IF_FULL):
                target.parent.mkdir(parents=True, exist_ok=True)
                os.rename(staging, target)
        finally:
            shutil.rmtree(staging, ignore_errors=True)

    def _drop_extracted(self, entry: Path) -> None:
        with contextlib.suppress(FileNotFoundError):
            for found in entry.iterdir():
                if found.is_dir() and found.name.startswith("extracted"):
                    _remove(found, self.root / "tmp")

    # -- the index ----------------------------------------------------------------------------

    def _file_bytes(self, context: str, key: str) -> int | None:
        with self._index() as db:
            row = db.execute(
                "SELECT file_bytes FROM files WHERE context = ? AND key = ?", (context, key)
            ).fetchone()
        return int(row[0]) if row else None

    def _record(self, context: str, key: str, file_bytes: int, extracted: int) -> None:
        with self._index() as db:
            db.execute(
                "INSERT OR REPLACE INTO files VALUES (?, ?, ?, ?, ?)",
                (context, key, file_bytes, extracted, time.time()),
            )

    def _add_extracted(self, context: str, key: str, size: int) -> None:
        with self._index() as db:
            db.execute(  # a local archive is extracted without a download recorded first
                "INSERT INTO files VALUES (?, ?, 0, ?, ?) ON CONFLICT (context, key) DO UPDATE "
                "SET extracted_bytes = extracted_bytes + excluded.extracted_bytes, "
                "used = excluded.used",
                (context, key, size, time.time()),
            )

    def _touch(self, context: str, key: str) -> None:
        with self._index() as db, contextlib.suppress(sqlite3.OperationalError):
            db.execute(
                "UPDATE files SET used = ? WHERE context = ? AND key = ?",
                (time.time(), context, key),
            )

    def usage(self) -> int:
        """Bytes held, files and extracted folders of every context."""
        with self._index() as db:
            row = db.execute(
                "SELECT COALESCE(SUM(file_bytes + extracted_bytes), 0) FROM files"
            ).fetchone()
        return int(row[0])

    def count(self, context: str) -> int:
        with self._index() as db:
            row = db.execute("SELECT COUNT(*) FROM files WHERE context = ?", (context,)).fetchone()
        return int(row[0])

    # -- eviction -----------------------------------------------------------------------------

    def entries(self) -> int:
        """How many downloaded files (with their extracted folders) are kept."""
        with self._index() as db:
            return int(db.execute("SELECT COUNT(*) FROM files").fetchone()[0])

    def purge(self) -> int:
        """Remove every entry no process holds; the bytes freed."""
        before = self.usage()
        self.evict(everything=True)
        return before - self.usage()

    def evict(self, file_limits: dict[str, int] | None = None, everything: bool = False) -> None:
        """Remove the least recently used entries no process holds, until every context is
        within its number of files (``file_limits``, else :data:`DEFAULT_FILE_LIMIT`) and the
        whole cache within the byte limit (or all of them, with ``everything``)."""
        limits = file_limits or {}
        with locking.exclusive(self.root / "locks" / "evict"), self._index() as db:
            rows = db.execute(
                "SELECT context, key, file_bytes + extracted_bytes FROM files ORDER BY used"
            ).fetchall()
            counts: dict[str, int] = {}
            for context, _, _ in rows:
                counts[context] = counts.get(context, 0) + 1
            total = sum(int(size) for _, _, size in rows)
            for context, key, size in rows:
                over_count = counts[context] > limits.get(context, DEFAULT_FILE_LIMIT)
                over_bytes = bool(self.byte_limit) and total > self.byte_limit
                wanted = everything or over_count or over_bytes
                if not wanted or not self._remove_unheld(context, key):
                    continue
                db.execute("DELETE FROM files WHERE context = ? AND key = ?", (context, key))
                counts[context] -= 1
                total -= int(size)

    def _remove_unheld(self, context: str, key: str) -> bool:
        entry = self.root / _context_folder(context) / key
        pin = self._lock(entry, "pin")
        if locking.held_by_this_process(pin):
            return False
        with locking.exclusive(pin, wait=False) as taken:
            if taken:
                _remove(entry, self.root / "tmp")
            return taken


def _context_folder(context: str) -> str:
    """A folder name for any context name: readable where it can be, unique always."""
    readable = quote(context, safe="")[:40].lstrip(".") or "context"
    return f"{readable}-{blake3.blake3(context.encode()).hexdigest(8)}"


def _size(path: Path) -> int | None:
    try:
        return path.stat().st_size if path.is_file() else None
    except OSError:
        return None


def _drop_partials(entry: Path) -> None:
    for stale in entry.glob(".*.partial"):
        stale.unlink(missing_ok=True)


def _tree_bytes(folder: Path) -> int:
    total = 0
    for current, _, files in os.walk(folder):
        for name in files:
            with contextlib.suppress(OSError):
                total += os.lstat(os.path.join(current, name)).st_size
    return total


def _remove(folder: Path, trash_root: Path) -> None:
    trash = trash_root / f"evicted-{uuid.uuid4().hex}"
    with contextlib.suppress(FileNotFoundError):
        os.rename(folder, trash)  # gone from view at once, then deleted at leisure
        shutil.rmtree(trash, ignore_errors=True)
