"""The byte layout of packs and pack indexes (pure encode/decode, no I/O).

Pack::

    payload 1 || ... || payload N || header || u32 header_length || u32 entry_count || b"DSPK"

Header: zstd of N entries ``blob_id (32) | codec (1) | offset (8) | length (8) | raw_length (8)``,
little endian. Payloads are the stored (raw or zstd) bytes of each blob.

Index::

    b"DSIX" || u32 version || zstd of entries ``blob_id (32) | pack_id (16) | codec (1) |
    offset (8) | length (8) | raw_length (8)``
"""

from __future__ import annotations

import struct
from collections.abc import Iterable
from dataclasses import dataclass

import zstandard

from deltaset.errors import IntegrityError, StorageError

PACK_MAGIC = b"DSPK"
INDEX_MAGIC = b"DSIX"
INDEX_VERSION = 1
_TRAILER = struct.Struct("<II4s")
_PACK_ENTRY = struct.Struct("<32sBQQQ")
_INDEX_ENTRY = struct.Struct("<32s16sBQQQ")
TRAILER_SIZE = _TRAILER.size
INDEX_ROW_SIZE = _INDEX_ENTRY.size


@dataclass(frozen=True, slots=True)
class PackEntry:
    """Where one blob sits inside its pack."""

    blob_id: str
    codec: int
    offset: int
    length: int
    raw_length: int


@dataclass(frozen=True, slots=True)
class Location:
    """Where one blob sits in storage: its pack and the entry within it."""

    pack_id: str
    entry: PackEntry


def encode_header(entries: Iterable[PackEntry]) -> bytes:
    rows = [
        _PACK_ENTRY.pack(bytes.fromhex(e.blob_id), e.codec, e.offset, e.length, e.raw_length)
        for e in entries
    ]
    # The checksum lets a damaged header be refused instead of decoding to wrong entries.
    body = zstandard.ZstdCompressor(level=3, write_checksum=True).compress(b"".join(rows))
    return body + _TRAILER.pack(len(body), len(rows), PACK_MAGIC)


def header_size(trailer: bytes) -> int:
    """The size of the compressed header, from a pack's last :data:`TRAILER_SIZE` bytes."""
    return _parse_trailer(trailer)[0]


def _parse_trailer(trailer: bytes) -> tuple[int, int, bytes]:
    if len(trailer) != TRAILER_SIZE:
        raise IntegrityError("A pack is truncated: its trailer is incomplete.")
    length, count, magic = _TRAILER.unpack(trailer)
    if magic != PACK_MAGIC:
        raise IntegrityError("A stored pack is damaged: its trailer is not a deltaset pack's.")
    return length, count, magic


def decode_header(header: bytes, trailer: bytes) -> list[PackEntry]:
    """The entries of a pack from its compressed header and trailer."""
    length, count, _ = _parse_trailer(trailer)
    try:
        raw = zstandard.ZstdDecompressor().decompress(
            header, max_output_size=count * _PACK_ENTRY.size
        )
    except (zstandard.ZstdError, MemoryError) as exc:  # a damaged frame can claim any size
        raise IntegrityError("A stored pack has a damaged header.") from exc
    if len(header) != length or len(raw) != count * _PACK_ENTRY.size:
        raise IntegrityError("A stored pack has a damaged header.")
    return [
        PackEntry(blob.hex(), codec, offset, size, raw_length)
        for blob, codec, offset, size, raw_length in _PACK_ENTRY.iter_unpack(raw)
    ]


def index_row(pack_id: str, entry: PackEntry) -> bytes:
    """One fixed-size index row (:data:`INDEX_ROW_SIZE` bytes) naming where a blob sits."""
    return _INDEX_ENTRY.pack(
        bytes.fromhex(entry.blob_id),
        bytes.fromhex(pack_id),
        entry.codec,
        entry.offset,
        entry.length,
        entry.raw_length,
    )


def row_location(rows: bytes | bytearray | memoryview, at: int) -> Location:
    """The location in row number ``at`` of concatenated index rows."""
    blob, pack, codec, offset, length, raw_length = _INDEX_ENTRY.unpack_from(
        rows, at * INDEX_ROW_SIZE
    )
    return Location(pack.hex(), PackEntry(blob.hex(), codec, offset, length, raw_length))


def encode_index(locations: Iterable[Location]) -> bytes:
    return encode_index_rows(b"".join(index_row(loc.pack_id, loc.entry) for loc in locations))


def encode_index_rows(rows: bytes | bytearray) -> bytes:
    body = zstandard.ZstdCompressor(level=3, write_checksum=True).compress(bytes(rows))
    return INDEX_MAGIC + struct.pack("<I", INDEX_VERSION) + body


def decode_index(data: bytes, name: str = "A stored pack index") -> list[Location]:
    rows = decode_index_rows(data, name)
    return [row_location(rows, i) for i in range(len(rows) // INDEX_ROW_SIZE)]


def decode_index_rows(data: bytes, name: str = "A stored pack index") -> bytes:
    """The concatenated fixed-size rows of a stored index, checked for damage (IntegrityError,
    its sentence starting with ``name``); an index of another version is a StorageError."""
    if data[:4] != INDEX_MAGIC or len(data) < 8:
        raise IntegrityError(f"{name} is damaged: wrong magic.")
    (version,) = struct.unpack("<I", data[4:8])
    if version != INDEX_VERSION:
        raise StorageError(f"{name} has version {version}; upgrade deltaset.")
    try:
        stream = zstandard.ZstdDecompressor().decompressobj()
        raw = stream.decompress(data[8:])
    except zstandard.ZstdError as exc:
        raise IntegrityError(f"{name} is damaged.") from exc
    if not stream.eof:  # a cut frame decodes to a prefix, and its checksum is never checked
        raise IntegrityError(f"{name} is damaged: truncated.")
    if len(raw) % INDEX_ROW_SIZE:
        raise IntegrityError(f"{name} is damaged: truncated entry.")
    return raw
