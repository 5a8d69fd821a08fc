"""The Storage protocol: immutable objects under relative keys, written create-then-publish."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, Protocol, runtime_checkable


@dataclass(slots=True)
class IOStats:
    """Counters of storage traffic, so callers (and tests) can see what was transferred."""

    reads: int = 0
    bytes_read: int = 0
    writes: int = 0
    bytes_written: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def count(
        self, *, reads: int = 0, bytes_read: int = 0, writes: int = 0, bytes_written: int = 0
    ) -> None:
        """Add to the counters; safe from many transfer threads at once."""
        with self._lock:
            self.reads += reads
            self.bytes_read += bytes_read
            self.writes += writes
            self.bytes_written += bytes_written


@dataclass(frozen=True, slots=True)
class ObjectInfo:
    """An object as a listing describes it: its key, size and etag (its version, as the
    service names it; any change to the object changes it), and when it was last written
    (seconds since the epoch; 0 where the service does not say)."""

    key: str
    size: int
    etag: str
    modified: float = 0.0


@dataclass(frozen=True, slots=True)
class S3Settings:
    """deltaset's own S3 settings (config file or DELTASET_S3_*), ahead of the AWS ones."""

    endpoint: str | None = None
    region: str | None = None


class Storage(Protocol):
    """A flat namespace of objects named by relative POSIX keys such as ``blobs/ab/abcd...``."""

    url: str
    stats: IOStats

    def writer(self, key: str) -> AbstractContextManager[BinaryIO]:
        """A file to write ``key`` into; it becomes visible only when the block exits cleanly."""
        ...

    def put_bytes(self, key: str, data: bytes, *, overwrite: bool = True) -> bool:
        """Publish ``data`` under ``key``; with ``overwrite=False`` keep an existing object."""
        ...

    def put_file(self, key: str, path: Path) -> None:
        """Publish the local file at ``path`` under ``key``; the file must not change after."""
        ...

    def open(self, key: str) -> BinaryIO:
        """Read ``key`` as a stream; raises NotFoundError when it does not exist."""
        ...

    def get_bytes(self, key: str) -> bytes: ...

    def read_range(self, key: str, offset: int, length: int) -> bytes:
        """``length`` bytes of ``key`` from ``offset`` (fewer only at the end of the object)."""
        ...

    def exists(self, key: str) -> bool: ...

    def size(self, key: str) -> int: ...

    def stat(self, key: str) -> ObjectInfo:
        """The size and etag of ``key``; raises NotFoundError when it does not exist."""
        ...

    def list(self, prefix: str) -> Iterator[str]:
        """Every key that starts with ``prefix`` (a folder such as ``versions/``)."""
        ...

    def list_info(self, prefix: str) -> Iterator[ObjectInfo]:
        """:meth:`list`, with each object's size and etag."""
        ...

    def delete(self, key: str) -> None:
        """Remove ``key``; removing a missing key is not an error."""
        ...


@runtime_checkable
class ConditionalReads(Protocol):
    """A storage whose service can refuse a read once an object is no longer the one it was:
    one request a piece, where checking the etag before and after the read costs two more."""

    def read_range_if(self, key: str, offset: int, length: int, etag: str) -> bytes | None:
        """:meth:`Storage.read_range` of ``key`` while its etag is ``etag``; None once it is
        not (the service refused the read: nothing of the new object was sent)."""
        ...


def file_etag(status: os.stat_result) -> str:
    """A file's etag, as web servers make one: any write changes its time, size or both."""
    return f"{status.st_mtime_ns:x}-{status.st_size:x}"


class CountingReader:
    """A read-only file wrapper that adds the bytes it returns to an :class:`IOStats`."""

    def __init__(self, handle: BinaryIO, stats: IOStats) -> None:
        self._handle = handle
        self._stats = stats

    def read(self, size: int = -1) -> bytes:
        data = self._handle.read(size)
        self._stats.count(bytes_read=len(data))
        return data

    def seek(self, offset: int) -> int:
        return self._handle.seek(offset)

    def close(self) -> None:
        self._handle.close()

    def __enter__(self) -> CountingReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
