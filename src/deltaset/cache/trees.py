"""What each file of a cached folder looked like when deltaset put it there, to notice writes.

Cached folders hard-link the cache's blobs, and read-only bits do not stop root: a write into
one folder changes the blob and every folder linking it. So every file deltaset places is
recorded with its stat (inode, size, mtime, ctime), and each get of a folder stats its files
again: one stat a file, no reading. ctime catches a write whose mtime was put back; it also
moves when deltaset links the same blob into another folder, which the blob's own record in
the cache index tells apart (see :meth:`~deltaset.cache.blobs.BlobCache.check_tree`).

A folder's record is one file, a header holding a BLAKE3 of the rest, then (format 3)::

    u64 count | count x 32-byte blob id | count x 4 x i64 stat (little-endian) | marshalled paths

Columns rather than an object per file: a million-file folder's record costs about 64 bytes
a file in memory beyond its paths (shared with the manifest it was built from), where lists
of hex ids and stat tuples cost over 200. A record of format 2 (the marshalled lists of
paths, hex ids and stat tuples) is still read, and written again as format 3 on its next
save. A damaged, missing or unreadable record (marshal's format may change with Python)
makes every file of the folder a suspect, checked the long way.
"""

from __future__ import annotations

import contextlib
import marshal
import os
import struct
import sys
from array import array
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import BinaryIO

import blake3

from deltaset.storage.local import write_best_effort

_HEADER = b"deltaset-tree-record 3 "
_OLD_HEADER = b"deltaset-tree-record 2 "  # read, never written
_HEADER_LENGTH = len(_HEADER) + 64 + 1  # the header, a BLAKE3 hex of the body, a newline
_COUNT = struct.Struct("<Q")
_ID = 32
_FIELDS = 4  # inode, size, mtime_ns, ctime_ns
_UNSIGNED = (1 << 64) - 1  # inodes are unsigned 64-bit: stored as the signed int of their bits

FileStat = tuple[int, int, int, int]  # inode, size, mtime_ns, ctime_ns
STAT_BYTES = 8 * _FIELDS  # a file's stat in a record's stat column


def stat_of(result: os.stat_result) -> FileStat:
    return result.st_ino, result.st_size, result.st_mtime_ns, result.st_ctime_ns


def file_stat(path: str) -> os.stat_result | None:
    """The stat of the file at ``path`` (following links); None if there is none."""
    try:
        return os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        return None


def _signed(inode: int) -> int:
    return inode - (1 << 64) if inode > _UNSIGNED >> 1 else inode


def put_stat(stats: array[int], at: int, result: os.stat_result) -> None:
    """Set the stat of file ``at`` in a record's stat column (see :class:`TreeRecord`)."""
    i = at * _FIELDS
    stats[i] = _signed(result.st_ino)
    stats[i + 1] = result.st_size
    stats[i + 2] = result.st_mtime_ns
    stats[i + 3] = result.st_ctime_ns


def put_stats(stats: array[int], positions: Iterable[int], found: Sequence[int]) -> None:
    """Set the stats of the files at ``positions`` from ``found``, their stats (as
    :func:`stat_of` gives them) end to end, in the same order."""
    for k, at in enumerate(positions):
        i, j = at * _FIELDS, k * _FIELDS
        stats[i] = _signed(found[j])
        stats[i + 1] = found[j + 1]
        stats[i + 2] = found[j + 2]
        stats[i + 3] = found[j + 3]


def stat_columns(
    stats: array[int], order: Sequence[int]
) -> tuple[Iterator[int], Iterator[int], Iterator[int], Iterator[int]]:
    """The inodes, sizes, mtimes and ctimes of the files at the positions ``order`` lists in
    a record's stat column, as four iterators to take in step: no Python code a file."""
    column = memoryview(stats)  # one field of every file: a strided view, not a copy
    inodes, sizes, mtimes, ctimes = (map(column[f::_FIELDS].__getitem__, order) for f in range(4))
    return map(_UNSIGNED.__and__, inodes), sizes, mtimes, ctimes


