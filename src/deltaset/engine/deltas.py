"""Choosing what a new or changed file most resembles, so that it is stored as a delta.

A changed file's base is the content its path had in the parents; a new file's, the parents'
file in the same folder with the same suffix whose name sorts next to it (daily dumps, numbered
shards) and whose size is alike. A small file is then stored as a delta against that whole
blob; a large (chunked) file chunk by chunk, each against the chunk of the base that covered
the same bytes. Files whose base is stored raw (incompressible content: images, archives) are
not tried: a delta of such content seldom pays for the base it reads.
"""

from __future__ import annotations

import bisect
import posixpath
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from zlib import crc32

from deltaset.core.chunking import should_chunk
from deltaset.core.manifest import Entry, Manifest
from deltaset.objects.store import BlobStore
from deltaset.packs.codec import Codec
from deltaset.packs.format import MAX_BASES

MIN_SIZE = 1024  # smaller files: a delta saves too little to pay for reading a base
SIMILAR = 2.0  # a base at most this many times larger or smaller than the file
PREFETCH = 16  # chunks of a base read at once
ANCHOR = 24  # bytes of a line's start that find it in a base
ANCHORED_UP_TO = 64 * 1024 * 1024  # larger bases: by position only (their lines are not indexed)
VOTE_BYTES = 16 * 1024  # the lines of a new chunk's first bytes choose its base


def _key(path: str) -> tuple[str, str]:
    folder, name = posixpath.split(path)
    return folder, posixpath.splitext(name)[1]


class Bases:
    """The base each file of a draft is tried against (see the module's text)."""

    def __init__(self, parents: Manifest, store: BlobStore) -> None:
        self.parents = parents
        self.store = store
        self._names: dict[tuple[str, str], list[str]] | None = None

    def _similar_names(self) -> dict[tuple[str, str], list[str]]:
        if self._names is None:
            found: dict[tuple[str, str], list[str]] = {}
            for at in range(len(self.parents)):
                path = self.parents.path_at(at)
                found.setdefault(_key(path), []).append(path)
            self._names = found  # paths come in order, so each list is sorted
        return self._names

    def of(self, path: str, entry: Entry) -> Entry | None:
        """The parents' file ``path``'s content is tried against, if any."""
        if entry.link or entry.size < MIN_SIZE:
            return None
        at = self.parents.position(path)
        if at is not None:
            found = self.parents.entry_at(at)
            return found if self._usable(found, entry) else None
        names = self._similar_names().get(_key(path), [])
        where = bisect.bisect_left(names, path)
        near = [names[i] for i in (where - 1, where) if 0 <= i < len(names)]
        for name in sorted(near, key=lambda n: -len(posixpath.commonprefix([n, path]))):
            found = self.parents.entry_at(self.parents.position(name) or 0)
            if self._usable(found, entry):
                return found
        return None

    def next_of(self, path: str, entry: Entry) -> Entry | None:
        """The parents' file in ``path``'s folder with its suffix whose name sorts next after
        it (a later dump or shard), if usable: what a file is tried against where no newer
        content of its own path exists (``gc --repack``, see engine/rewrite.py)."""
        if entry.link or entry.size < MIN_SIZE:
            return None
        names = self._similar_names().get(_key(path), [])
        where = bisect.bisect_right(names, path)
        if where == len(names):
            return None
        found = self.parents.entry_at(self.parents.position(names[where]) or 0)
        return found if self._usable(found, entry) else None

    def _usable(self, base: Entry, entry: Entry) -> bool:
        if base.link or base.blob_id == entry.blob_id or base.size < MIN_SIZE:
            return False
        if not entry.size / SIMILAR <= base.size <= entry.size * SIMILAR:
            return False
        if should_chunk(base.size) != should_chunk(entry.size):
            return False  # stored whole against stored as chunks: no one blob to rebuild from
        first = base.stored_ids[0] if base.stored_ids else ""
        loc = self.store.index.get(first) if first else None
        return loc is not None and loc.entry.codec != Codec.RAW


