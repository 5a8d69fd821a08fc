"""What kind of file a path holds, for previews: by its first bytes (magic) when they say,
else by its extension; and the content type to serve it with."""

from __future__ import annotations

import posixpath
from dataclasses import dataclass
from typing import Literal

Kind = Literal["image", "table", "text", "audio", "video", "binary"]
HEAD_BYTES = 4096  # what kind detection looks at

_BY_EXTENSION: dict[str, tuple[Kind, str]] = {
    ".png": ("image", "image/png"),
    ".jpg": ("image", "image/jpeg"),
    ".jpeg": ("image", "image/jpeg"),
    ".gif": ("image", "image/gif"),
    ".webp": ("image", "image/webp"),
    ".bmp": ("image", "image/bmp"),
    ".svg": ("image", "image/svg+xml"),
    ".csv": ("table", "text/csv"),
    ".tsv": ("table", "text/tab-separated-values"),
    ".parquet": ("table", "application/vnd.apache.parquet"),
    ".jsonl": ("table", "application/jsonl"),
    ".ndjson": ("table", "application/jsonl"),
    ".arrow": ("table", "application/vnd.apache.arrow.file"),
    ".feather": ("table", "application/vnd.apache.arrow.file"),
    ".arrows": ("table", "application/vnd.apache.arrow.stream"),
    ".ipc": ("table", "application/vnd.apache.arrow.file"),
    ".wav": ("audio", "audio/wav"),
    ".mp3": ("audio", "audio/mpeg"),
    ".flac": ("audio", "audio/flac"),
    ".ogg": ("audio", "audio/ogg"),
    ".m4a": ("audio", "audio/mp4"),
    ".mp4": ("video", "video/mp4"),
    ".webm": ("video", "video/webm"),
    ".mov": ("video", "video/quicktime"),
    ".mkv": ("video", "video/x-matroska"),
    ".json": ("text", "application/json"),
    ".md": ("text", "text/markdown"),
    ".html": ("text", "text/plain"),  # shown as source, never rendered
}
_TEXT_EXTENSIONS = frozenset(
    {
        ".txt",
        ".py",
        ".js",
        ".ts",
        ".c",
        ".h",
        ".cpp",
        ".hpp",
        ".rs",
        ".go",
        ".java",
        ".rb",
        ".sh",
        ".yaml",
        ".yml",
        ".toml",
        ".ini",
        ".cfg",
        ".xml",
        ".css",
        ".sql",
        ".r",
        ".jl",
        ".tex",
        ".rst",
        ".log",
        ".csv",
        ".tsv",
        ".ipynb",
    }
)
_MAGIC: tuple[tuple[bytes, int, Kind, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", 0, "image", "image/png"),
    (b"\xff\xd8\xff", 0, "image", "image/jpeg"),
    (b"GIF8", 0, "image", "image/gif"),
    (b"BM", 0, "image", "image/bmp"),
    (b"PAR1", 0, "table", "application/vnd.apache.parquet"),
    (b"ARROW1", 0, "table", "application/vnd.apache.arrow.file"),
    (b"ID3", 0, "audio", "audio/mpeg"),
    (b"fLaC", 0, "audio", "audio/flac"),
    (b"OggS", 0, "audio", "audio/ogg"),
    (b"\x1a\x45\xdf\xa3", 0, "video", "video/webm"),
    (b"ftyp", 4, "video", "video/mp4"),
)


@dataclass(frozen=True, slots=True)
class FileKind:
    kind: Kind
    content_type: str


def detect(path: str, head: bytes) -> FileKind:
    """The kind of the file at ``path`` whose first bytes are ``head``."""
    extension = posixpath.splitext(path)[1].lower()
    known = _BY_EXTENSION.get(extension)
    if head.startswith(b"RIFF") and len(head) >= 12:
        riff = {b"WEBP": ("image", "image/webp"), b"WAVE": ("audio", "audio/wav")}
        found = riff.get(head[8:12])
        if found:
            return FileKind(*found)  # type: ignore[arg-type]
    for magic, at, kind, content_type in _MAGIC:
        if head[at : at + len(magic)] == magic:
            return FileKind(kind, content_type)
    if known is not None:
        return FileKind(*known)
    if is_binary(head):
        return FileKind("binary", "application/octet-stream")
    if extension in _TEXT_EXTENSIONS or not extension or head:
        return FileKind("text", "text/plain; charset=utf-8")
    return FileKind("binary", "application/octet-stream")


def is_binary(head: bytes) -> bool:
    """Whether bytes look like binary data rather than text: a NUL, or mostly control bytes."""
    if b"\0" in head:
        return True
    controls = sum(1 for b in head if b < 32 and b not in (9, 10, 12, 13, 27))
    return controls > len(head) // 10


def table_format(path: str, head: bytes) -> str | None:
    """Which table reader fits: ``parquet``, ``arrow``, ``arrow-stream``, ``csv``, ``tsv`` or
    ``jsonl``; None when the file is not a table deltaset previews."""
    if head.startswith(b"PAR1"):
        return "parquet"
    if head.startswith(b"ARROW1"):
        return "arrow"
    extension = posixpath.splitext(path)[1].lower()
    return {
        ".parquet": "parquet",
        ".arrow": "arrow",
        ".feather": "arrow",
        ".ipc": "arrow",
        ".arrows": "arrow-stream",
        ".csv": "csv",
        ".tsv": "tsv",
        ".jsonl": "jsonl",
        ".ndjson": "jsonl",
    }.get(extension)
