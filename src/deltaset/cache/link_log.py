"""The blobs a folder build may link into ``blobs/``, listed before it links them, so that a
build killed before it writes their index rows leaves nothing the cache cannot account for.

A build (:class:`~deltaset.cache.tree_build.TreeBuild`) keeps a log beside its staging
folder, ``tmp/tree-<hex>.linked``: beside it, not in it, as the folder is published whole and
a dataset may hold a file of any name. It lists no blob: a build writes the blobs it fetches
into its staging folder only (their homes once published, see :mod:`deltaset.cache.homes`),
so a killed build leaves nothing to account for, only its folder to remove; a log of an
older release's build may list blobs it linked into ``blobs/``, swept as below. The build
holds an exclusive ``flock`` on its log for its whole life, which the kernel drops the moment
the process dies, even killed with ``-9`` (as a watcher does its journal's, see
:mod:`deltaset.cache.journal`); the log is made under another name and renamed once locked, so
a log that can be locked belongs to a process that is gone.

A pull that caches blobs without a build (a folder of symbolic links, a copy, an external
file, a file assembled from its chunks) or a read in place caching chunks lists each batch's
the same way, in ``tmp/pull-<hex>.linked``, until it has written their rows; and once each
is in place, its id again with its stat then (``<id> <inode> <size> <mtime_ns> <ctime_ns>``):
see :mod:`deltaset.cache.blob_writes`.

Each cache opened sweeps what such builds left (:func:`recover_killed_builds`): every blob a
log lists that sits in ``blobs/`` without an index row is given its row when it still has the
stat logged for it, or else when its bytes (hashed) match its id, and is removed otherwise;
then the staging folder and the log go. Without it those
files would stay out of the cache's size, and out of reach of its eviction, until a pull of
the same blobs or a ``cache purge``.
"""

from __future__ import annotations

import contextlib
import fcntl
import itertools
import os
import shutil
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, BinaryIO

from deltaset.cache.links import write_all
from deltaset.cache.trees import FileStat
from deltaset.core.hashing import is_blob_id
from deltaset.errors import DeltasetError

if TYPE_CHECKING:
    from deltaset.cache.blobs import BlobCache

SUFFIX = ".linked"
_MAKING = ".linking"  # the log's name until it is locked
_BATCH = 16384  # ids checked at once by a sweep


class LinkLog:
    """The log of the build staging in the folder ``staging`` (or of a pull caching blobs
    without a folder: one that is never made), made at its first ids."""

    def __init__(self, staging: str) -> None:
        self.path = staging + SUFFIX
        self.staging = staging
        self._fd = -1

    def add(self, blob_ids: Iterable[str]) -> None:
        """List ``blob_ids`` (one append): before any of them is linked into ``blobs/``."""
        data = "".join(f"{blob_id}\n" for blob_id in blob_ids).encode()
        if data:
            self.open()
            write_all(self._fd, data)

    def add_written(self, blob_id: str, stat: FileStat) -> None:
        """Log that ``blob_id`` is in place, whole, with ``stat`` (one append)."""
        self.open()
        write_all(self._fd, f"{blob_id} {' '.join(map(str, stat))}\n".encode())

    def open(self) -> None:
        """Make the log, empty, if it is not made yet: from then on a sweep after a kill
        removes the staging folder at once, not only once a day old."""
        if self._fd < 0:
            self._fd = locked_new_file(self.staging + _MAKING, self.path)

    def __enter__(self) -> LinkLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self, done: bool = True) -> None:
        """Remove the log once the build's rows are written and its staging folder is gone;
        without ``done`` (its rows could not be written), leave it to the next sweep."""
        if self._fd >= 0:
            if done:
                with contextlib.suppress(OSError):
                    os.unlink(self.path)
            os.close(self._fd)
            self._fd = -1


def locked_new_file(making: str, path: str) -> int:
    """A new file ``path``, empty, open for appending and locked with an exclusive ``flock``:
    made as ``making`` and renamed once locked, so that a file at ``path`` that can be locked
    is always one whose maker is gone."""
    fd = os.open(making, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # a new name: no one else holds it
        os.rename(making, path)
    except BaseException:
        os.close(fd)
        with contextlib.suppress(OSError):
            os.unlink(making)
        raise
    return fd


def recover_killed_builds(cache: BlobCache) -> None:
    """Account for, or remove, what the builds of processes that died linked into the cache
    (see the module's documentation). Best effort: what it cannot do now (a full disk, say)
    is left for the next sweep."""
    with contextlib.suppress(OSError):
        for entry in os.scandir(cache.root / "tmp"):
            if entry.name.endswith(SUFFIX):
                with contextlib.suppress(OSError, DeltasetError):
                    _recover(cache, entry.path)


def _recover(cache: BlobCache, log: str) -> None:
    try:
        fd = os.open(log, os.O_RDONLY)
    except FileNotFoundError:
        return  # removed by its build as it ended, or by another sweep
    with open(fd, "rb") as listed:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return  # its build is alive
        # The folder first: its links to the blobs go, so the stats recorded stay true.
        shutil.rmtree(log[: -len(SUFFIX)], ignore_errors=True)
        written = dict(_written_in(listed))  # a pull's batch at most: a build logs none
        listed.seek(0)
        ids = (fields[0] for fields in _lines(listed))
        while batch := list(itertools.islice(ids, _BATCH)):
            cache.adopt(batch, written)
        os.unlink(log)


def _lines(listed: BinaryIO) -> Iterator[list[str]]:
    """The fields of each whole line of a log naming a blob (a kill may cut the last)."""
    for line in listed:
        fields = line[:-1].decode("latin-1").split(" ")
        if line.endswith(b"\n") and is_blob_id(fields[0]):
            yield fields


def _written_in(listed: BinaryIO) -> Iterator[tuple[str, FileStat]]:
    for fields in _lines(listed):
        if len(fields) == 5 and all(f.lstrip("-").isdigit() for f in fields[1:]):
            ino, size, mtime, ctime = map(int, fields[1:])
            yield fields[0], (ino, size, mtime, ctime)
