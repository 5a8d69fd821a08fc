"""A version's file listing, ``path -> Entry``, and its compact binary serialisation.

In memory a manifest is columnar (sorted paths, an array of sizes, one buffer of raw ids), so a
version of a million files costs about 150 bytes a file rather than a Python object graph;
:class:`Entry` objects are made only when a file is looked at.

Stored form, format 4 (zstd with a frame checksum, so damage is detected rather than misread)::

    b"DSMF" | u32 format | u32 count | u64 paths_length
    u32 flags (1: complete) | u32 removed_count | u64 removed_length
    paths joined by NUL (a byte no path may contain), in sorted order
    removed paths joined by NUL, in sorted order
    count x u64 size | count x 32-byte blob id | count x u32 chunk count
    then every chunk id (32 bytes each), file after file
    u32 link_count | u64 links_length | link_count x u32 position
    then "url NUL etag" of each external file, joined by NUL

A manifest without external files is written in format 3, the same without the link section,
so versions that do not use them stay readable by earlier releases.

Paths are UTF-8. A path holding bytes that are not UTF-8 (a Latin-1 name from an old zip
archive) is stored as those very bytes, in format 5: the layout of format 4, whose paths
are read with undecodable bytes kept (as :mod:`deltaset.core.names` keeps them in memory). An
earlier release refuses such a manifest as a newer format rather than misreading it; every
other manifest is written as before.

A complete stored manifest lists every file of its version; an incomplete one is the version's
change-set (files added or modified, paths removed) against the merge of its parents. Format 2
(every manifest complete, no flags and no removed paths) is still read.

An external file is one the version references by URL (an object in a bucket, a file on a
mount, an HTTP resource) instead of storing it; its blob id is
:func:`~deltaset.core.hashing.external_id` of the URL, size and etag, so a changed object is a
changed file.

A chunked file's content is the concatenation of its chunks; its blob id is still the BLAKE3 of
the whole content, so a file is recognised the same whether or not it was chunked.
"""

from __future__ import annotations

import collections
import itertools
import operator
import struct
from array import array
from bisect import bisect_left
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass

import blake3
import zstandard

from deltaset.errors import StorageError

MANIFEST_FORMAT = 4
_FORMAT_WITHOUT_LINKS = 3
BYTE_PATHS_FORMAT = 5  # written only when a path is not UTF-8
_MAGIC = b"DSMF"
_HEADER = struct.Struct("<4sIIQ")
_CHANGES = struct.Struct("<IIQ")
_LINKS = struct.Struct("<IQ")
_COMPLETE = 1
_ID = 32


@dataclass(frozen=True, slots=True)
class Entry:
    """One file of a version: its size, the id of its content, and its chunks if it has any;
    for an external file, the URL it is read from and the etag it had when it was added."""

    size: int
    blob_id: str
    chunks: tuple[str, ...] = ()
    link: str = ""
    etag: str = ""

    @property
    def stored_ids(self) -> tuple[str, ...]:
        """The ids of what storage holds for this file: its chunks, or the whole blob; nothing
        for an external file."""
        if self.link:
            return ()
        return self.chunks or (self.blob_id,)


# paths, sizes, blob ids, chunk ids by position, "url NUL etag" by position
Columns = tuple[list[str], "array[int]", bytes, dict[int, bytes], dict[int, bytes]]


def _join_ids(ids: Iterable[str]) -> bytes:
    return b"".join(bytes.fromhex(i) for i in ids)


def _split_ids(raw: bytes | memoryview) -> tuple[str, ...]:
    return tuple(bytes(raw[i : i + _ID]).hex() for i in range(0, len(raw), _ID))


