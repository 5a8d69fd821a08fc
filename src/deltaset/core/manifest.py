"""A version's file listing, ``path -> Entry``, and its compact binary serialisation.

Stored form (zstd with a frame checksum, so damage is detected rather than misread)::

    b"DSMF" | u32 format | u32 count | u64 paths_length
    paths joined by NUL (a byte no path may contain), in sorted order
    count x u64 size | count x 32-byte blob id | count x u32 chunk count
    then every chunk id (32 bytes each), file after file

A chunked file's content is the concatenation of its chunks; its blob id is still the BLAKE3 of
the whole content, so a file is recognised the same whether or not it was chunked.
"""

from __future__ import annotations

import struct
from array import array
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass

import zstandard

from deltaset.errors import StorageError

MANIFEST_FORMAT = 2
_MAGIC = b"DSMF"
_HEADER = struct.Struct("<4sIIQ")
_ID = 32


@dataclass(frozen=True, slots=True)
class Entry:
    """One file of a version: its size, the id of its content, and its chunks if it has any."""

    size: int
    blob_id: str
    chunks: tuple[str, ...] = ()

    @property
    def stored_ids(self) -> tuple[str, ...]:
        """The ids of what storage holds for this file: its chunks, or the whole blob."""
        return self.chunks or (self.blob_id,)


class Manifest(Mapping[str, Entry]):
    """An immutable mapping of in-dataset path to :class:`Entry`, iterated in path order."""

    __slots__ = ("_entries", "_order")

    def __init__(self, entries: Mapping[str, Entry] | Iterable[tuple[str, Entry]] = ()) -> None:
        self._entries: dict[str, Entry] = dict(entries)
        self._order: list[str] | None = None

    def __getitem__(self, path: str) -> Entry:
        return self._entries[path]

    def __iter__(self) -> Iterator[str]:
        if self._order is None:
            self._order = sorted(self._entries)
        return iter(self._order)

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def total_size(self) -> int:
        return sum(entry.size for entry in self._entries.values())

    def blob_ids(self) -> set[str]:
        return {entry.blob_id for entry in self._entries.values()}

    def stored_ids(self) -> set[str]:
        """Every id storage must hold for this manifest to be readable."""
        return {i for entry in self._entries.values() for i in entry.stored_ids}

    def to_bytes(self) -> bytes:
        paths = list(self)
        entries = [self._entries[p] for p in paths]
        joined = "\0".join(paths).encode()
        parts = [
            _HEADER.pack(_MAGIC, MANIFEST_FORMAT, len(paths), len(joined)),
            joined,
            array("Q", (e.size for e in entries)).tobytes(),
            b"".join(bytes.fromhex(e.blob_id) for e in entries),
            array("I", (len(e.chunks) for e in entries)).tobytes(),
            b"".join(bytes.fromhex(c) for e in entries for c in e.chunks),
        ]
        compressor = zstandard.ZstdCompressor(level=3, write_checksum=True)
        return compressor.compress(b"".join(parts))

    @classmethod
    def from_bytes(cls, data: bytes) -> Manifest:
        try:
            raw = zstandard.ZstdDecompressor().decompressobj().decompress(data)
            return cls(_decode(memoryview(raw)))
        except (zstandard.ZstdError, ValueError, struct.error, MemoryError, IndexError) as exc:
            # MemoryError: a damaged frame header can claim an impossible content size.
            raise StorageError("A stored manifest is damaged and cannot be read.") from exc


def _decode(raw: memoryview) -> Iterator[tuple[str, Entry]]:
    magic, version, count, paths_length = _HEADER.unpack_from(raw)
    if magic != _MAGIC:
        raise ValueError("not a manifest")
    if version != MANIFEST_FORMAT:
        raise StorageError(
            f"A stored manifest has format {version}, which this deltaset does not "
            "understand; upgrade deltaset."
        )
    at = _HEADER.size
    paths = bytes(raw[at : at + paths_length]).decode().split("\0") if count else []
    at += paths_length
    sizes, at = _array("Q", raw, at, count)
    ids = raw[at : at + count * _ID]
    at += count * _ID
    chunk_counts, at = _array("I", raw, at, count)
    chunk_ids = raw[at:]
    if len(paths) != count or len(ids) != count * _ID or len(chunk_ids) != _ID * sum(chunk_counts):
        raise ValueError("truncated manifest")
    next_chunk = 0
    for i, path in enumerate(paths):
        chunks = tuple(
            bytes(chunk_ids[(next_chunk + k) * _ID : (next_chunk + k + 1) * _ID]).hex()
            for k in range(chunk_counts[i])
        )
        next_chunk += chunk_counts[i]
        yield path, Entry(sizes[i], bytes(ids[i * _ID : (i + 1) * _ID]).hex(), chunks)


def _array(code: str, raw: memoryview, at: int, count: int) -> tuple[array[int], int]:
    values = array(code)
    end = at + count * values.itemsize
    if end > len(raw):
        raise ValueError("truncated manifest")
    values.frombytes(raw[at:end])
    return values, end
