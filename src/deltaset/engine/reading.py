"""Reading one file of a final version in place: only the byte ranges read are fetched.

A file whose whole content is in the blob cache is read from there. A chunked (large) file is
read chunk by chunk: the chunks covering a read are fetched from their packs by ranged reads,
each verified against its id, and kept in the blob cache under that id (a chunk id is the
BLAKE3 of the chunk's bytes, as a blob id is of a file's), so reading them again downloads
nothing. A small file, packed whole, and an external file are brought whole into the cache
first, as a pull brings them. A cache file is served only once its stat is the one recorded
when deltaset placed it (else it is checked, and fetched again if damaged), as a pull does.
"""

from __future__ import annotations

import codecs
import io
import os
import threading
from bisect import bisect_right
from collections import OrderedDict
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from itertools import accumulate
from typing import IO, TYPE_CHECKING, Any, Protocol

from deltaset.cache import locking
from deltaset.cache.blob_writes import BlobWrites
from deltaset.cache.blobs import descriptor_holds
from deltaset.cache.trees import stat_of
from deltaset.core import paths
from deltaset.core.manifest import Entry, Manifest
from deltaset.core.records import VersionRecord
from deltaset.engine.browse import indexed_entry
from deltaset.engine.context import Context, transfer_workers
from deltaset.engine.pull import ensure_cached
from deltaset.engine.views import final_manifest, require_final
from deltaset.errors import IntegrityError, InvalidInputError, NotFoundError
from deltaset.faults import failpoint
from deltaset.objects.store import BlobStore
from deltaset.packs.ranges import MAX_BLOCK
from deltaset.storage.errors import map_os_errors

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer

CHUNKS_KEPT = 8  # chunks an open file keeps in memory: small sequential reads reuse them
READ_AHEAD = MAX_BLOCK  # the stretch of a pack fetched at once for small files read cold
BINARY_MODES = ("rb", "br")
TEXT_MODES = ("r", "rt", "tr")


class ByteSource(Protocol):
    """Where the bytes of one file come from."""

    def read(self, offset: int, length: int) -> bytes:
        """Up to ``length`` bytes from ``offset``; fewer only at the end of the file."""
        ...

    def close(self) -> None: ...


def file_entry(
    ctx: Context, record: VersionRecord, path: str, manifest: Manifest | None = None
) -> tuple[str, Entry]:
    """The normalised ``path`` and its entry in the final version ``record``."""
    require_final(record, "read its files")
    clean = paths.normalize(path)
    if manifest is None:  # a small file's entry is in the kept folder index, if there is one
        kept = indexed_entry(ctx, record, clean)
        if kept is not None:
            return clean, kept
    entry = (manifest if manifest is not None else final_manifest(ctx, record)).get(clean)
    if entry is None:
        raise NotFoundError(
            f"The dataset version {record.id} ({record.project}/{record.name} "
            f"{record.version}) has no file {clean}."
        )
    return clean, entry


def readable_manifest(ctx: Context, record: VersionRecord) -> Manifest:
    """The manifest of the final version ``record``, whose files can be read; refuses a draft."""
    require_final(record, "read its files")
    return final_manifest(ctx, record)


def open_file(
    ctx: Context,
    record: VersionRecord,
    path: str,
    mode: str = "rb",
    encoding: str | None = None,
    errors: str | None = None,
    newline: str | None = None,
    manifest: Manifest | None = None,
) -> IO[Any]:
    """A read-only, seekable file over ``path`` of ``record``: bytes for ``"rb"``, text for
    ``"r"`` (decoded with ``encoding``, ``errors`` and ``newline`` as the built-in open does);
    ``manifest`` is the version's, when the caller keeps it."""
    if mode not in BINARY_MODES + TEXT_MODES:
        raise InvalidInputError(
            f"Files of a dataset version open only for reading: mode 'rb' (bytes) or 'r' "
            f"(text), not {mode!r}."
        )
    if mode in BINARY_MODES and (encoding or errors or newline is not None):
        raise InvalidInputError("encoding, errors and newline apply to text mode ('r') only.")
    if encoding:
        _check_encoding(encoding)
    clean, entry = file_entry(ctx, record, path, manifest)
    reader = VersionFileReader(open_entry(ctx, record, clean, entry))
    if mode in BINARY_MODES:
        return reader
    try:
        return io.TextIOWrapper(reader, encoding=encoding, errors=errors, newline=newline)
    except BaseException:
        reader.close()
        raise


