"""PackWriter: streams encoded blobs into packs of about a target size, one pack at a time, small
whole blobs given as :data:`~deltaset.packs.codec.Codec.GROUP` compressed in groups (see
packs/groups.py)."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager
from types import TracebackType
from typing import BinaryIO

from deltaset.faults import failpoint
from deltaset.packs import groups
from deltaset.packs.codec import WORTH_IT, Codec, encode_small
from deltaset.packs.format import (
    INDEX_ROW_SIZE,
    Location,
    PackEntry,
    base_pair,
    encode_header,
    index_row,
    row_location,
)
from deltaset.storage.base import Storage

DEFAULT_PACK_SIZE = 32 * 1024 * 1024
# A pack of tiny files ends here whatever its size: its entries (and its header) are held in
# memory until it is published, about 300 bytes a blob.
MAX_PACK_ENTRIES = 65_536


def pack_key(pack_id: str) -> str:
    return f"packs/{pack_id[:2]}/{pack_id}.pack"


def pack_id_of(key: str) -> str | None:
    """The id of the pack stored at ``key`` (see :func:`pack_key`), or None for another key."""
    if not key.endswith(".pack"):
        return None
    return key.rsplit("/", 1)[-1].removesuffix(".pack")


class _OpenPack:
    """A pack being written: its id, the storage writer it streams into, and its entries."""

    def __init__(self, storage: Storage, pack_id: str) -> None:
        self.pack_id = pack_id
        self.context: AbstractContextManager[BinaryIO] = storage.writer(pack_key(pack_id))
        self.handle = self.context.__enter__()
        self.entries: list[PackEntry] = []
        self.size = 0

    def append(
        self, blob_id: str, codec: int, payload: bytes, raw_length: int, base: str | None
    ) -> None:
        self.handle.write(payload)
        self.entries.append(PackEntry(blob_id, codec, self.size, len(payload), raw_length, base))
        self.size += len(payload)

    def append_group(self, members: list[tuple[str, bytes]], frame: bytes) -> None:
        """Append the ``frame`` of a group of ``members`` (blob id, raw bytes): each one's entry
        names the whole frame."""
        self.handle.write(frame)
        for blob_id, raw in members:
            self.entries.append(PackEntry(blob_id, Codec.GROUP, self.size, len(frame), len(raw)))
        self.size += len(frame)

    def full(self, target_size: int) -> bool:
        return self.size >= target_size or len(self.entries) >= MAX_PACK_ENTRIES

    def append_many(self, blobs: list[tuple[str, int, bytes, int]]) -> None:
        """:meth:`append` of whole blobs (no deltas), in one write."""
        entries, size = self.entries, self.size
        for blob_id, codec, payload, raw_length in blobs:
            entries.append(PackEntry(blob_id, codec, size, len(payload), raw_length))
            size += len(payload)
        self.handle.write(b"".join(blob[2] for blob in blobs))
        self.size = size

    def pairs(self) -> bytes:
        """The index pairs naming the bases of the pack's deltas (see :func:`base_pair`)."""
        return b"".join(base_pair(e) for e in self.entries if e.base)

    def publish(self, rows: bool = True) -> bytes:
        """Write the header and publish the pack; returns its index rows (none unless
        ``rows``)."""
        try:
            self.handle.write(encode_header(self.entries))
        except BaseException as exc:
            self.discard(exc)
            raise
        self.context.__exit__(None, None, None)
        return b"".join(index_row(self.pack_id, e) for e in self.entries) if rows else b""

    def discard(self, exc: BaseException) -> None:
        self.context.__exit__(type(exc), exc, exc.__traceback__)


def _fitting(blobs: list[tuple[str, int, bytes, int]], room: int, entries: int) -> int:
    """How many of ``blobs`` go into a pack with ``room`` bytes and ``entries`` entries left:
    up to the one that reaches the room, as :meth:`PackWriter.add` closes a pack."""
    taken = 0
    for blob in blobs[:entries]:
        taken += 1
        room -= len(blob[2])
        if room <= 0:
            break
    return taken


