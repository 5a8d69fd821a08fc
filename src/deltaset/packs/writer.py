"""PackWriter: streams encoded blobs into packs of about a target size, one pack at a time."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from contextlib import AbstractContextManager
from types import TracebackType
from typing import BinaryIO

from deltaset.faults import failpoint
from deltaset.packs.format import (
    INDEX_ROW_SIZE,
    Location,
    PackEntry,
    encode_header,
    index_row,
    row_location,
)
from deltaset.storage.base import Storage

DEFAULT_PACK_SIZE = 32 * 1024 * 1024


def pack_key(pack_id: str) -> str:
    return f"packs/{pack_id[:2]}/{pack_id}.pack"


class PackWriter:
    """Thread-safe: callers encode in parallel, appends are serialised.

    Each full pack is published (create-then-publish) before the next starts; ``written`` holds
    the index rows of published packs only, so an index never names a pack that is not complete.
    """

    def __init__(
        self,
        storage: Storage,
        target_size: int = DEFAULT_PACK_SIZE,
        on_pack: Callable[[bytes], None] | None = None,
    ) -> None:
        self.storage = storage
        self.on_pack = on_pack  # told the index rows of each pack once it is published
        self.target_size = max(1, target_size)
        self.written = bytearray()
        self.stored_bytes = 0
        self._lock = threading.Lock()
        self._pack_id = ""
        self._context: AbstractContextManager[BinaryIO] | None = None
        self._handle: BinaryIO | None = None
        self._entries: list[PackEntry] = []
        self._offset = 0

    def add(self, blob_id: str, codec: int, payload: bytes, raw_length: int) -> None:
        with self._lock:
            if self._handle is None:
                self._start()
            assert self._handle is not None
            self._handle.write(payload)
            self._entries.append(PackEntry(blob_id, codec, self._offset, len(payload), raw_length))
            self._offset += len(payload)
            if self._offset >= self.target_size:
                self._finish()

    def _start(self) -> None:
        self._pack_id = uuid.uuid4().hex
        self._context = self.storage.writer(pack_key(self._pack_id))
        self._handle = self._context.__enter__()
        self._entries, self._offset = [], 0

    def _finish(self) -> None:
        assert self._handle is not None
        assert self._context is not None
        self._handle.write(encode_header(self._entries))
        self._context.__exit__(None, None, None)
        failpoint("packs.after_publish")
        rows = b"".join(index_row(self._pack_id, e) for e in self._entries)
        self.written += rows
        if self.on_pack is not None:
            self.on_pack(rows)
        self.stored_bytes += self._offset
        self._handle = self._context = None

    def locations(self) -> list[Location]:
        """Where the blobs of the published packs are (decoded from ``written``)."""
        return [row_location(self.written, i) for i in range(len(self.written) // INDEX_ROW_SIZE)]

    def close(self) -> None:
        """Publish the pack in progress."""
        with self._lock:
            if self._handle is not None:
                self._finish()

    def abort(self, exc: BaseException) -> None:
        """Discard the pack in progress; published packs stay (they are garbage until indexed)."""
        with self._lock:
            if self._context is not None:
                self._context.__exit__(type(exc), exc, exc.__traceback__)
                self._handle = self._context = None

    def __enter__(self) -> PackWriter:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc is None:
            self.close()
        else:
            self.abort(exc)