class Manifest(Mapping[str, Entry]):
    """An immutable mapping of in-dataset path to :class:`Entry`, iterated in path order."""

    __slots__ = ("_chunks", "_ids", "_links", "_paths", "_sizes")

    def __init__(self, entries: Mapping[str, Entry] | Iterable[tuple[str, Entry]] = ()) -> None:
        pairs = dict(entries.items() if isinstance(entries, Mapping) else entries)
        builder = _Builder()
        for path in sorted(pairs):
            builder.add(path, pairs[path])
        self._paths, self._sizes, self._ids, self._chunks, self._links = builder.columns()

    @classmethod
    def from_sorted(cls, items: Iterable[tuple[str, Entry]]) -> Manifest:
        """A manifest from a stream already in strictly increasing path order (no dict built)."""
        builder = _Builder()
        for path, entry in items:
            if builder.paths and path <= builder.paths[-1]:
                raise ValueError(f"paths out of order at {path!r}")
            builder.add(path, entry)
        return cls._of(builder.columns())

    @classmethod
    def from_sorted_files(cls, files: Iterable[tuple[str, int, str, str, str]]) -> Manifest:
        """:meth:`from_sorted` of files without chunks given as (path, size, blob id, link,
        etag), with no :class:`Entry` made for each."""
        builder = _Builder()
        paths, sizes, ids, links = builder.paths, builder.sizes, builder.ids, builder.links
        for path, size, blob_id, link, etag in files:
            if paths and path <= paths[-1]:
                raise ValueError(f"paths out of order at {path!r}")
            if link:
                links[len(paths)] = f"{link}\0{etag}".encode()
            paths.append(path)
            sizes.append(size)
            ids += bytes.fromhex(blob_id)
        return cls._of(builder.columns())

    @classmethod
    def _of(cls, columns: Columns) -> Manifest:
        made = cls.__new__(cls)
        made._paths, made._sizes, made._ids, made._chunks, made._links = columns
        return made

    # -- mapping ----------------------------------------------------------------------------

    def position(self, path: str) -> int | None:
        """Where ``path`` sits in path order, or None when the manifest lacks it."""
        at = bisect_left(self._paths, path)
        return at if at < len(self._paths) and self._paths[at] == path else None

    def positions_of(self, paths: Iterable[str]) -> Iterator[int | None]:
        """:meth:`position` of each of ``paths``, given in increasing order: each search
        starts where the last one ended."""
        if isinstance(paths, Manifest) and paths._paths is self._paths:
            # The same paths (a draft with no parents is its own view): no search at all.
            return iter(range(len(self._paths)))
        return self._positions_of(paths)

    def _positions_of(self, paths: Iterable[str]) -> Iterator[int | None]:
        mine, at = self._paths, 0
        count = len(mine)
        for path in paths:
            at = bisect_left(mine, path, at)
            yield at if at < count and mine[at] == path else None

    def span(self, prefix: str) -> range:
        """The positions of the paths starting with ``prefix`` (contiguous in path order)."""
        if not prefix:
            return range(len(self._paths))
        past = prefix[:-1] + chr(ord(prefix[-1]) + 1)  # the first string above every such path
        return range(bisect_left(self._paths, prefix), bisect_left(self._paths, past))

    def path_at(self, at: int) -> str:
        return self._paths[at]

    def __getitem__(self, path: str) -> Entry:
        at = self.position(path)
        if at is None:
            raise KeyError(path)
        return self.entry_at(at)

    def get(self, path: str, default: Entry | None = None) -> Entry | None:  # type: ignore[override]
        # Mapping.get goes through a KeyError for every path not held: slow when most are new.
        at = self.position(path)
        return default if at is None else self.entry_at(at)

    def __contains__(self, path: object) -> bool:
        return isinstance(path, str) and self.position(path) is not None

    def __iter__(self) -> Iterator[str]:
        return iter(self._paths)

    def __len__(self) -> int:
        return len(self._paths)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Manifest):
            return (self._paths, self._sizes, self._ids, self._chunks, self._links) == (
                other._paths,
                other._sizes,
                other._ids,
                other._chunks,
                other._links,
            )
        return super().__eq__(other)

    __hash__ = None  # type: ignore[assignment]

    def entry_at(self, at: int) -> Entry:
        chunks = self._chunks.get(at)
        link = self._links.get(at)
        url, etag = link.decode().split("\0") if link else ("", "")
        return Entry(
            self._sizes[at],
            self._ids[at * _ID : (at + 1) * _ID].hex(),
            _split_ids(chunks) if chunks else (),
            url,
            etag,
        )

    def size_at(self, at: int) -> int:
        return self._sizes[at]

    def size_of(self, positions: range) -> int:
        """The bytes of the files at ``positions`` (a :meth:`span`), summed without an entry."""
        return sum(self._sizes[positions.start : positions.stop])

    def columns_of(self, positions: range) -> tuple[list[str], array[int], bytes]:
        """The paths, sizes and raw content ids (32 bytes each, joined) of the files at
        ``positions`` (a :meth:`span`), as slices: for loops over every file of a version
        that take a run of files at a time."""
        start, stop = positions.start, positions.stop
        return self._paths[start:stop], self._sizes[start:stop], self._ids[start * _ID : stop * _ID]

    def positions_from(self, size: int) -> list[int]:
        """Where the stored (not external) files of at least ``size`` bytes are."""
        links = self._links
        return [at for at, found in enumerate(self._sizes) if found >= size and at not in links]

    def has_chunks_at(self, at: int) -> bool:
        return at in self._chunks

    def is_external_at(self, at: int) -> bool:
        return at in self._links

    @property
    def external_count(self) -> int:
        return len(self._links)

    def raw_id_at(self, at: int) -> bytes:
        """The content id of the file at ``at``, as 32 raw bytes (cheap to compare)."""
        return self._ids[at * _ID : (at + 1) * _ID]

    def sized_raw_ids(
        self, positions: Iterable[int] | None = None
    ) -> Iterator[tuple[int, int, bytes]]:
        """The position, size and raw content id of the files at ``positions`` (all, if
        None), with no method call per file: for loops over every file of a version."""
        sizes, ids = self._sizes, self._ids
        for at in range(len(self._paths)) if positions is None else positions:
            yield at, sizes[at], ids[at * _ID : (at + 1) * _ID]

    def digest(self, folder: str = "") -> str:
        """A digest of the paths under ``folder`` (every path when empty) and their contents:
        equal digests, equal files there. Cheap at a million files (no object per file)."""
        span = self.span(f"{folder}/" if folder else "")
        hasher = blake3.blake3(str(len(span)).encode())
        paths = "\0".join(self._paths[span.start : span.stop])
        hasher.update(paths.encode("utf-8", "surrogateescape"))
        hasher.update(memoryview(self._ids)[span.start * _ID : span.stop * _ID])
        return hasher.hexdigest()

    def ids_by_path(self) -> dict[str, str]:
        """Every path with its blob id (hex), for code that looks up most of them."""
        ids = self._ids
        hexes = [ids[i : i + _ID].hex() for i in range(0, len(ids), _ID)]
        return dict(zip(self._paths, hexes, strict=True))

    def path_sizes(self) -> Iterator[tuple[str, int]]:
        """Every path with its size, in path order, with no :class:`Entry` made."""
        return zip(self._paths, self._sizes, strict=True)

    def items(self) -> Iterator[tuple[str, Entry]]:  # type: ignore[override]
        return ((path, self.entry_at(i)) for i, path in enumerate(self._paths))

    def values(self) -> Iterator[Entry]:  # type: ignore[override]
        return (self.entry_at(i) for i in range(len(self._paths)))

    # -- summaries --------------------------------------------------------------------------

    @property
    def total_size(self) -> int:
        return sum(self._sizes)

    @property
    def chunked_count(self) -> int:
        return len(self._chunks)

    def chunked(self) -> list[Entry]:
        """The entries of the files stored as chunks, in path order (no other entry built)."""
        return [self.entry_at(at) for at in sorted(self._chunks)]

    def repeats_a_blob(self) -> bool:
        """Whether two files hold the same content (one set of raw ids, no sort)."""
        ids = self._ids
        return len({ids[i : i + _ID] for i in range(0, len(ids), _ID)}) < len(self._paths)

    def repeated_ids(self) -> set[bytes]:
        """The raw ids of the contents two files or more hold."""
        if not self.repeats_a_blob():
            return set()
        ids = self._ids
        counts = collections.Counter(ids[i : i + _ID] for i in range(0, len(ids), _ID))
        return {raw for raw, count in counts.items() if count > 1}

    def blob_ids(self) -> set[str]:
        return {self._ids[i : i + _ID].hex() for i in range(0, len(self._ids), _ID)}

    def stored_ids(self) -> set[str]:
        """Every id storage must hold for this manifest to be readable."""
        chunked, links = set(self._chunks), self._links
        found = {
            self.raw_id_at(i).hex() for i in range(len(self)) if i not in chunked and i not in links
        }
        for raw in self._chunks.values():
            found.update(_split_ids(raw))
        return found

    # -- derived manifests ------------------------------------------------------------------

    def changed(self, puts: Mapping[str, Entry], removes: Iterable[str] = ()) -> Manifest:
        """This manifest with ``removes`` dropped, then ``puts`` written over it.

        Costs the size of the change (plus copying the columns), not a per-file rebuild.
        """
        if not self and isinstance(puts, Manifest):
            return puts  # nothing to remove from, nothing to merge with
        cut = sorted(at for path in {*removes, *puts} if (at := self.position(path)) is not None)
        builder, start = _Builder(), 0
        for at, path in enumerate(puts if isinstance(puts, Manifest) else sorted(puts)):
            stop = bisect_left(self._paths, path, start)
            builder.copy(self, start, stop, cut)
            if isinstance(puts, Manifest):
                builder.copy(puts, at, at + 1, [])  # no Entry made and re-encoded
            else:
                builder.add(path, puts[path])
            start = stop
        builder.copy(self, start, len(self), cut)
        return Manifest._of(builder.columns())

    def changes_since(self, base: Manifest) -> tuple[Manifest, tuple[str, ...]]:
        """The files of this manifest that ``base`` lacks or holds with other content, and the
        paths of ``base`` this manifest lacks: what turns ``base`` into this one."""
        if not base:
            return self, ()
        builder, removed = _Builder(), []
        theirs, found = base._paths, 0  # one walk over both path lists, both sorted
        for at, path in enumerate(self._paths):
            while found < len(theirs) and theirs[found] < path:
                removed.append(theirs[found])
                found += 1
            if found < len(theirs) and theirs[found] == path:
                if base.raw_id_at(found) != self.raw_id_at(at):
                    builder.copy(self, at, at + 1, [])
                found += 1
            else:
                builder.copy(self, at, at + 1, [])
        removed += theirs[found:]
        return Manifest._of(builder.columns()), tuple(removed)

    def sliced(self, start: int, stop: int) -> Manifest:
        """The files from position ``start`` to ``stop`` in path order."""
        builder = _Builder()
        builder.copy(self, start, stop, [])
        return Manifest._of(builder.columns())

    def picked(self, positions: Iterable[int]) -> Manifest:
        """The files at ``positions`` (in increasing order)."""
        builder = _Builder()
        start = stop = -1
        for at in positions:  # copied run by run: often all, or most, of them are neighbours
            if at != stop:
                builder.copy(self, start, stop, [])
                start = at
            stop = at + 1
        builder.copy(self, start, stop, [])
        return Manifest._of(builder.columns())

    def filtered(self, keep: Callable[[str], bool]) -> Manifest:
        builder = _Builder()
        for at, path in enumerate(self._paths):
            if keep(path):
                builder.copy(self, at, at + 1, [])
        return Manifest._of(builder.columns())

    def with_chunk_lists(self, known: Mapping[str, tuple[str, ...]]) -> Manifest:
        """This manifest with the chunks of files whose content id ``known`` names."""
        raw_known = {bytes.fromhex(b): _join_ids(c) for b, c in known.items() if c}
        chunks = dict(self._chunks)
        for at in range(len(self)):
            found = raw_known.get(self.raw_id_at(at))
            if found is not None and at not in chunks:
                chunks[at] = found
        return Manifest._of((self._paths, self._sizes, self._ids, chunks, self._links))

    # -- stored form ------------------------------------------------------------------------

    def to_bytes(self) -> bytes:
        return StoredManifest(self).to_bytes()

    @classmethod
    def from_bytes(cls, data: bytes) -> Manifest:
        """A complete manifest from its stored form."""
        stored = StoredManifest.from_bytes(data)
        if not stored.complete:
            raise StorageError("A stored change-set was read where a whole manifest was needed.")
        return stored.files


