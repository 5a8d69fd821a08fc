"""What every object-store backend shares: spooled writes, whole-object reads, retries.

A backend (``cloud.CloudStorage``, ``gcs.GcsStorage``) provides one upload of a seekable
file, one download of an object, its size, and how its client's errors read; this base makes
the rest of the :class:`~deltaset.storage.base.Storage` protocol from them.
"""

from __future__ import annotations

import io
import tempfile
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import BinaryIO, TypeVar, cast

from deltaset.errors import NotFoundError
from deltaset.storage.base import CountingReader, IOStats, ObjectInfo
from deltaset.storage.errors import map_os_errors

SPOOL_IN_MEMORY = 4 << 20  # writes up to this size stay in memory before going to a file

T = TypeVar("T")


class ObjectStore:
    url: str
    stats: IOStats

    # -- what a backend provides --------------------------------------------------------------

    def _send(self, key: str, handle: BinaryIO, size: int) -> None:
        """One attempt at uploading ``size`` bytes of ``handle`` (at its start) as ``key``."""
        raise NotImplementedError

    def _fetch(self, key: str) -> bytes:
        """One attempt at downloading the whole of ``key``."""
        raise NotImplementedError

    def _retried(self, call: Callable[[], T]) -> T:
        raise NotImplementedError

    def _errors(self, what: str) -> AbstractContextManager[None]:
        """Turns the client's errors while doing ``what`` into one clear DeltasetError."""
        raise NotImplementedError

    def stat(self, key: str) -> ObjectInfo:
        """The size and etag of ``key``; raises NotFoundError when it does not exist."""
        raise NotImplementedError

    def list_info(self, prefix: str) -> Iterator[ObjectInfo]:
        """Every object whose key starts with ``prefix``, with its size and etag."""
        raise NotImplementedError

    # -- made from it -------------------------------------------------------------------------

    @contextmanager
    def writer(self, key: str) -> Iterator[BinaryIO]:
        with tempfile.SpooledTemporaryFile(SPOOL_IN_MEMORY) as spool:
            yield cast(BinaryIO, spool)
            self._upload(key, cast(BinaryIO, spool), spool.tell())

    def put_file(self, key: str, path: Path) -> None:
        with map_os_errors(f"read {path}"):
            size = path.stat().st_size
        with map_os_errors(f"read {path}"), open(path, "rb") as handle:
            self._upload(key, handle, size)

    def _upload(self, key: str, handle: BinaryIO, size: int) -> None:
        def send() -> None:
            handle.seek(0)  # each attempt sends the whole object again
            self._send(key, handle, size)

        with self._errors(f"write {key}"):
            self._retried(send)
        self.stats.count(writes=1, bytes_written=size)

    def open(self, key: str) -> BinaryIO:
        data = self._download(key)  # whole: objects are at most a pack, tens of MB
        self.stats.count(reads=1)
        return cast(BinaryIO, CountingReader(io.BytesIO(data), self.stats))

    def get_bytes(self, key: str) -> bytes:
        data = self._download(key)
        self.stats.count(reads=1, bytes_read=len(data))
        return data

    def _download(self, key: str) -> bytes:
        with self._errors(f"read {key}"):
            return self._retried(lambda: self._fetch(key))

    def size(self, key: str) -> int:
        return self.stat(key).size

    def list(self, prefix: str) -> Iterator[str]:
        return (info.key for info in self.list_info(prefix))

    def exists(self, key: str) -> bool:
        try:
            self.size(key)
        except NotFoundError:
            return False
        return True