class TreeRecord:
    """The files of a cached folder: the path, blob id and stat of each, by position."""

    __slots__ = ("_ids", "_stats", "paths")

    def __init__(
        self,
        paths: list[str] | None = None,
        ids: bytearray | None = None,
        stats: array[int] | None = None,
    ) -> None:
        self.paths: list[str] = [] if paths is None else paths
        self._ids = bytearray() if ids is None else ids  # 32 raw bytes a file
        self._stats = array("q") if stats is None else stats  # 4 a file

    def check(self) -> TreeRecord:
        """This record, if its columns agree in length; ValueError if not."""
        if not len(self._ids) == _ID * len(self.paths) == _ID * len(self._stats) // _FIELDS:
            raise ValueError("a tree record's columns differ in length")
        return self

    def __len__(self) -> int:
        return len(self.paths)

    def add(self, path: str, blob_id: str, stat: FileStat) -> None:
        self.add_raw(path, bytes.fromhex(blob_id), stat)

    def add_raw(self, path: str, raw_id: bytes, stat: FileStat) -> None:
        """:meth:`add` of a blob id given as its 32 raw bytes."""
        self.paths.append(path)
        self._ids += raw_id
        self._add_stat(stat)

    def add_id(self, raw_id: bytes) -> None:
        """The blob id of the next of :attr:`paths`, whose stat was given beforehand."""
        self._ids += raw_id

    def add_ids(self, raw_ids: bytes) -> None:
        """:meth:`add_id` of several files, their raw ids end to end."""
        self._ids += raw_ids

    def add_stat(self, raw_id: bytes, stat: FileStat) -> None:
        """The blob id and stat of the next of :attr:`paths`, given beforehand."""
        self._ids += raw_id
        self._add_stat(stat)

    def _add_stat(self, stat: FileStat) -> None:
        inode, size, mtime, ctime = stat
        self._stats.extend((_signed(inode), size, mtime, ctime))

    def blob_id(self, at: int) -> str:
        return self._ids[at * _ID : (at + 1) * _ID].hex()

    def raw_ids(self) -> bytes:
        """The raw blob ids of every file end to end, in order (a copy)."""
        return bytes(self._ids)

    def stat(self, at: int) -> FileStat:
        s, i = self._stats, at * _FIELDS
        return s[i] & _UNSIGNED, s[i + 1], s[i + 2], s[i + 3]

    def set_stat(self, at: int, stat: FileStat) -> None:
        inode, size, mtime, ctime = stat
        self._stats[at * _FIELDS : (at + 1) * _FIELDS] = array(
            "q", (_signed(inode), size, mtime, ctime)
        )

    def stat_column(self) -> array[int]:
        """The stats of every file end to end, four signed fields each (see :func:`put_stat`)."""
        return self._stats

    def stats(self) -> Iterator[FileStat]:
        """The stat of each file, in order."""
        fields = iter(self._stats)
        return (
            (i & _UNSIGNED, s, m, c)
            for i, s, m, c in zip(fields, fields, fields, fields, strict=True)
        )

    def positions_of(self, blob_id: str) -> Iterator[int]:
        """Where the files holding ``blob_id`` are, with no object made for the others."""
        raw, ids = bytes.fromhex(blob_id), self._ids
        found = ids.find(raw)
        while found >= 0:
            if found % _ID == 0:
                yield found // _ID
            found = ids.find(raw, found + 1)

    def by_path(self) -> dict[str, tuple[str, FileStat]]:
        return {p: (self.blob_id(at), self.stat(at)) for at, p in enumerate(self.paths)}

    @classmethod
    def of(cls, files: Mapping[str, tuple[str, FileStat]]) -> TreeRecord:
        record = cls()
        for path, (blob_id, stat) in files.items():
            record.add(path, blob_id, stat)
        return record

    def body(self) -> list[bytes | bytearray | memoryview]:
        """The stored form of the record but its header, in pieces (none a copy of all)."""
        stats = self._stats
        if sys.byteorder == "big":
            stats = array("q", stats)
            stats.byteswap()
        paths = marshal.dumps(self.paths)
        return [_COUNT.pack(len(self.paths)), self._ids, memoryview(stats).cast("B"), paths]

    @classmethod
    def read(cls, file: BinaryIO, hasher: blake3.blake3) -> TreeRecord:
        """The record stored in ``file`` from the end of its header on; ``hasher`` is fed
        every byte read. ValueError (or EOFError) when it is cut short or misshapen."""
        head = file.read(_COUNT.size)
        hasher.update(head)
        (count,) = _COUNT.unpack(head)
        ids = bytearray(file.read(_ID * count))
        stats = array("q")
        stats.frombytes(file.read(_ID * count))  # 4 x 8 bytes a file
        rest = file.read()
        hasher.update(ids)
        hasher.update(memoryview(stats).cast("B"))
        hasher.update(rest)
        if sys.byteorder == "big":
            stats.byteswap()
        paths = marshal.loads(rest)
        if not isinstance(paths, list) or len(paths) != count:
            raise ValueError("misshapen tree record")
        return cls(paths, ids, stats).check()