def _check_encoding(encoding: str) -> None:
    try:
        codecs.lookup(encoding)
    except LookupError as exc:
        raise InvalidInputError(f"Unknown text encoding {encoding!r}.") from exc


def open_entry(ctx: Context, record: VersionRecord, path: str, entry: Entry) -> VersionFile:
    """An unbuffered file over ``entry`` (the file at ``path`` of the final ``record``)."""
    source: ByteSource | None = _cached_blob(ctx, entry)
    if source is None and entry.chunks and not entry.link:
        source = ChunkedFile(ctx, ctx.blobs(record.storage), entry)
    return VersionFile(source or _fetched_blob(ctx, record, entry), path, entry.size)


def read_range(
    ctx: Context, record: VersionRecord, path: str, entry: Entry, start: int, end: int
) -> bytes:
    """Bytes ``start:end`` of the file at ``path`` (clamped to its size, as a slice is)."""
    start, end, _ = slice(start, end).indices(entry.size)
    with open_entry(ctx, record, path, entry) as raw:
        raw.seek(start)
        return raw.read(max(0, end - start))


def _cached_blob(ctx: Context, entry: Entry) -> CachedBlob | None:
    """The file's whole content if the blob cache holds it intact, else None."""
    with map_os_errors("read the blob cache"):
        fd = ctx.cache.open_intact(entry)
    return None if fd is None else CachedBlob(fd, entry)


def _fetched_blob(ctx: Context, record: VersionRecord, entry: Entry) -> CachedBlob:
    """A small or external file, fetched whole into the cache and opened there, with the
    small files of the version stored beside it (see :func:`_neighbours`)."""
    cache = ctx.cache
    wanted = {entry.blob_id: entry}
    if not entry.link and _reading_ahead.get():
        wanted |= _neighbours(ctx, record, entry)
    # Held until the file is open, so an eviction cannot remove it in between.
    with locking.shared(cache.global_lock()):
        ensure_cached(ctx, record.storage, wanted, None)
        found = _cached_blob(ctx, entry)
    if found is None:
        raise IntegrityError(
            f"The cached file of {entry.blob_id} changed as it was fetched; read it again."
        )
    return found


_reading_ahead: ContextVar[bool] = ContextVar("reading_ahead", default=True)


@contextmanager
def without_read_ahead() -> Iterator[None]:
    """Fetch only the files read, not their stored neighbours: for a look at one file (a
    preview), which should read about the bytes it shows."""
    token = _reading_ahead.set(False)
    try:
        yield
    finally:
        _reading_ahead.reset(token)


def _neighbours(ctx: Context, record: VersionRecord, entry: Entry) -> dict[str, Entry]:
    """The small files of ``record`` stored in the same stretch of the same pack as ``entry``
    (blob id -> entry): fetched with it in one ranged read, so a first pass over many small
    files makes one request per :data:`READ_AHEAD` bytes of packs, not one per file."""
    key = (record.storage, record.id)
    with _segments_lock:
        segments = _segments.get(key)
        if segments is None:
            segments = _Segments(ctx.blobs(record.storage), final_manifest(ctx, record))
            _segments.clear()  # one version's at a time: it grows with the manifest
            _segments[key] = segments
    return segments.around(entry.blob_id)


