"""What each file of a cached folder looked like when deltaset put it there, to notice writes.

Cached folders hard-link the cache's blobs, and read-only bits do not stop root: a write into
one folder changes the blob and every folder linking it. So every file deltaset places is
recorded with its stat (inode, size, mtime, ctime), and each get of a folder stats its files
again: one stat a file, no reading. ctime catches a write whose mtime was put back; it also
moves when deltaset links the same blob into another folder, which the blob's own record in
the cache index tells apart (see :meth:`~deltaset.cache.blobs.BlobCache.check_tree`).

A folder's record is one file: the marshalled lists of its paths, blob ids and stats, behind
a header holding a BLAKE3 of the rest (marshal loads 20,000 stats in a few milliseconds, where
parsing text takes several times that). A damaged, missing or unreadable record (marshal's
format may change with Python) makes every file of the folder a suspect, checked the long way.
"""

from __future__ import annotations

import contextlib
import marshal
import os
from dataclasses import dataclass, field
from pathlib import Path

import blake3

from deltaset.storage.local import write_best_effort

_HEADER = b"deltaset-tree-record 2 "
_HEADER_LENGTH = len(_HEADER) + 64 + 1  # the header, a BLAKE3 hex of the body, a newline

FileStat = tuple[int, int, int, int]  # inode, size, mtime_ns, ctime_ns


def stat_of(result: os.stat_result) -> FileStat:
    return result.st_ino, result.st_size, result.st_mtime_ns, result.st_ctime_ns


def file_stat(path: str) -> os.stat_result | None:
    """The stat of the file at ``path`` (following links); None if there is none."""
    try:
        return os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        return None


@dataclass
class TreeRecord:
    """The files of a cached folder: path, blob id and stat at the same index of each list."""

    paths: list[str] = field(default_factory=list)
    blob_ids: list[str] = field(default_factory=list)
    stats: list[FileStat] = field(default_factory=list)

    def add(self, path: str, blob_id: str, stat: FileStat) -> None:
        self.paths.append(path)
        self.blob_ids.append(blob_id)
        self.stats.append(stat)

    def by_path(self) -> dict[str, tuple[str, FileStat]]:
        return {p: (b, s) for p, b, s in zip(self.paths, self.blob_ids, self.stats, strict=True)}

    @classmethod
    def of(cls, files: dict[str, tuple[str, FileStat]]) -> TreeRecord:
        record = cls()
        for path, (blob_id, stat) in files.items():
            record.add(path, blob_id, stat)
        return record


class TreeRecords:
    """One record file per cached folder, named after its key, under ``directory``."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def _file(self, key: str) -> Path:
        return self.directory / f"{key}.record"

    def load(self, key: str) -> TreeRecord | None:
        """The record of folder ``key``; None when it has none or it cannot be read."""
        try:
            data = self._file(key).read_bytes()
        except OSError:
            return None
        body = data[_HEADER_LENGTH:]
        digest = data[len(_HEADER) : _HEADER_LENGTH - 1]
        if not data.startswith(_HEADER) or blake3.blake3(body).hexdigest().encode() != digest:
            return None
        try:
            paths, blob_ids, stats = marshal.loads(body)
        except (EOFError, ValueError, TypeError):
            return None
        if not len(paths) == len(blob_ids) == len(stats):
            return None
        return TreeRecord(paths, blob_ids, stats)

    def save(self, key: str, record: TreeRecord) -> None:
        """Replace the record of folder ``key``; a failure only costs the next get a check."""
        data = marshal.dumps((record.paths, record.blob_ids, record.stats))
        digest = blake3.blake3(data).hexdigest().encode()
        write_best_effort(self._file(key), _HEADER + digest + b"\n" + data)

    def drop(self, key: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self._file(key))
