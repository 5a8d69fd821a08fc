"""Blobs written into the cache one file at a time, outside a folder build: the whole blobs
and assembled files of a pull of symbolic links or a copy, external files, the chunks a read
in place keeps. Each is accounted for from the moment it can appear in ``blobs/``.

Its id is logged (:mod:`deltaset.cache.link_log`) before it is written, and logged again
with its stat, taken from the file written itself, once it is in place; the index rows
written at the end carry that stat, never one taken later, which would vouch for whatever
the file held by then. A kill before the rows leaves the log: the next opening of the cache
adopts each file that still has the stat logged for it, without reading it (an external
file, whose id is no hash of its bytes, could not be checked otherwise), hashes one that
does not, and removes it if its bytes are not its id's.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from deltaset.cache.trees import FileStat
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

    def expect(self, blob_ids: Iterable[str]) -> None:
        """List ``blob_ids``, before any of them is written."""
        self._log.add(blob_ids)

    def written(self, blob_id: str, size: int, stat: FileStat) -> None:
        """``blob_id`` (of ``size`` bytes) is in place, whole, with ``stat`` as written."""
        self._log.add_written(blob_id, stat)
        self._rows.append((blob_id, size, stat))

    def flush(self) -> None:
        """Write the rows of the files written so far; the log stays, for those to come."""
        self._cache.record_written(self._rows)
        self._rows = []

    def close(self, failed: bool = False) -> None:
        """Write the rows of the files written, and remove the log. Rows that cannot be
        written leave the log to the next sweep; when the batch ``failed`` (the files in
        place are whole all the same), that never hides why."""
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