@dataclass(frozen=True, slots=True)
class StoredManifest:
    """What storage keeps of a version's files: all of them (``complete``), or its change-set
    against the merge of its parents (``files`` added or modified, ``removed`` paths)."""

    files: Manifest
    removed: tuple[str, ...] = ()
    complete: bool = True

    def resolve(self, parents: Manifest) -> Manifest:
        """The version's whole manifest, given the merge of its parents' manifests."""
        return self.files if self.complete else parents.changed(self.files, self.removed)

    def to_bytes(self) -> bytes:
        files = self.files
        joined, names_only_text = _joined(files._paths)
        removed, removed_only_text = _joined(sorted(self.removed))
        counts = array("I", bytes(4 * len(files)))
        for at, raw in files._chunks.items():
            counts[at] = len(raw) // _ID
        version = _FORMAT_WITHOUT_LINKS if not files._links else MANIFEST_FORMAT
        if not (names_only_text and removed_only_text):
            version = BYTE_PATHS_FORMAT
        parts = [
            _HEADER.pack(_MAGIC, version, len(files), len(joined)),
            _CHANGES.pack(_COMPLETE if self.complete else 0, len(self.removed), len(removed)),
            joined,
            removed,
            files._sizes.tobytes(),
            bytes(files._ids),
            counts.tobytes(),
            b"".join(files._chunks[i] for i in sorted(files._chunks)),
        ]
        if version != _FORMAT_WITHOUT_LINKS:
            order = sorted(files._links)
            links = b"\0".join(files._links[i] for i in order)
            parts += [_LINKS.pack(len(order), len(links)), array("I", order).tobytes(), links]
        compressor = zstandard.ZstdCompressor(level=3, write_checksum=True)
        return compressor.compress(b"".join(parts))

    @classmethod
    def from_bytes(cls, data: bytes) -> StoredManifest:
        try:
            stream = zstandard.ZstdDecompressor().decompressobj()
            raw = stream.decompress(data)
            if not stream.eof:  # a cut frame decodes to a prefix, its checksum never checked
                raise ValueError("truncated")
            return _decode(memoryview(raw))
        except (zstandard.ZstdError, ValueError, struct.error, MemoryError, IndexError) as exc:
            # MemoryError: a damaged frame header can claim an impossible content size.
            raise StorageError("A stored manifest is damaged and cannot be read.") from exc


