"""The file page (a preview of one file of a final version, read in place without pulling
it), the file's raw bytes (byte ranges for players, a download) and a folder as a streamed
archive.

Raw bytes come from the dataset, not from us: they are served with a content type that a
browser cannot run as a page of this origin (images, audio and video as themselves, text as
``text/plain``, anything else as an attachment), ``nosniff`` and a sandboxing policy."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from typing import Any, cast
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from deltaset.core.byteranges import parse_range
from deltaset.core.records import VersionRecord
from deltaset.engine import archive, preview, tables
from deltaset.engine.context import Context
from deltaset.errors import DeltasetError, InvalidInputError
from deltaset.ui import catalog, folders
from deltaset.ui.access import Viewer
from deltaset.ui.web import _page_number, render

TABLE_ROWS = 50  # rows of a table shown on one page of its preview
INLINE_TYPES = frozenset(
    {
        "image/png",
        "image/jpeg",
        "image/gif",
        "image/webp",
        "image/bmp",
        "audio/wav",
        "audio/mpeg",
        "audio/flac",
        "audio/ogg",
        "audio/mp4",
        "video/mp4",
        "video/webm",
        "video/quicktime",
        "video/x-matroska",
    }
)
TEXT_TYPES = frozenset({"application/json", "application/jsonl", "image/svg+xml"})
PLAIN_TEXT = "text/plain; charset=utf-8"
OCTETS = "application/octet-stream"
RAW_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'; sandbox",
    "Cache-Control": "no-store",
}


def served_type(info: preview.FileInfo) -> str:
    """What the raw route serves a file as: never a type a browser would run as a page."""
    if info.content_type in INLINE_TYPES:
        return info.content_type
    if (
        info.kind == "text"
        or info.content_type.startswith("text/")
        or info.content_type in TEXT_TYPES
    ):
        return PLAIN_TEXT
    return OCTETS


def disposition(how: str, name: str) -> str:
    """A Content-Disposition naming the file ``name`` (any characters, RFC 6266)."""
    fallback = re.sub(r"[^A-Za-z0-9._-]", "_", name) or "file"
    encoded = quote(name.encode("utf-8", "surrogateescape"), safe="")
    return f"{how}; filename=\"{fallback}\"; filename*=UTF-8''{encoded}"


def locked(chunks: Iterator[bytes], lock: AbstractContextManager[Any]) -> Iterator[bytes]:
    """``chunks``, each produced holding ``lock`` (the embedded catalog reads one at a time)."""
    while True:
        with lock:
            piece = next(chunks, None)
        if piece is None:
            return
        yield piece


def _lock_of(request: Request) -> AbstractContextManager[Any]:
    found: AbstractContextManager[Any] | None = getattr(request.state, "lock", None)
    return found or nullcontext()


@dataclass(frozen=True, slots=True)
class Shown:
    """How the file page shows a file: ``how`` is image, audio, video, table, text or none."""

    how: str
    table: tables.TablePage | None = None
    text: preview.TextPreview | None = None
    problem: str | None = None


def file_page(request: Request, ctx: Context, viewer: Viewer) -> Response:
    record = catalog.version(ctx, request.path_params["version_id"])
    info = preview.file_info(ctx, record, request.query_params.get("path", ""))
    page = _page_number(request)
    shown = _shown(ctx, record, info, page)
    folder = info.path.rpartition("/")[0]
    return render(
        "file.html",
        viewer=viewer,
        record=record,
        info=info,
        shown=shown,
        page=page,
        crumbs=folders.breadcrumbs(folder),
    )


def _shown(ctx: Context, record: VersionRecord, info: preview.FileInfo, page: int) -> Shown:
    served = served_type(info)
    if served in INLINE_TYPES:
        return Shown(info.kind)
    if info.kind == "table":
        offset = (page - 1) * TABLE_ROWS
        try:
            return Shown(
                "table", table=tables.table_page(ctx, record, info.path, offset, TABLE_ROWS)
            )
        except DeltasetError as exc:  # not readable as a table: its text, with the reason
            return Shown(
                "text", text=preview.text_preview(ctx, record, info.path), problem=exc.message
            )
    if served == PLAIN_TEXT:
        return Shown("text", text=preview.text_preview(ctx, record, info.path))
    return Shown("none")


def raw_file(request: Request, ctx: Context, viewer: Viewer) -> Response:
    """The file's bytes, or the one byte range a Range header asks for (206; 416 if none)."""
    record = catalog.version(ctx, request.path_params["version_id"])
    info = preview.file_info(ctx, record, request.query_params.get("path", ""))
    served = served_type(info)
    attach = request.query_params.get("download") == "1" or served == OCTETS
    name = info.path.rpartition("/")[2]
    headers = {
        **RAW_HEADERS,
        "Accept-Ranges": "bytes",
        "Content-Disposition": disposition("attachment" if attach else "inline", name),
    }
    start, end, status = 0, info.size, 200
    wanted = request.headers.get("range")
    if wanted is not None:
        try:
            start, end = parse_range(wanted, info.size)
        except InvalidInputError as exc:
            headers["Content-Range"] = f"bytes */{info.size}"
            return Response(exc.message, 416, headers, media_type=PLAIN_TEXT)
        status = 206
        headers["Content-Range"] = f"bytes {start}-{end - 1}/{info.size}"
    part = preview.byte_range(ctx, record, info.path, start, end)
    headers["Content-Length"] = str(part.length)
    chunks = locked(part.chunks, _lock_of(request))
    return StreamingResponse(chunks, status, headers, media_type=served)


def folder_archive(request: Request, ctx: Context, viewer: Viewer) -> Response:
    """A folder (or the whole version) as a tar or zip archive, streamed as it is made."""
    record = catalog.version(ctx, request.path_params["version_id"])
    folder = request.query_params.get("folder", "")
    form = request.query_params.get("format", "tar")
    if form not in archive.CONTENT_TYPES:
        raise InvalidInputError(f"A folder downloads as 'tar' or 'zip', not {form!r}.")
    chunks = archive.stream_archive(ctx, record, folder, cast(archive.ArchiveFormat, form))
    stem = f"{record.name}-{record.version or record.id[:8]}"
    inner = folder.strip("/").replace("/", "-")
    name = f"{stem}-{inner}.{form}" if inner else f"{stem}.{form}"
    headers = {**RAW_HEADERS, "Content-Disposition": disposition("attachment", name)}
    return StreamingResponse(
        locked(chunks, _lock_of(request)), 200, headers, media_type=archive.CONTENT_TYPES[form]
    )