class _Segments:
    """The small files of one version, grouped by the aligned stretch of their pack that holds
    them. Built once per version: a repack since then only makes the grouping less apt, as
    every fetch looks each blob up again."""

    def __init__(self, store: BlobStore, manifest: Manifest) -> None:
        self._of: dict[str, int] = {}
        self._members: list[dict[str, Entry]] = []
        numbers: dict[tuple[str, int], int] = {}
        for entry in manifest.values():
            if entry.chunks or entry.link or entry.blob_id in self._of:
                continue
            found = store.index.get(entry.blob_id)
            if found is None:
                continue  # not stored here (yet): the fetch says so
            place = (found.pack_id, found.entry.offset // READ_AHEAD)
            number = numbers.setdefault(place, len(self._members))
            if number == len(self._members):
                self._members.append({})
            self._members[number][entry.blob_id] = entry
            self._of[entry.blob_id] = number

    def around(self, blob_id: str) -> dict[str, Entry]:
        number = self._of.get(blob_id)
        return {} if number is None else self._members[number]


_segments: dict[tuple[str, str], _Segments] = {}
_segments_lock = threading.Lock()


class CachedBlob:
    """A whole file in the blob cache, read through one descriptor (which outlives an
    eviction of the cache file), opened intact (see :meth:`BlobCache.open_intact`).

    A file stays open for as long as its reader likes: each read is followed by one fstat,
    and bytes read once the file's stat moved (a write, or another folder linking the blob)
    are served only if the file still holds the blob's bytes, hashed whole again."""

    def __init__(self, fd: int, entry: Entry) -> None:
        self._fd, self._entry = fd, entry
        self._opened = stat_of(os.fstat(fd))

    def read(self, offset: int, length: int) -> bytes:
        with map_os_errors("read the blob cache"):
            while True:
                data = os.pread(self._fd, length, offset)
                now = stat_of(os.fstat(self._fd))
                if now == self._opened:
                    return data
                self._check_whole()
                self._opened = now  # and read again: the bytes read may predate the check

    def _check_whole(self) -> None:
        entry = self._entry
        if entry.link or not descriptor_holds(self._fd, entry.blob_id, entry.size):
            raise IntegrityError(
                f"The cached file of {entry.blob_id} changed as it was read; read it again."
            )

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


class ChunkedFile:
    """A chunked file read by the chunks each read covers, fetched only when the blob cache
    lacks them."""

    def __init__(self, ctx: Context, store: BlobStore, entry: Entry) -> None:
        self._ctx, self._store, self._chunks = ctx, store, entry.chunks
        if store.missing(entry.chunks):
            store.refresh()  # uploaded by another process since this one read the indexes
        # starts[i] is where chunk i begins; the last value is the file's size.
        self._sizes = {c: store.raw_size(c) for c in entry.chunks}
        self._starts = list(accumulate((self._sizes[c] for c in entry.chunks), initial=0))
        if self._starts[-1] != entry.size:
            raise IntegrityError(
                f"The stored chunks of {entry.blob_id} hold {self._starts[-1]} bytes, "
                f"not its {entry.size}."
            )
        self._kept: OrderedDict[str, bytes] = OrderedDict()
        self._writes: BlobWrites | None = None  # the chunks cached, accounted for
        self.fetched = 0  # chunks read from storage by this file

    def read(self, offset: int, length: int) -> bytes:
        end = min(offset + length, self._starts[-1])
        if offset >= end:
            return b""
        first = bisect_right(self._starts, offset) - 1
        last = bisect_right(self._starts, end - 1) - 1
        positions = range(first, last + 1)
        pieces = []
        for at, data in zip(positions, self._data(positions), strict=True):
            start = self._starts[at]
            pieces.append(
                memoryview(data)[max(offset, start) - start : min(end, start + len(data)) - start]
            )
        return b"".join(pieces)

    def _data(self, positions: Iterable[int]) -> list[bytes]:
        """The bytes of the chunks at ``positions``: from memory, the cache, or storage."""
        ids = [self._chunks[at] for at in positions]
        found = {c: data for c in ids if (data := self._known(c)) is not None}
        lacking = [c for c in dict.fromkeys(ids) if c not in found]
        if lacking:
            found |= self._fetch(lacking)
        for chunk_id in ids:
            self._keep(chunk_id, found[chunk_id])
        return [found[c] for c in ids]

    def _known(self, chunk_id: str) -> bytes | None:
        kept = self._kept.get(chunk_id)
        if kept is not None:
            return kept
        with map_os_errors("read the blob cache"):
            fd = self._ctx.cache.open_intact(Entry(self._sizes[chunk_id], chunk_id))
            if fd is None:
                return None
            try:
                return os.pread(fd, self._sizes[chunk_id], 0)
            finally:
                os.close(fd)

    def _fetch(self, chunk_ids: list[str]) -> dict[str, bytes]:
        """Read chunks from storage (verified against their ids) and keep them in the cache."""
        found: dict[str, bytes] = {}

        def sink(chunk_id: str, data: bytes) -> None:
            found[chunk_id] = data

        workers = transfer_workers(None)
        self._store.read(chunk_ids, sink, workers)
        cache = self._ctx.cache
        if self._writes is None:  # one log for all the file's reads: one a read cost 5%
            self._writes = cache.writes()
        self._writes.expect(found)
        for chunk_id, data in found.items():
            self._writes.written(chunk_id, len(data), cache.store(chunk_id, data))
            failpoint("read.chunk_cached")
        self._writes.flush()  # the rows, with the stat each chunk had as written
        self.fetched += len(found)
        return found

    def _keep(self, chunk_id: str, data: bytes) -> None:
        self._kept[chunk_id] = data
        self._kept.move_to_end(chunk_id)
        while len(self._kept) > CHUNKS_KEPT:
            self._kept.popitem(last=False)

    def close(self) -> None:
        self._kept.clear()
        if self._writes is not None:
            self._writes.close()
            self._writes = None
        if self.fetched:
            self._ctx.cache.evict()  # within the cache's size limit, as after a pull


class VersionFile(io.RawIOBase):
    """A read-only, seekable, unbuffered file over one file of a version."""

    def __init__(self, source: ByteSource, name: str, size: int) -> None:
        super().__init__()
        self._source, self._name, self._size, self._position = source, name, size, 0

    @property
    def name(self) -> str:
        return self._name

    @property
    def size(self) -> int:
        return self._size

    @property
    def mode(self) -> str:
        return "rb"

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        self._check_open()
        return self._position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        self._check_open()
        bases = {io.SEEK_SET: 0, io.SEEK_CUR: self._position, io.SEEK_END: self._size}
        if whence not in bases:
            raise ValueError(f"invalid whence ({whence}, should be 0, 1 or 2)")
        position = bases[whence] + offset
        if position < 0:
            raise ValueError(f"negative seek position {position}")
        self._position = position
        return position

    def readinto(self, buffer: WriteableBuffer) -> int:
        self._check_open()
        target = memoryview(buffer).cast("B")
        data = self._source.read(self._position, len(target))
        target[: len(data)] = data
        self._position += len(data)
        return len(data)

    def readall(self) -> bytes:
        self._check_open()
        data = self._source.read(self._position, max(0, self._size - self._position))
        self._position += len(data)
        return data

    def close(self) -> None:
        if not self.closed:
            self._source.close()
        super().close()

    def _check_open(self) -> None:
        if self.closed:
            raise ValueError("I/O operation on closed file.")


class VersionFileReader(io.BufferedReader):
    """A buffered :class:`VersionFile` that tells its size, as fsspec's files do."""

    def __init__(self, raw: VersionFile) -> None:
        super().__init__(raw)
        self._version_file = raw

    @property
    def size(self) -> int:
        return self._version_file.size