class _Builder:
    """Columns being assembled in path order, from single entries or runs of a manifest."""

    def __init__(self) -> None:
        self.paths: list[str] = []
        self.sizes = array("Q")
        self.ids = bytearray()
        self.chunks: dict[int, bytes] = {}
        self.links: dict[int, bytes] = {}

    def add(self, path: str, entry: Entry) -> None:
        if entry.chunks:
            self.chunks[len(self.paths)] = _join_ids(entry.chunks)
        if entry.link:
            self.links[len(self.paths)] = f"{entry.link}\0{entry.etag}".encode()
        self.paths.append(path)
        self.sizes.append(entry.size)
        self.ids += bytes.fromhex(entry.blob_id)

    def copy(self, source: Manifest, start: int, stop: int, skip: list[int]) -> None:
        """Append ``source``'s files ``start:stop``, leaving out the positions in ``skip``."""
        at = start
        for gap in skip[bisect_left(skip, start) : bisect_left(skip, stop)]:
            self._copy_run(source, at, gap)
            at = gap + 1
        self._copy_run(source, at, stop)

    def _copy_run(self, source: Manifest, start: int, stop: int) -> None:
        if start >= stop:
            return
        shift = len(self.paths) - start
        _copy_sparse(source._chunks, self.chunks, start, stop, shift)
        _copy_sparse(source._links, self.links, start, stop, shift)
        self.paths += source._paths[start:stop]
        self.sizes += source._sizes[start:stop]
        self.ids += source._ids[start * _ID : stop * _ID]

    def columns(self) -> Columns:
        return self.paths, self.sizes, bytes(self.ids), self.chunks, self.links


