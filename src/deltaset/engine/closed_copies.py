"""Copies of the evolving files a close stores, kept in the blob cache.

A close stores a changed large file chunk by chunk, each as a delta against a chunk of the
content it resembles in the parents, whose chunks are themselves deltas up to
:data:`~deltaset.objects.store.MAX_DEPTH` deep: rebuilding those bases through their chains was
about half of a growing table's close. So a close keeps, in this machine's blob cache, the raw
content of every large file (stored as chunks) it tried against a base: the files the next
close of the same history takes as bases. That close reads them there, each slice checked
against its id (see :class:`~deltaset.engine.deltas.ChunkBases`), and a ``get`` of the closed
version here finds them cached. Small files are not kept: their bases are single blobs whose
chains rebuild in a few milliseconds (on the daily dumps, 0.03 s of a close), which a copy of
every dump in the cache would not pay for.

Each copy is written from the very bytes the close hashed, under a temporary name in the
staging folder of the close's cache writes (:mod:`deltaset.cache.blob_writes`, as a pull's),
and linked into ``blobs/`` only once the whole file's hash matched its id (a file changed
while it was read is never kept); its id is listed in their log before, so that a close
killed before it writes the copies' index rows, or unable to write them, leaves nothing the
cache cannot account for, nor a half-written copy past the next sweep (see
:mod:`deltaset.cache.link_log`). Keeping a copy is an optimisation: a copy that cannot be
written (a full disk) is given up, never the close. No more is kept than the cache's size
limit; and the copies of the content the closed version replaced (a changed file's old
content), which no cached folder links, go: the cache holds a copy of each evolving file, not
one a version.

``DELTASET_CACHE_ON_CLOSE=off`` (or ``cache-on-close = "off"`` in the config file) keeps none.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from collections.abc import Iterable
from types import TracebackType

from deltaset.cache import locking
from deltaset.cache.blob_writes import BlobWrites
from deltaset.cache.blobs import READ_ONLY, BlobCache
from deltaset.cache.links import unique_name
from deltaset.core.manifest import Entry
from deltaset.errors import DeltasetError
from deltaset.faults import failpoint

log = logging.getLogger("deltaset")


class ClosedCopies:
    """The copies one close keeps in ``cache`` (none when ``on`` is false); used as a context
    manager around the close's upload, which holds the cache's shared lock (as a pull does:
    no ``cache purge`` runs in between) and writes the copies' index rows at its end."""

    def __init__(self, cache: BlobCache, on: bool = True) -> None:
        self.cache = cache
        self.on = on
        self.kept = 0
        self._room = cache.limit or None  # bytes of copies still within the size limit
        self._wanted: set[str] = set()
        self._lock = threading.Lock()
        self._writes: BlobWrites | None = None
        self._held: contextlib.ExitStack | None = None

    def __enter__(self) -> ClosedCopies:
        if self.on:
            held = contextlib.ExitStack()
            try:
                held.enter_context(locking.shared(self.cache.global_lock()))
            except OSError as failed:
                self.give_up(failed)
                return self
            self._held, self._writes = held, self.cache.writes()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._held is None:
            return
        try:
            assert self._writes is not None
            self._writes.close()
        except DeltasetError as failed:  # the log stays: the next sweep accounts for them
            log.debug("no index rows for the copies this close kept: %s", failed)
        finally:
            self._held.close()
            self._held = self._writes = None

    def choose(self, entries: Iterable[Entry]) -> None:
        """Mark which of ``entries`` (files about to be stored as deltas) to keep a copy of:
        those the cache lacks, while their room under the size limit lasts."""
        if not self.on:
            return
        files = {e.blob_id: e for e in entries if not e.link}
        try:
            known = self.cache.index.known(files)
        except DeltasetError as failed:
            self.give_up(failed)
            return
        for blob_id, entry in files.items():
            if blob_id in known or (self._room is not None and entry.size > self._room):
                continue
            if self._room is not None:
                self._room -= entry.size
            self._wanted.add(blob_id)

    def writer(self, entry: Entry) -> CopyWriter | None:
        """A copy of ``entry`` to write as its bytes are read, or None when none is wanted
        (see :meth:`choose`)."""
        if not self.on or entry.blob_id not in self._wanted:
            return None
        try:
            with self._lock:
                assert self._writes is not None
                staging = self._writes.staging()
            tmp = f"{staging}/{unique_name()}.part"
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, READ_ONLY)
        except OSError as failed:
            self.give_up(failed)
            return None
        return CopyWriter(self, entry, tmp, fd)

    def publish(self, entry: Entry, tmp: str, fd: int) -> None:
        """Link the complete copy ``tmp`` of ``entry`` (its hash checked; ``fd`` open on it)
        into the cache, accounted for with the stat it has once linked (see
        :meth:`BlobWrites.link_in <deltaset.cache.blob_writes.BlobWrites.link_in>`); one put
        there meanwhile, by a pull, is left to it."""
        with self._lock:
            assert self._writes is not None
            if self._writes.link_in(tmp, fd, entry.blob_id, entry.size):
                self.kept += 1

    def tidy(self, replaced: Iterable[str]) -> None:
        """Once the close's upload is over (outside the context: this takes the cache's lock),
        remove the copies of ``replaced`` (content the closed version no longer holds) that no
        cached folder links, then what the cache holds past its size limit."""
        if not self.kept:
            return
        with contextlib.suppress(OSError, DeltasetError):
            self.cache.drop_unlinked(replaced)
            self.cache.evict()

    def give_up(self, failed: BaseException) -> None:
        log.debug("keeping no more copies in the cache: %s", failed)
        self.on = False


class CopyWriter:
    """A copy of one file written as the close reads it; :meth:`done` once its hash matched."""

    def __init__(self, copies: ClosedCopies, entry: Entry, tmp: str, fd: int) -> None:
        self.copies, self.entry, self.tmp, self._fd = copies, entry, tmp, fd

    def write(self, data: bytes | memoryview) -> None:
        if self._fd < 0:
            return
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(self._fd, view) :]
            failpoint("closed_copies.after_write")
        except OSError as failed:
            self.discard()
            self.copies.give_up(failed)

    def done(self) -> None:
        """Publish the copy: every byte written is one the caller hashed into the file's id."""
        if self._fd < 0:
            return
        try:
            self.copies.publish(self.entry, self.tmp, self._fd)
        except OSError as failed:
            self.copies.give_up(failed)
        finally:
            os.close(self._fd)
            self._fd = -1
            self._unlink()

    def discard(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
        self._unlink()

    def _unlink(self) -> None:
        with contextlib.suppress(OSError):
            os.unlink(self.tmp)