def _old_record(body: bytes) -> TreeRecord:
    """A record of format 2: marshalled lists of paths, hex blob ids and stat tuples."""
    paths, blob_ids, stats = marshal.loads(body)
    record = TreeRecord(paths)
    for blob_id, stat in zip(blob_ids, stats, strict=True):
        record.add_stat(bytes.fromhex(blob_id), stat)
    return record.check()


class TreeRecords:
    """One record file per cached folder, named after its key, under ``directory``."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def _file(self, key: str) -> Path:
        return self.directory / f"{key}.record"

    def load(self, key: str) -> TreeRecord | None:
        """The record of folder ``key``; None when it has none or it cannot be read."""
        try:
            with open(self._file(key), "rb") as file:
                header = file.read(_HEADER_LENGTH)
                digest = header[len(_HEADER) : _HEADER_LENGTH - 1]
                hasher = blake3.blake3()
                if header.startswith(_OLD_HEADER):
                    body = file.read()
                    hasher.update(body)
                    record = _old_record(body) if _matches(hasher, digest) else None
                elif header.startswith(_HEADER):
                    record = TreeRecord.read(file, hasher)
                    record = record if _matches(hasher, digest) else None
                else:
                    record = None
        except (OSError, EOFError, ValueError, TypeError, struct.error):
            return None
        return record

    def columns(self, key: str) -> tuple[bytes, array[int]] | None:
        """The blob ids and the stat column (see :meth:`TreeRecord.stat_column`) of folder
        ``key``'s record, checked whole, without making its paths: a million of them take
        about 100 MB. None as :meth:`load`."""
        try:
            with open(self._file(key), "rb") as file:
                header = file.read(_HEADER_LENGTH)
                if not header.startswith(_HEADER):
                    record = self.load(key)
                    return None if record is None else (record.raw_ids(), record.stat_column())
                hasher = blake3.blake3()
                head = file.read(_COUNT.size)
                (count,) = _COUNT.unpack(head)
                ids = file.read(_ID * count)
                stats = array("q")
                stats.frombytes(file.read(_ID * count))  # 4 x 8 bytes a file
                for piece in (head, ids, memoryview(stats).cast("B")):
                    hasher.update(piece)
                while rest := file.read(1 << 20):
                    hasher.update(rest)
        except (OSError, ValueError, struct.error):
            return None
        whole = len(ids) == _ID * count and len(stats) == _FIELDS * count
        if not whole or not _matches(hasher, header[len(_HEADER) : -1]):
            return None
        if sys.byteorder == "big":
            stats.byteswap()
        return ids, stats

    def save(self, key: str, record: TreeRecord) -> None:
        """Replace the record of folder ``key``; a failure only costs the next get a check."""
        body = record.body()
        hasher = blake3.blake3()
        for piece in body:
            hasher.update(piece)
        header = _HEADER + hasher.hexdigest().encode() + b"\n"
        write_best_effort(self._file(key), [header, *body])

    def drop(self, key: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self._file(key))


def _matches(hasher: blake3.blake3, digest: bytes) -> bool:
    return hasher.hexdigest().encode() == digest
