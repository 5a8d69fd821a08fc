"""The files a walk found for adding, held compactly until they are hashed.

A sync of a changed folder of a million files holds every file found from the walk to the save
of the folder's state. As an object each (:class:`LocalFile`, its stat key as a tuple of
integer objects) a file cost about 380 bytes beside its path; :class:`FoundFiles` holds the
path and five integers in an array, about 140 bytes, and makes the objects a batch at a time as
they are hashed.
"""

from __future__ import annotations

import os
from array import array
from bisect import bisect_right
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from itertools import islice
from typing import overload

from deltaset.cache.hashes import Key

_FIELDS = 5  # device, inode, size, mtime and ctime (ns) of each file, in that order


@dataclass(frozen=True, slots=True)
class Landing:
    """How the files of one walk map to dataset paths: ``prefix`` plus the source path past its
    first ``cut`` characters (the local base folder)."""

    prefix: str
    cut: int


class LocalFile:
    """A file found for adding. Kept lean: the dataset path is derived from the source, and
    the stat fields are plain slots."""

    __slots__ = ("ctime", "key", "landing", "size", "source")

    def __init__(self, source: str, landing: Landing, stat: os.stat_result) -> None:
        self.source = source
        self.landing = landing
        self.size = stat.st_size
        # Made once: the hash cache is looked up and filled by it, several times per file.
        self.key: Key = (stat.st_dev, stat.st_ino, stat.st_size, stat.st_mtime_ns)
        self.ctime = stat.st_ctime_ns  # with the key, the walk's stat: see _read_as_walked

    @classmethod
    def of(cls, source: str, landing: Landing, key: Key, ctime: int) -> LocalFile:
        """The file of ``source`` as a walk saw it: its stat key and ctime."""
        item = cls.__new__(cls)
        item.source, item.landing, item.size, item.key, item.ctime = (
            source,
            landing,
            key[2],
            key,
            ctime,
        )
        return item

    @property
    def path(self) -> str:
        """Where the file lands in the dataset."""
        return self.landing.prefix + self.source[self.landing.cut :]


class FoundFiles(Sequence[LocalFile]):
    """Files found for adding, in the order added: each a source path and its stat fields in
    one array of integers (a list, should a field not fit 64 bits), the walks' landings as runs.
    An item is a :class:`LocalFile` made when asked for."""

    __slots__ = ("_landings", "_sources", "_starts", "_stats")

    def __init__(self) -> None:
        self._sources: list[str] = []
        self._stats: array[int] | list[int] = array("q")
        self._starts: list[int] = []  # where each run of files of one landing starts
        self._landings: list[Landing] = []

    def add(self, source: str, landing: Landing, stat: os.stat_result) -> None:
        """Add the file of ``source`` with the stat its walk took."""
        if not self._landings or landing is not self._landings[-1]:
            self._starts.append(len(self._sources))
            self._landings.append(landing)
        fields = (stat.st_dev, stat.st_ino, stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns)
        try:
            self._stats.extend(fields)
        except OverflowError:  # an inode number of 128 bits, say: no array holds it
            del self._stats[len(self._sources) * _FIELDS :]
            self._stats = list(self._stats)
            self._stats.extend(fields)
        self._sources.append(source)

    def __len__(self) -> int:
        return len(self._sources)

    @overload
    def __getitem__(self, index: int) -> LocalFile: ...

    @overload
    def __getitem__(self, index: slice) -> list[LocalFile]: ...

    def __getitem__(self, index: int | slice) -> LocalFile | list[LocalFile]:
        if isinstance(index, slice):
            start, stop, step = index.indices(len(self._sources))
            if step == 1:
                return self._items(start, max(start, stop))
            return [self._item(at) for at in range(start, stop, step)]
        if index < 0:
            index += len(self._sources)
        if not 0 <= index < len(self._sources):
            raise IndexError("file index out of range")
        return self._item(index)

    def __iter__(self) -> Iterator[LocalFile]:
        return map(self._item, range(len(self._sources)))

    def _item(self, at: int) -> LocalFile:
        stats = self._stats
        start = at * _FIELDS
        dev, ino, size, mtime, ctime = stats[start : start + _FIELDS]
        return LocalFile.of(self._sources[at], self._landing_of(at), (dev, ino, size, mtime), ctime)

    def _items(self, start: int, stop: int) -> list[LocalFile]:
        """Files ``start`` to ``stop``: a batch to hash, made in one loop."""
        fields = iter(self._stats[start * _FIELDS : stop * _FIELDS])
        make, sources = LocalFile.of, self._sources[start:stop]
        if len(self._landings) == 1:
            landing = self._landings[0]
            return [
                make(source, landing, (dev, ino, size, mtime), ctime)
                for source, dev, ino, size, mtime, ctime in zip(
                    sources, fields, fields, fields, fields, fields, strict=True
                )
            ]
        return [self._item(at) for at in range(start, stop)]

    def _landing_of(self, at: int) -> Landing:
        landings = self._landings
        return landings[0] if len(landings) == 1 else landings[bisect_right(self._starts, at) - 1]

    def total_size(self, start: int = 0) -> int:
        """The bytes of all the files (from the ``start``-th on), by their walks' stat."""
        return sum(self._stats[2 + start * _FIELDS :: _FIELDS])

    def paths(self) -> Iterator[str]:
        """Where each file lands in the dataset, in order, without an object per file."""
        ends = [*self._starts[1:], len(self._sources)] if self._starts else []
        for start, end, landing in zip(self._starts, ends, self._landings, strict=True):
            prefix, cut = landing.prefix, landing.cut
            for source in islice(self._sources, start, end):
                yield prefix + source[cut:]
