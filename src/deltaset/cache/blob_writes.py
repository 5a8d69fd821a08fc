"""Blobs written into the cache one file at a time, outside a folder build: the whole blobs
and assembled files of a pull of symbolic links or a copy, external files, the chunks a read
in place keeps, the copies a close keeps (:mod:`deltaset.engine.closed_copies`). Each is
accounted for from the moment it can appear in ``blobs/``.

Its id is logged (:mod:`deltaset.cache.link_log`) before it is written, and logged again
with its stat, taken from the file written itself, once it is in place; the index rows
written at the end carry that stat, never one taken later, which would vouch for whatever
the file held by then. A kill before the rows leaves the log: the next opening of the cache
adopts each file that still has the stat logged for it, without reading it (an external
file, whose id is no hash of its bytes, could not be checked otherwise), hashes one that
does not, and removes it if its bytes are not its id's.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterable
from typing import TYPE_CHECKING

from deltaset.cache.trees import FileStat, stat_of
from deltaset.errors import DeltasetError

if TYPE_CHECKING:
    from deltaset.cache.blobs import BlobCache


class BlobWrites:
    """The files written into ``cache`` by one batch of a pull, or by one file read in place;
    a context manager, whose end writes their index rows (see :meth:`close`)."""

    def __init__(self, cache: BlobCache) -> None:
        self._cache = cache
        self._log = cache.link_log()
        self._rows: list[tuple[str, int, FileStat]] = []  # appended to by any thread
        self._staging: str | None = None

    def expect(self, blob_ids: Iterable[str]) -> None:
        """List ``blob_ids``, before any of them is written."""
        self._log.add(blob_ids)

    def written(self, blob_id: str, size: int, stat: FileStat) -> None:
        """``blob_id`` (of ``size`` bytes) is in place, whole, with ``stat`` as written."""
        self._log.add_written(blob_id, stat)
        self._rows.append((blob_id, size, stat))

    def staging(self) -> str:
        """A folder to write files in before :meth:`link_in` puts them in place, made after
        the log (which names it), so that a sweep after a kill removes it at once; removed
        at :meth:`close`. Not thread-safe: callers in threads hold a lock."""
        if self._staging is None:
            self._log.open()
            os.makedirs(self._log.staging, exist_ok=True)
            self._staging = self._log.staging
        return self._staging

    def link_in(self, staged: str, fd: int, blob_id: str, size: int) -> bool:
        """Link the complete, read-only file ``staged`` (open as ``fd``) into ``blobs/`` as
        ``blob_id`` of ``size`` bytes, listed before and logged with its stat once in place;
        False when the cache held it already (its rows are those of whoever put it there).
        Not thread-safe: callers in threads hold a lock."""
        self.expect([blob_id])
        try:
            self._cache.link_in(staged, blob_id)
        except FileExistsError:
            return False
        self.written(blob_id, size, stat_of(os.fstat(fd)))  # after the link, which moves ctime
        return True

    def flush(self) -> None:
        """Write the rows of the files written so far; the log stays, for those to come."""
        if self._rows:
            self._cache.record_written(self._rows)
            self._rows = []

    def close(self, failed: bool = False) -> None:
        """Write the rows of the files written, and remove the log. Rows that cannot be
        written leave the log to the next sweep; when the batch ``failed`` (the files in
        place are whole all the same), that never hides why."""
        if self._staging is not None:
            shutil.rmtree(self._staging, ignore_errors=True)  # before the log that names it
        try:
            self.flush()
        except DeltasetError:
            self._log.close(done=False)
            if not failed:
                raise
            return
        self._log.close()

    def __enter__(self) -> BlobWrites:
        return self

    def __exit__(self, exc_type: object, *exc: object) -> None:
        self.close(failed=exc_type is not None)