def _copy_sparse(
    source: dict[int, bytes], target: dict[int, bytes], start: int, stop: int, shift: int
) -> None:
    """Copy the values of positions ``start:stop`` of a sparse column, moved by ``shift``."""
    if stop - start < len(source):  # whichever is shorter to walk
        for at in range(start, stop):
            if (raw := source.get(at)) is not None:
                target[at + shift] = raw
    else:
        for at, raw in source.items():
            if start <= at < stop:
                target[at + shift] = raw


def _decode(raw: memoryview) -> StoredManifest:
    magic, version, count, paths_length = _HEADER.unpack_from(raw)
    if magic != _MAGIC:
        raise ValueError("not a manifest")
    if version not in (2, _FORMAT_WITHOUT_LINKS, MANIFEST_FORMAT, BYTE_PATHS_FORMAT):
        raise StorageError(
            f"A stored manifest has format {version}, which this deltaset does not "
            "understand; upgrade deltaset."
        )
    at = _HEADER.size
    flags, removed_count, removed_length = _COMPLETE, 0, 0
    if version >= _FORMAT_WITHOUT_LINKS:
        flags, removed_count, removed_length = _CHANGES.unpack_from(raw, at)
        at += _CHANGES.size
    errors = "surrogateescape" if version == BYTE_PATHS_FORMAT else "strict"
    paths = _split_paths(raw, at, paths_length, count, errors)
    at += paths_length
    removed = _split_paths(raw, at, removed_length, removed_count, errors)
    at += removed_length
    sizes, at = _array("Q", raw, at, count)
    ids = bytes(raw[at : at + count * _ID])
    at += count * _ID
    chunk_counts, at = _array("I", raw, at, count)
    end = at + _ID * sum(chunk_counts)
    chunk_ids = raw[at:end]
    if len(ids) != count * _ID or len(chunk_ids) != end - at:
        raise ValueError("truncated manifest")
    chunks, next_chunk = {}, 0
    for i, n in enumerate(chunk_counts):
        if n:
            chunks[i] = bytes(chunk_ids[next_chunk * _ID : (next_chunk + n) * _ID])
            next_chunk += n
    with_links = version >= MANIFEST_FORMAT
    links = _decode_links(raw, end, count) if with_links else {}
    if not with_links and end != len(raw):
        raise ValueError("trailing bytes in manifest")
    files = Manifest._of((paths, sizes, ids, chunks, links))
    return StoredManifest(files, tuple(removed), bool(flags & _COMPLETE))


