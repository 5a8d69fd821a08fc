"""Choosing what a new or changed file most resembles, so that it is stored as a delta.

A changed file's base is the content its path had in the parents. A new (or moved) file's
candidates come from the whole parent version, chosen like git's delta window but by cheap
means, with no byte read: the parents' files of the same name in another folder (a module
moved), then those in the same folder with the same suffix whose names sort next to it (daily
dumps, numbered shards), then those with the same suffix and the nearest sizes; each of a size
alike. A small file is stored as a delta against the candidate sharing most of its lines
(:func:`closest`); a large (chunked) file chunk by chunk, each against the chunk of the first
candidate that covered the same bytes. Files whose base is stored raw (incompressible content:
images, archives) are not tried: a delta of such content seldom pays for the base it reads.
"""

from __future__ import annotations

import bisect
import posixpath
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from zlib import crc32

from deltaset.core.chunking import should_chunk
from deltaset.core.hashing import blob_id_of
from deltaset.core.manifest import Entry, Manifest
from deltaset.objects.store import BlobStore, Rebuilt
from deltaset.packs.codec import Codec
from deltaset.packs.format import MAX_BASES

MIN_SIZE = 256  # smaller files: a delta saves too little to pay for reading a base
SIMILAR = 2.0  # a base at most this many times larger or smaller than the file
PREFETCH = 16  # chunks of a base read at once
ANCHOR = 24  # bytes of a line's start that find it in a base
ANCHORED_UP_TO = 64 * 1024 * 1024  # larger bases: by position only (their lines are not indexed)
VOTE_BYTES = 16 * 1024  # the lines of a new chunk's first bytes choose its base
DRIFT = 16 * 1024  # content this much further or nearer than in the base has moved


WINDOW = 4  # candidates a new file is compared with (a same-path base: the only one)
# Bytes of extra candidates (past each new file's first) one upload reads at most: a version
# of many new files must not read the parents several times over.
EXTRA_BYTES = 64 * 1024 * 1024
MOVED = 32  # paths of a new file's name looked at, at most
SKETCH_LINE = 8  # shorter lines (blank, a brace) say little about what a file resembles


class _Names:
    """The parents' paths by what a new path is matched on: by folder and suffix, and by name,
    made in one pass (as cheap as the pass the neighbour rule alone made); by suffix and size
    only when a file has no candidate by name."""

    def __init__(self, parents: Manifest) -> None:
        self.parents = parents
        self.by_folder: dict[tuple[str, str], list[str]] = {}  # sorted: paths come in order
        self.by_name: dict[str, list[str]] = {}
        for at in range(len(parents)):
            path = parents.path_at(at)
            folder, _, name = path.rpartition("/")
            self.by_folder.setdefault((folder, posixpath.splitext(name)[1]), []).append(path)
            self.by_name.setdefault(name, []).append(path)
        self._places: dict[tuple[str, str], list[str]] = {}
        self._by_suffix: dict[str, list[tuple[int, str]]] | None = None

    def moved(self, path: str) -> list[str]:
        """The paths of the same name, those sharing most of the folder's end first (a
        package moved under ``src/``: ``requests/api.py`` -> ``src/requests/api.py``)."""
        folder, _, name = path.rpartition("/")
        found = self.by_name.get(name, [])
        if len(found) > MOVED:  # a common name (__init__.py): those in a folder named alike
            found = self._in_folders_named(posixpath.basename(folder), name)
        ranked = sorted(found[:MOVED], key=lambda p: -_common_end(posixpath.dirname(p), folder))
        return ranked

    def _in_folders_named(self, folder: str, name: str) -> list[str]:
        if (folder, name) not in self._places:
            found = self.by_name[name]
            same = [p for p in found if posixpath.basename(posixpath.dirname(p)) == folder]
            self._places[folder, name] = same
        return self._places[folder, name]

    def neighbours(self, path: str) -> list[str]:
        """The paths of the same folder and suffix whose names sort next to ``path``."""
        folder, name = posixpath.split(path)
        names = self.by_folder.get((folder, posixpath.splitext(name)[1]), [])
        where = bisect.bisect_left(names, path)
        near = [names[i] for i in (where - 1, where) if 0 <= i < len(names)]
        return sorted(near, key=lambda n: -len(posixpath.commonprefix([n, path])))

    def next_after(self, path: str) -> str | None:
        """The path of the same folder and suffix whose name sorts just after ``path``."""
        folder, name = posixpath.split(path)
        names = self.by_folder.get((folder, posixpath.splitext(name)[1]), [])
        where = bisect.bisect_right(names, path)
        return names[where] if where < len(names) else None

    def sized_like(self, path: str, size: int, count: int) -> list[str]:
        """The ``count`` paths of the same suffix whose sizes are nearest ``size``."""
        if self._by_suffix is None:
            self._by_suffix = {}
            for at in range(len(self.parents)):
                known = self.parents.path_at(at)
                suffix = posixpath.splitext(known)[1]
                self._by_suffix.setdefault(suffix, []).append((self.parents.size_at(at), known))
            for listed in self._by_suffix.values():
                listed.sort()
        sized = self._by_suffix.get(posixpath.splitext(path)[1], [])
        where = bisect.bisect_left(sized, (size, ""))
        low, high = where - 1, where
        found: list[str] = []
        while len(found) < count and (low >= 0 or high < len(sized)):
            below = size - sized[low][0] if low >= 0 else None
            above = sized[high][0] - size if high < len(sized) else None
            if above is None or (below is not None and below <= above):
                found.append(sized[low][1])
                low -= 1
            else:
                found.append(sized[high][1])
                high += 1
        return found