@dataclass
class ChunkBases:
    """The chunks of a base file, and which of them a new chunk most resembles.

    By default the chunk covering the same bytes. When content moved (a column added to every
    row of a table shifts everything after it), that chunk holds other rows: so for a base of at
    most :data:`ANCHORED_UP_TO` bytes, a sample of its lines' starts is indexed, and the chunk
    holding most of the new chunk's first sampled line starts wins, together with the chunk
    after it: a chunk whose rows moved seldom starts where a base chunk starts, so its rows
    run on into the next base chunk (on a table gaining a column, a delta against both is a
    quarter smaller)."""

    store: BlobStore
    chunks: tuple[str, ...]
    starts: list[int] = field(default_factory=list)
    size: int = 0
    _raw: dict[str, bytes] = field(default_factory=dict)
    _where: dict[bytes, int] | None = None

    @classmethod
    def of(cls, store: BlobStore, base: Entry) -> ChunkBases | None:
        if not base.chunks or any(c not in store.index for c in base.chunks):
            return None
        starts, at = [], 0
        for chunk in base.chunks:
            starts.append(at)
            at += store.raw_size(chunk)
        return cls(store, base.chunks, starts, at)

    def base_for(self, start: int, data: bytes | memoryview) -> tuple[tuple[str, ...], bytes]:
        """The base chunks the new chunk ``data`` (at ``start`` in its file) is tried against,
        and their raw bytes joined."""
        end = start + len(data)
        first = min(len(self.chunks) - 1, max(0, bisect.bisect_right(self.starts, start) - 1))
        last = min(len(self.chunks) - 1, max(first, bisect.bisect_left(self.starts, end) - 1))
        best = max(range(first, last + 1), key=lambda i: self._overlap(i, start, end))
        raw = self._bytes(best)
        probes = _first_line_starts(data)
        # The usual cases, found cheaply: nothing moved (a line may have been revised, not
        # several), or rows appended past the base's end.
        if not probes or any(p in raw for p in probes) or end > self.size:
            return (self.chunks[best],), raw
        moved = self._by_lines(data)
        if moved is None:
            return (self.chunks[best],), raw
        chosen = self.chunks[moved : moved + MAX_BASES]
        return tuple(chosen), b"".join(self._raw[chunk] for chunk in chosen)

    def _by_lines(self, data: bytes | memoryview) -> int | None:
        if self.size > ANCHORED_UP_TO:
            return None
        if self._where is None:
            self._raw = raw_of(self.store, self.chunks)  # all of it: at most ANCHORED_UP_TO
            self._where = {}
            for at, chunk in enumerate(self.chunks):
                self._where.update((a, at) for a in anchors(self._raw[chunk]))
        votes = Counter(self._where.get(a) for a in anchors(bytes(data[:VOTE_BYTES])))
        votes.pop(None, None)
        return votes.most_common(1)[0][0] if votes else None

    def _overlap(self, at: int, start: int, end: int) -> int:
        stop = self.starts[at + 1] if at + 1 < len(self.starts) else end
        return min(end, stop) - max(start, self.starts[at])

    def _bytes(self, at: int) -> bytes:
        chunk = self.chunks[at]
        if chunk not in self._raw:
            self._raw = {}  # the chunks of a file are asked for in order: keep one window
            wanted = self.chunks[at : at + PREFETCH]
            self.store.read(wanted, self._raw.__setitem__)
        return self._raw[chunk]


def _first_line_starts(data: bytes | memoryview, count: int = 3) -> list[bytes]:
    """The starts (:data:`ANCHOR` bytes) of the first ``count`` whole lines of ``data``."""
    lines = bytes(data[:VOTE_BYTES]).split(b"\n")[1 : count + 1]
    return [line[:ANCHOR] for line in lines if len(line) >= ANCHOR]


def anchors(data: bytes) -> list[bytes]:
    """The starts of a sample of the whole lines of ``data`` (picked by content, so the same
    line is picked wherever it is; by CRC-32 rather than ``hash``, which changes from process
    to process, so that what is stored does not)."""
    lines = data.split(b"\n")[1:-1]  # the first and last may be cut
    starts = (line[:ANCHOR] for line in lines if len(line) >= ANCHOR)
    return [start for start in starts if crc32(start) % 8 == 0]


def raw_of(store: BlobStore, ids: Iterable[str]) -> dict[str, bytes]:
    found: dict[str, bytes] = {}
    store.read(ids, found.__setitem__)
    return found
