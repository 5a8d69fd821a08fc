"""A folder of a final version as one archive (tar or zip), streamed: produced piece by piece
as it is sent, each file read in place chunk by chunk (see :mod:`deltaset.engine.reading`), so
neither the folder nor the archive is ever held in memory or written to disk."""

from __future__ import annotations

import tarfile
import time
import zipfile
from collections.abc import Iterator
from typing import IO, Literal

from deltaset.core import paths
from deltaset.core.manifest import Entry
from deltaset.core.records import VersionRecord
from deltaset.engine import pull, reading
from deltaset.engine.context import Context
from deltaset.engine.views import final_manifest, require_final
from deltaset.errors import InvalidInputError, NotFoundError

ArchiveFormat = Literal["tar", "zip"]
READ_CHUNK = 1 << 20
# Small files are fetched into the cache this many (or bytes) at a time ahead of the stream:
# one ranged read per pack rather than one request per file.
PREFETCH_FILES = 1000
PREFETCH_BYTES = 64 << 20
CONTENT_TYPES = {"tar": "application/x-tar", "zip": "application/zip"}


def folder_files(ctx: Context, record: VersionRecord, folder: str) -> Iterator[tuple[str, Entry]]:
    """The files under ``folder`` (``""``: the whole version), in path order."""
    require_final(record, "download its files")
    clean = paths.normalize_folder(folder)
    manifest = final_manifest(ctx, record)
    span = manifest.span(clean + "/" if clean else "")
    if not span and clean:
        raise NotFoundError(
            f"The dataset version {record.id} ({record.project}/{record.name} "
            f"{record.version}) has no folder {clean}."
        )
    return ((manifest.path_at(at), manifest.entry_at(at)) for at in span)


def stream_archive(
    ctx: Context, record: VersionRecord, folder: str = "", archive: ArchiveFormat = "tar"
) -> Iterator[bytes]:
    """The archive of ``folder``'s files (paths relative to the folder), piece by piece."""
    if archive not in CONTENT_TYPES:
        raise InvalidInputError(f"A folder downloads as 'tar' or 'zip', not {archive!r}.")
    clean = paths.normalize_folder(folder)
    files = folder_files(ctx, record, clean)  # checked now, not on the first piece
    strip = len(clean) + 1 if clean else 0
    named = ((path[strip:], path, entry) for path, entry in files)
    ahead = _prefetched(ctx, record, named)
    return _tar(ctx, record, ahead) if archive == "tar" else _zip(ctx, record, ahead)


def write_archive(
    ctx: Context,
    record: VersionRecord,
    target: IO[bytes],
    folder: str = "",
    archive: ArchiveFormat = "tar",
) -> int:
    """Write the archive of ``folder`` to ``target``; returns the bytes written."""
    written = 0
    for piece in stream_archive(ctx, record, folder, archive):
        target.write(piece)
        written += len(piece)
    return written


def _prefetched(
    ctx: Context, record: VersionRecord, files: Iterator[tuple[str, str, Entry]]
) -> Iterator[tuple[str, str, Entry]]:
    """``files``, the small ones of each batch fetched into the cache together beforehand
    (a chunked file is read by its chunks as it streams)."""
    batch: list[tuple[str, str, Entry]] = []
    size = 0
    for item in files:
        batch.append(item)
        size += item[2].size
        if len(batch) >= PREFETCH_FILES or size >= PREFETCH_BYTES:
            yield from _fetched(ctx, record, batch)
            batch, size = [], 0
    yield from _fetched(ctx, record, batch)


def _fetched(
    ctx: Context, record: VersionRecord, batch: list[tuple[str, str, Entry]]
) -> Iterator[tuple[str, str, Entry]]:
    whole = {e.blob_id: e for _, _, e in batch if not e.chunks or e.link}
    if whole:
        pull.ensure_cached(ctx, record.storage, whole, None)
    yield from batch
    if whole:
        ctx.cache.evict()  # within the cache's size limit, as after a pull


def _content(ctx: Context, record: VersionRecord, path: str, entry: Entry) -> Iterator[bytes]:
    with reading.open_entry(ctx, record, path, entry) as raw:
        while data := raw.read(READ_CHUNK):
            yield data


def _tar(
    ctx: Context, record: VersionRecord, files: Iterator[tuple[str, str, Entry]]
) -> Iterator[bytes]:
    now = int(time.time())
    for name, path, entry in files:
        info = tarfile.TarInfo(name)
        info.size, info.mtime, info.mode = entry.size, now, 0o644
        yield info.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape")
        yield from _content(ctx, record, path, entry)
        if entry.size % tarfile.BLOCKSIZE:
            yield tarfile.NUL * (tarfile.BLOCKSIZE - entry.size % tarfile.BLOCKSIZE)
    yield tarfile.NUL * (2 * tarfile.BLOCKSIZE)  # the end-of-archive marker


class _Pieces:
    """A write-only, unseekable file that hands on what is written to it."""

    def __init__(self) -> None:
        self.pieces: list[bytes] = []

    def write(self, data: bytes) -> int:
        self.pieces.append(bytes(data))
        return len(data)

    def flush(self) -> None:
        pass

    def close(self) -> None:
        pass

    def take(self) -> Iterator[bytes]:
        taken, self.pieces = self.pieces, []
        return iter(taken)


def _zip(
    ctx: Context, record: VersionRecord, files: Iterator[tuple[str, str, Entry]]
) -> Iterator[bytes]:
    sink = _Pieces()
    with zipfile.ZipFile(sink, "w", zipfile.ZIP_STORED) as archive:
        for name, path, entry in files:
            # zip names are UTF-8: bytes that are not (kept in a tar) show as U+FFFD here
            shown = name.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
            info = zipfile.ZipInfo(shown, time.localtime()[:6])
            info.file_size = entry.size  # for zip64 headers on large files, known up front
            with archive.open(info, "w", force_zip64=entry.size >= zipfile.ZIP64_LIMIT) as out:
                for data in _content(ctx, record, path, entry):
                    out.write(data)
                    yield from sink.take()
            yield from sink.take()
    yield from sink.take()