class PackWriter:
    """Thread-safe: callers encode in parallel, appends are serialised.

    Each full pack is published (create-then-publish) by the thread that filled it, outside the
    lock, so a pack's flush to disk overlaps the filling of the next. ``written`` holds the index
    rows of published packs only, so an index never names a pack that is not complete, and
    ``pairs`` the pairs naming the bases of their deltas.

    A blob added with the codec :data:`~deltaset.packs.codec.Codec.GROUP` is given raw: it
    joins the group in progress, compressed (at ``group_level``, the first
    :data:`~deltaset.packs.groups.RICH_BYTES` at ``rich_level``) and written once the group
    is full or the writer closes (a group of one is stored as :func:`encode_small` stores it).
    """

    def __init__(
        self,
        storage: Storage,
        target_size: int = DEFAULT_PACK_SIZE,
        on_pack: Callable[[bytes, bytes], None] | None = None,
        keep_rows: bool = True,
        make_rows: bool = True,
        group_level: int = groups.LEVEL,
        rich_level: int = groups.RICH_LEVEL,
    ) -> None:
        self.storage = storage
        self.on_pack = on_pack  # told the index rows (and pairs) of each pack once published
        self.keep_rows = keep_rows  # False: ``written`` stays empty (``on_pack`` is told them)
        # False: no index rows are made at all, ``on_pack`` is told none (packs read by their
        # headers only, as a draft's staged packs are).
        self.make_rows = make_rows
        self.target_size = max(1, target_size)
        self.written = bytearray()
        self.pairs = bytearray()
        self.stored_bytes = 0
        self._lock = threading.Lock()
        self._published = threading.Lock()  # guards written, stored_bytes and on_pack calls
        self._open: _OpenPack | None = None
        self.group_level = group_level
        self.rich_level = max(rich_level, group_level)
        self._group: list[tuple[str, bytes]] = []  # the group in progress: (blob id, raw bytes)
        self._group_size = 0
        self._rich_left = groups.RICH_BYTES

    def add(
        self, blob_id: str, codec: int, payload: bytes, raw_length: int, base: str | None = None
    ) -> None:
        """Append a stored blob (a delta names its ``base``; a blob to group is given raw)."""
        if codec == Codec.GROUP:
            self._add_members([(blob_id, payload)])
            return
        with self._lock:
            if self._open is None:
                self._open = _OpenPack(self.storage, uuid.uuid4().hex)
            pack = self._open
            pack.append(blob_id, codec, payload, raw_length, base)
            if not pack.full(self.target_size):
                return
            self._open = None
        self._publish(pack)

    def add_many(self, blobs: Iterable[tuple[str, int, bytes, int]]) -> None:
        """:meth:`add` of many blobs (id, codec, payload, raw length; no deltas) under one
        taking of the lock: tiny files cost less to pack than to lock for one at a time."""
        full = []
        left = []
        members = []
        for blob in blobs:
            if blob[1] == Codec.GROUP:
                members.append((blob[0], blob[2]))
            else:
                left.append(blob)
        if members:
            self._add_members(members)
        with self._lock:
            while left:
                if self._open is None:
                    self._open = _OpenPack(self.storage, uuid.uuid4().hex)
                pack = self._open
                taken = _fitting(
                    left, self.target_size - pack.size, MAX_PACK_ENTRIES - len(pack.entries)
                )
                pack.append_many(left[:taken])
                left = left[taken:]
                if pack.full(self.target_size):
                    full.append(pack)
                    self._open = None
        for pack in full:
            self._publish(pack)

    def _add_members(self, members: list[tuple[str, bytes]]) -> None:
        """Add blobs to the group in progress, writing each group that fills."""
        ready = []
        with self._lock:
            for member in members:
                self._group.append(member)
                self._group_size += len(member[1])
                if self._group_size >= groups.GROUP_SIZE:
                    ready.append(self._take_group())
        for group, level in ready:
            self._write_group(group, level)

    def _take_group(self) -> tuple[list[tuple[str, bytes]], int]:
        """The group in progress and the level to compress it at (call with the lock held)."""
        group, size = self._group, self._group_size
        self._group, self._group_size = [], 0
        level = self.rich_level if self._rich_left > 0 else self.group_level
        self._rich_left -= size
        return group, level

    def _write_group(self, group: list[tuple[str, bytes]], level: int) -> None:
        if len(group) == 1:
            blob_id, raw = group[0]
            self.add(blob_id, *encode_small(raw, level), len(raw))
            return
        frame = groups.encode_group([raw for _, raw in group], level)
        if len(frame) >= WORTH_IT * sum(len(raw) for _, raw in group):
            # Incompressible (photos, archives): each stored raw, as encode_small would.
            for blob_id, raw in group:
                self.add(blob_id, Codec.RAW, raw, len(raw))
            return
        with self._lock:
            if self._open is None:
                self._open = _OpenPack(self.storage, uuid.uuid4().hex)
            pack = self._open
            pack.append_group(group, frame)
            if not pack.full(self.target_size):
                return
            self._open = None
        self._publish(pack)

    def _publish(self, pack: _OpenPack) -> None:
        rows = pack.publish(self.make_rows)
        pairs = pack.pairs()
        failpoint("packs.after_publish")
        with self._published:
            if self.keep_rows and self.make_rows:
                self.written += rows
                self.pairs += pairs
            self.stored_bytes += pack.size
            if self.on_pack is not None:
                self.on_pack(rows, pairs)

    def locations(self) -> list[Location]:
        """Where the blobs of the published packs are (decoded from ``written``, bases left
        out: see ``pairs``)."""
        return [row_location(self.written, i) for i in range(len(self.written) // INDEX_ROW_SIZE)]

    def close(self) -> None:
        """Publish the group and the pack in progress. Call it once every :meth:`add` has
        returned."""
        with self._lock:
            group, level = self._take_group()
        if group:
            self._write_group(group, level)
        with self._lock:
            pack, self._open = self._open, None
        if pack is not None:
            self._publish(pack)

    def abort(self, exc: BaseException) -> None:
        """Discard the group and the pack in progress; published packs stay (they are garbage
        until indexed)."""
        with self._lock:
            pack, self._open = self._open, None
            self._group, self._group_size = [], 0
        if pack is not None:
            pack.discard(exc)

    def __enter__(self) -> PackWriter:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc is None:
            self.close()
        else:
            self.abort(exc)