def _decode_links(raw: memoryview, at: int, count: int) -> dict[int, bytes]:
    link_count, length = _LINKS.unpack_from(raw, at)
    positions, at = _array("I", raw, at + _LINKS.size, link_count)
    if at + length != len(raw) or any(p >= count for p in positions):
        raise ValueError("truncated manifest")
    if link_count == 0 and length == 0:  # format 5 without external files
        return {}
    texts = bytes(raw[at:]).split(b"\0")
    if len(texts) != 2 * link_count or (link_count == 0 and length):
        raise ValueError("damaged link section")
    return {p: texts[2 * i] + b"\0" + texts[2 * i + 1] for i, p in enumerate(positions)}


def _joined(paths: list[str]) -> tuple[bytes, bool]:
    """``paths`` joined by NUL as stored, and whether every one of them is UTF-8 text."""
    text = "\0".join(paths)
    try:
        return text.encode(), True
    except UnicodeEncodeError:
        return text.encode("utf-8", "surrogateescape"), False


def _split_paths(raw: memoryview, at: int, length: int, count: int, errors: str) -> list[str]:
    """``count`` NUL-separated paths in strictly increasing order, or a ValueError."""
    if at + length > len(raw):
        raise ValueError("truncated manifest")
    paths = bytes(raw[at : at + length]).decode("utf-8", errors).split("\0") if count else []
    if len(paths) != count:
        raise ValueError("truncated manifest")
    if not all(map(operator.lt, paths, itertools.islice(paths, 1, None))):
        raise ValueError("manifest paths out of order")
    return paths


def _array(code: str, raw: memoryview, at: int, count: int) -> tuple[array[int], int]:
    values = array(code)
    end = at + count * values.itemsize
    if end > len(raw):
        raise ValueError("truncated manifest")
    values.frombytes(raw[at:end])
    return values, end
