"""A look at one file of a final version without pulling it: what kind it is, its first
bytes as text, or any byte range of it (for an image, a player, a download), read in place
through the cache (see :mod:`deltaset.engine.reading`): only the bytes shown are fetched, give
or take the chunk or the small file holding them."""

from __future__ import annotations

import codecs
from collections.abc import Iterator
from dataclasses import dataclass

from deltaset.core.filekinds import HEAD_BYTES, FileKind, detect, is_binary
from deltaset.core.manifest import Entry
from deltaset.core.records import VersionRecord
from deltaset.engine import reading
from deltaset.engine.context import Context
from deltaset.errors import InvalidInputError

TEXT_BYTES = 64 * 1024  # what a text preview shows by default
RANGE_CHUNK = 1 << 20  # what a byte range is streamed in


@dataclass(frozen=True, slots=True)
class FileInfo:
    """One file: its normalised path, size, content hash, kind and content type."""

    path: str
    size: int
    blob_id: str
    kind: str
    content_type: str
    external: bool


@dataclass(frozen=True, slots=True)
class TextPreview:
    """The first bytes of a file as text; ``truncated`` when the file holds more. ``binary``
    when the bytes are not text (then ``text`` is empty)."""

    path: str
    size: int
    text: str
    truncated: bool
    binary: bool


@dataclass(frozen=True, slots=True)
class ByteRange:
    """Bytes ``start`` to ``end`` (exclusive) of a file of ``size`` bytes, streamed by
    iterating ``chunks`` (the file is opened on the first one and closed after the last)."""

    path: str
    size: int
    start: int
    end: int
    content_type: str
    chunks: Iterator[bytes]

    @property
    def length(self) -> int:
        return self.end - self.start


def file_info(ctx: Context, record: VersionRecord, path: str) -> FileInfo:
    """The kind of the file at ``path``, from its extension and its first bytes."""
    clean, entry = reading.file_entry(ctx, record, path)
    head = reading.read_range(ctx, record, clean, entry, 0, HEAD_BYTES)
    kind = detect(clean, head)
    return _info(clean, entry, kind)


def _info(path: str, entry: Entry, kind: FileKind) -> FileInfo:
    return FileInfo(path, entry.size, entry.blob_id, kind.kind, kind.content_type, bool(entry.link))


def text_preview(
    ctx: Context, record: VersionRecord, path: str, max_bytes: int = TEXT_BYTES
) -> TextPreview:
    """The first ``max_bytes`` of the file at ``path`` decoded as UTF-8 (a character cut at the
    end is left out, undecodable bytes show as U+FFFD)."""
    if max_bytes < 1:
        raise InvalidInputError("A text preview shows at least one byte.")
    clean, entry = reading.file_entry(ctx, record, path)
    data = reading.read_range(ctx, record, clean, entry, 0, max_bytes)
    truncated = entry.size > len(data)
    if is_binary(data[:HEAD_BYTES]):
        return TextPreview(clean, entry.size, "", truncated, True)
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    text = decoder.decode(data, final=not truncated)
    return TextPreview(clean, entry.size, text, truncated, False)


def byte_range(
    ctx: Context,
    record: VersionRecord,
    path: str,
    start: int = 0,
    end: int | None = None,
    chunk_size: int = RANGE_CHUNK,
) -> ByteRange:
    """Bytes ``start:end`` of the file at ``path`` (``end`` None: to its end), for an HTTP
    response (see :func:`deltaset.core.byteranges.parse_range` for a Range header)."""
    clean, entry = reading.file_entry(ctx, record, path)
    stop = entry.size if end is None else min(end, entry.size)
    if start < 0 or (start >= stop and entry.size):
        raise InvalidInputError(
            f"The byte range {start}-{stop} lies outside the {entry.size} bytes of {clean}."
        )
    head = reading.read_range(ctx, record, clean, entry, 0, HEAD_BYTES) if entry.size else b""
    kind = detect(clean, head)
    chunks = _chunks(ctx, record, clean, entry, start, stop, chunk_size)
    return ByteRange(clean, entry.size, start, stop, kind.content_type, chunks)


def _chunks(
    ctx: Context, record: VersionRecord, path: str, entry: Entry, start: int, end: int, size: int
) -> Iterator[bytes]:
    if start >= end:
        return
    with reading.open_entry(ctx, record, path, entry) as raw:
        raw.seek(start)
        while start < end:
            data = raw.read(min(size, end - start))
            if not data:
                return
            start += len(data)
            yield data