def _common_end(one: str, other: str) -> int:
    """How many trailing folder names ``one`` and ``other`` share."""
    a, b = one.split("/")[::-1], other.split("/")[::-1]
    return len(posixpath.commonprefix([a, b]))


class Bases:
    """The bases each file of a draft is tried against (see the module's text)."""

    def __init__(self, parents: Manifest, store: BlobStore, extra: int = EXTRA_BYTES) -> None:
        self.parents = parents
        self.store = store
        self.extra = extra  # bytes of extra candidates still to read
        self._names: _Names | None = None

    def of(self, path: str, entry: Entry) -> Entry | None:
        """The parents' file ``path``'s content is tried against first, if any."""
        found = self.candidates(path, entry, 1)
        return found[0] if found else None

    def candidates(self, path: str, entry: Entry, most: int = WINDOW) -> list[Entry]:
        """The parents' files ``path``'s content may be stored against, the likeliest first:
        the same path's alone when it is usable, else at most ``most`` others, the extra ones
        while the upload's budget of :data:`EXTRA_BYTES` lasts."""
        if entry.link or entry.size < MIN_SIZE:
            return []
        at = self.parents.position(path)
        if at is not None:
            same = self.parents.entry_at(at)
            if self._usable(same, entry):
                return [same]
        if self._names is None:
            self._names = _Names(self.parents)
        names = dict.fromkeys(self._names.moved(path) + self._names.neighbours(path))
        named = self._first(names, path, entry, most, guessed=False)
        if named or should_chunk(entry.size):
            return named
        # Chosen by size alone, a candidate is a guess that only a small file's lines confirm
        # (see closest): every byte it reads is budgeted.
        sized = self._names.sized_like(path, entry.size, most)
        return self._first(sized, path, entry, most, guessed=True)

    def _first(
        self, names: Iterable[str], path: str, entry: Entry, most: int, guessed: bool
    ) -> list[Entry]:
        """The first ``most`` usable bases among ``names``, while the budget lasts (every
        read beyond a file's first named candidate counts)."""
        found: list[Entry] = []
        for name in names:
            base = self.parents.entry_at(self.parents.position(name) or 0)
            if name == path or not self._usable(base, entry):
                continue
            if found or guessed:
                if base.size > self.extra:
                    break
                self.extra -= base.size
            found.append(base)
            if len(found) == most:
                break
        return found

    def next_of(self, path: str, entry: Entry) -> Entry | None:
        """The parents' file in ``path``'s folder with its suffix whose name sorts next after
        it (a later dump or shard), if usable: what a file is tried against where no newer
        content of its own path exists (``gc --repack``, see engine/rewrite.py)."""
        if entry.link or entry.size < MIN_SIZE:
            return None
        if self._names is None:
            self._names = _Names(self.parents)
        after = self._names.next_after(path)
        if after is None:
            return None
        found = self.parents.entry_at(self.parents.position(after) or 0)
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


def sketch(data: bytes) -> set[int]:
    """The CRC-32s of the lines of ``data`` (but the shortest): what :func:`closest` compares."""
    return {crc32(line) for line in data.split(b"\n") if len(line) >= SKETCH_LINE}


def closest(data: bytes, bases: Sequence[bytes]) -> int:
    """Which of ``bases`` (ranked, the likeliest first) shares most lines with ``data``; the
    first when none shares more than it (content with no lines to compare)."""
    if len(bases) < 2:
        return 0
    mine = sketch(data)
    shared = [len(mine & sketch(base)) for base in bases]
    return max(range(len(bases)), key=shared.__getitem__)


