"""A version's file listing: ``path -> Entry(size, blob_id)``, and its compact serialisation."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass

import zstandard

from deltaset.errors import StorageError

MANIFEST_FORMAT = 1


@dataclass(frozen=True, slots=True)
class Entry:
    """One file of a version: its size and the id of its content."""

    size: int
    blob_id: str


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

    def to_bytes(self) -> bytes:
        rows = [[path, self._entries[path].size, self._entries[path].blob_id] for path in self]
        doc = {"format": MANIFEST_FORMAT, "entries": rows}
        # The frame checksum makes a damaged manifest fail to read instead of listing wrong files.
        compressor = zstandard.ZstdCompressor(level=3, write_checksum=True)
        return compressor.compress(json.dumps(doc).encode())

    @classmethod
    def from_bytes(cls, data: bytes) -> Manifest:
        try:
            doc = json.loads(zstandard.ZstdDecompressor().decompress(data))
        except (zstandard.ZstdError, ValueError, MemoryError) as exc:
            # MemoryError: a damaged frame header can claim an impossible content size.
            raise StorageError("A stored manifest is damaged and cannot be read.") from exc
        if not isinstance(doc, dict):
            raise StorageError("A stored manifest is damaged and cannot be read.")
        if doc.get("format") != MANIFEST_FORMAT:
            raise StorageError(
                f"A stored manifest has format {doc.get('format')!r}, which this deltaset "
                "does not understand; upgrade deltaset."
            )
        try:
            return cls((path, Entry(size, blob_id)) for path, size, blob_id in doc["entries"])
        except (KeyError, TypeError, ValueError) as exc:
            raise StorageError("A stored manifest is damaged and cannot be read.") from exc