@dataclass
class ChunkBases:
    """The chunks of a base file, and which of them a new chunk most resembles.

    Their bytes come from ``local``, a file on this machine holding the base's content (the
    cache's copy of a version pulled with ``get``), where it holds them, each checked against its
    id; else they are rebuilt from the store, through their chains of deltas.

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
    # The raw bytes of every blob the reads of this file's bases rebuilt lately: the chunks of
    # a base share bases (two-chunk deltas), and a chain restarting past the depth limit starts
    # from a blob rebuilt on the way (see UploadSession.put_similar).
    memo: Rebuilt = field(default_factory=Rebuilt)
    local: str | None = None
    _raw: dict[str, bytes] = field(default_factory=dict)
    _where: dict[bytes, int] | None = None
    _moved: bool = False  # whether this file's rows are known to have moved
    _drift: int = 0  # where the rows of the last chunk found moved were, less where they are
    _next: int = 0  # the base chunk after the first of those chosen last

    @classmethod
    def of(cls, store: BlobStore, base: Entry, local: str | None = None) -> ChunkBases | None:
        if not base.chunks or any(c not in store.index for c in base.chunks):
            return None
        starts, at = [], 0
        for chunk in base.chunks:
            starts.append(at)
            at += store.raw_size(chunk)
        return cls(store, base.chunks, starts, at, local=local)

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
        # several), or rows appended past the base's end of a file whose rows did not move
        # (when they did, as when a column is added, the end holds moved rows too).
        appended = end > self.size and not self._moved
        self._next = best + 1
        if not probes or any(p in raw for p in probes) or appended:
            return (self.chunks[best],), raw
        # A chunk that starts a few bytes before or after the base chunk it resembles (rows
        # revised to another length) is found next door, without indexing the whole base.
        moved = self._next_door(best, start, data, probes) if self._where is None else None
        if moved is None:
            moved = self._by_lines(data)
        if moved is None:
            return (self.chunks[best],), raw
        chosen = range(moved, min(moved + MAX_BASES, len(self.chunks)))
        self._next = moved + 1  # the next new chunk's rows likely start in the second
        return tuple(self.chunks[i] for i in chosen), b"".join([self._bytes(i) for i in chosen])

    def ahead(self) -> tuple[str, ...]:
        """The base chunks after the first :meth:`base_for` chose last, :data:`PREFETCH` at
        most: those the next new chunks will likely be tried against."""
        return self.chunks[self._next : self._next + PREFETCH]

    def _next_door(
        self, at: int, start: int, data: bytes | memoryview, probes: list[bytes]
    ) -> int | None:
        """The chunk near ``at`` holding the first of ``probes`` (the new chunk ``data``'s
        first line starts, ``data`` at ``start`` in its file), if any; a line found more than
        :data:`DRIFT` bytes from where it was marks the file's rows as moved."""
        for near in self._nearby(at, start):
            found = self._bytes(near).find(probes[0])
            if found >= 0:
                was = self.starts[near] + found
                now = start + bytes(data[:VOTE_BYTES]).find(probes[0])
                self._drift = was - now
                self._moved = self._moved or abs(now - was) > DRIFT
                return near
        return None

    def _nearby(self, at: int, start: int) -> list[int]:
        """The chunks other than ``at`` a new chunk at ``start`` whose rows moved may come
        from, the likeliest first: where the rows of the last one were found, as far from
        where they are (rows grown by a column drift further with every chunk: looking next
        door only, a table gaining a column indexed every line of its base), then next door."""
        guess = min(
            len(self.chunks) - 1, max(0, bisect.bisect_right(self.starts, start + self._drift) - 1)
        )
        order = (guess, guess + 1, guess - 1, at + 1, at - 1)
        return [n for n in dict.fromkeys(order) if n != at and 0 <= n < len(self.chunks)]

    def _by_lines(self, data: bytes | memoryview) -> int | None:
        if self.size > ANCHORED_UP_TO:
            return None
        if self._where is None:
            self._moved = True
            missing = [at for at, chunk in enumerate(self.chunks) if chunk not in self._raw]
            self._raw |= self._fetch(missing)  # all of it: at most ANCHORED_UP_TO
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
            # The chunks of a file are asked for in order: keep one window.
            self._raw = self._fetch(range(at, min(at + PREFETCH, len(self.chunks))))
        return self._raw[chunk]

    def _fetch(self, positions: Iterable[int]) -> dict[str, bytes]:
        """The raw bytes of the base chunks at ``positions``: from :attr:`memo` where a read
        before kept them, else from :attr:`local` where it holds them, the others rebuilt from
        the store. Chunks read from ``local`` are kept in the memo too: rows moved (a column
        added) send :meth:`base_for` back and forth over the base, and each window read again
        from ``local`` was hashed again (2.7 s of a 6.6 s close of the growing table)."""
        wanted = list(positions)
        found = self.memo.checked([self.chunks[at] for at in wanted])
        if self.local is not None:
            read = self._from_local([at for at in wanted if self.chunks[at] not in found])
            for chunk, data in read.items():
                self.memo.add(chunk, data)
            found |= read
        missing = [self.chunks[at] for at in wanted if self.chunks[at] not in found]
        if missing:
            found |= raw_of(self.store, missing, self.memo)
        return found

    def _from_local(self, positions: list[int]) -> dict[str, bytes]:
        """The chunks at ``positions`` as :attr:`local` holds them: none once it fails to
        (gone, or holding other content), which makes every later read go to the store."""
        found: dict[str, bytes] = {}
        try:
            with open(str(self.local), "rb") as handle:
                for at in positions:
                    stop = self.starts[at + 1] if at + 1 < len(self.starts) else self.size
                    handle.seek(self.starts[at])
                    data = handle.read(stop - self.starts[at])
                    if blob_id_of(data) != self.chunks[at]:
                        self.local = None
                        break
                    found[self.chunks[at]] = data
        except OSError:
            self.local = None
        return found


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


def raw_of(store: BlobStore, ids: Iterable[str], memo: Rebuilt | None = None) -> dict[str, bytes]:
    found: dict[str, bytes] = {}
    store.read(ids, found.__setitem__, memo=memo)
    return found
