"""The byte layout of packs and pack indexes (pure encode/decode, no I/O).

Pack::

    payload 1 || ... || payload N || header || u32 header_length || u32 entry_count || b"DSPK"

Header: zstd of N entries ``blob_id (32) | codec (1) | offset (8) | length (8) | raw_length (8)``,
little endian. Payloads are the stored (raw, zstd or delta) bytes of each blob. A pack holding a
delta ends in ``b"DSPD"`` instead, each entry followed by its base's ``blob_id (32)`` (zeros for
none): packs without deltas keep the first layout, which older readers read. A pack holding a
delta against two bases (the bytes of both, joined, are its dictionary) ends in ``b"DSP2"``,
each entry followed by two base ids (zeros for none). Small whole blobs compressed together
(codec GROUP, see packs/groups.py) each have an entry naming the offset and length of their
group's frame, the same for every member.

Index::

    b"DSIX" || u32 version || zstd of entries ``blob_id (32) | pack_id (16) | codec (1) |
    offset (8) | length (8) | raw_length (8)``

Version 2 (written only when an entry is a delta): ``b"DSIX" || u32 2 || zstd of (u64 size of
the entries || the entries || pairs blob_id (32) | base blob_id (32))``, one pair per delta.
Version 3 (written only when a delta has two bases): the same, a delta's pairs in the order of
its bases.

A delta's ``base`` is the hex of its base ids joined (64 hex digits each, see :func:`base_ids`).

Codecs (``packs/codec.py`` ``Codec``): 0 raw, 1 zstd, 2 zstd delta, 3 line delta by lines
(written by earlier versions, still read), 4 a member of a group frame, 5 line delta by runs
(``packs/runs.py``). A reader that does not know a codec refuses that blob ("unknown codec"),
never guesses: every other blob of the pack stays readable.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable
from dataclasses import dataclass
from typing import NamedTuple

import zstandard

from deltaset.errors import IntegrityError, StorageError

PACK_MAGIC = b"DSPK"
DELTA_PACK_MAGIC = b"DSPD"
TWO_BASES_PACK_MAGIC = b"DSP2"
MAX_BASES = 2
INDEX_MAGIC = b"DSIX"
INDEX_VERSION = 1
DELTA_INDEX_VERSION = 2
TWO_BASES_INDEX_VERSION = 3
# Rows of a rewrite (``gc --repack``), which outrank older rows of the same blobs: a reader that
# does not know it would mix both and could find a loop of bases, so it refuses the file.
RANKED_INDEX_VERSION = 4
_TRAILER = struct.Struct("<II4s")
_PACK_ENTRY = struct.Struct("<32sBQQQ")
_DELTA_PACK_ENTRY = struct.Struct("<32sBQQQ32s")
_TWO_BASES_PACK_ENTRY = struct.Struct("<32sBQQQ64s")
_NO_BASE = bytes(32)
PAIR_SIZE = 64
_INDEX_ENTRY = struct.Struct("<32s16sBQQQ")
TRAILER_SIZE = _TRAILER.size
INDEX_ROW_SIZE = _INDEX_ENTRY.size


class PackEntry(NamedTuple):
    """Where one blob sits inside its pack. A tuple: one is made for every blob packed or
    read from a pack's header, and a frozen dataclass costs several times more to make."""

    blob_id: str
    codec: int
    offset: int
    length: int
    raw_length: int
    base: str | None = None  # the blob(s) a delta is rebuilt from (see base_ids)


@dataclass(frozen=True, slots=True)
class Location:
    """Where one blob sits in storage: its pack and the entry within it."""

    pack_id: str
    entry: PackEntry


def base_ids(base: str | None) -> list[str]:
    """The ids of the blobs a delta's ``base`` names, in order (none for a blob stored whole)."""
    return [base[at : at + 64] for at in range(0, len(base), 64)] if base else []


def encode_header(entries: Iterable[PackEntry]) -> bytes:
    listed = list(entries)
    most = max((len(base_ids(e.base)) for e in listed), default=0)
    if most > MAX_BASES:
        raise ValueError(f"A delta names {most} bases; at most {MAX_BASES} are stored.")
    if most:
        magic, layout = (DELTA_PACK_MAGIC, _DELTA_PACK_ENTRY)
        if most > 1:
            magic, layout = (TWO_BASES_PACK_MAGIC, _TWO_BASES_PACK_ENTRY)
        width = layout.size - _PACK_ENTRY.size
        rows = [
            layout.pack(
                bytes.fromhex(e.blob_id),
                e.codec,
                e.offset,
                e.length,
                e.raw_length,
                bytes.fromhex(e.base or "").ljust(width, b"\0"),
            )
            for e in listed
        ]
    else:
        magic = PACK_MAGIC
        rows = [
            _PACK_ENTRY.pack(bytes.fromhex(e.blob_id), e.codec, e.offset, e.length, e.raw_length)
            for e in listed
        ]
    # The checksum lets a damaged header be refused instead of decoding to wrong entries.
    body = zstandard.ZstdCompressor(level=3, write_checksum=True).compress(b"".join(rows))
    return body + _TRAILER.pack(len(body), len(rows), magic)


def header_size(trailer: bytes) -> int:
    """The size of the compressed header, from a pack's last :data:`TRAILER_SIZE` bytes."""
    return _parse_trailer(trailer)[0]


def _parse_trailer(trailer: bytes) -> tuple[int, int, bytes]:
    if len(trailer) != TRAILER_SIZE:
        raise IntegrityError("A pack is truncated: its trailer is incomplete.")
    length, count, magic = _TRAILER.unpack(trailer)
    if magic not in _LAYOUTS:
        raise IntegrityError("A stored pack is damaged: its trailer is not a deltaset pack's.")
    return length, count, magic


def decode_header(header: bytes, trailer: bytes) -> list[PackEntry]:
    """The entries of a pack from its compressed header and trailer."""
    layout, raw = _header_body(header, trailer)
    if layout is _PACK_ENTRY:
        return [
            PackEntry(blob.hex(), codec, offset, size, raw_length)
            for blob, codec, offset, size, raw_length in _PACK_ENTRY.iter_unpack(raw)
        ]
    return [
        PackEntry(blob.hex(), codec, offset, size, raw_length, _base_of_field(b))
        for blob, codec, offset, size, raw_length, b in layout.iter_unpack(raw)
    ]


_LAYOUTS = {
    PACK_MAGIC: _PACK_ENTRY,
    DELTA_PACK_MAGIC: _DELTA_PACK_ENTRY,
    TWO_BASES_PACK_MAGIC: _TWO_BASES_PACK_ENTRY,
}


class HeaderRows(NamedTuple):
    """What an index needs of a pack, from its header alone (see :func:`header_rows`)."""

    raw_ids: list[bytes]  # the 32 raw bytes of each blob's id, in the header's order
    rows: bytes  # their index rows (:func:`index_row`)
    pairs: bytes  # the pairs naming the bases of its deltas (:func:`base_pair`)


def header_rows(pack_id: str, header: bytes, trailer: bytes) -> HeaderRows:
    """The index rows and base pairs naming every blob of the pack ``pack_id``, from its
    compressed header and trailer: what :func:`index_row` and :func:`base_pair` make of the
    entries :func:`decode_header` finds, built field to field, with no hex id and no
    :class:`PackEntry` per blob (a close sends packs of a million tiny files)."""
    layout, raw = _header_body(header, trailer)
    pack = bytes.fromhex(pack_id)
    row = _INDEX_ENTRY.pack
    raw_ids = [raw[at : at + 32] for at in range(0, len(raw), layout.size)]
    if layout is _PACK_ENTRY:
        rows = [row(b, pack, c, o, n, r) for b, c, o, n, r in layout.iter_unpack(raw)]
        return HeaderRows(raw_ids, b"".join(rows), b"")
    fields = list(layout.iter_unpack(raw))
    rows = [row(b, pack, c, o, n, r) for b, c, o, n, r, _ in fields]
    pairs = [
        b + base
        for b, *_, bases in fields
        for base in (bases[at : at + 32] for at in range(0, len(bases), 32))
        if base != _NO_BASE
    ]
    return HeaderRows(raw_ids, b"".join(rows), b"".join(pairs))


def _header_body(header: bytes, trailer: bytes) -> tuple[struct.Struct, bytes]:
    """The layout of a pack's header entries and the entries, decompressed and checked."""
    length, count, magic = _parse_trailer(trailer)
    layout = _LAYOUTS[magic]
    try:
        raw = zstandard.ZstdDecompressor().decompress(header, max_output_size=count * layout.size)
    except (zstandard.ZstdError, MemoryError) as exc:  # a damaged frame can claim any size
        raise IntegrityError("A stored pack has a damaged header.") from exc
    if len(header) != length or len(raw) != count * layout.size:
        raise IntegrityError("A stored pack has a damaged header.")
    return layout, raw


def _base_of_field(field: bytes) -> str | None:
    """The ``base`` of a pack entry's base ids field (unused slots are zeros)."""
    ids = [field[at : at + 32] for at in range(0, len(field), 32)]
    return "".join(i.hex() for i in ids if i != _NO_BASE) or None


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


def base_pair(entry: PackEntry) -> bytes:
    """The index pairs naming the bases of a delta (:data:`PAIR_SIZE` bytes each, in the order
    of its bases), or b"" for a blob stored whole."""
    blob = bytes.fromhex(entry.blob_id)
    return b"".join(blob + bytes.fromhex(base) for base in base_ids(entry.base))


def pairs_of(pairs: bytes | bytearray | memoryview) -> dict[bytes, bytes]:
    """Raw blob id -> raw base ids (joined, in order), from concatenated :func:`base_pair`
    pairs."""
    data = bytes(pairs)
    found: dict[bytes, bytes] = {}
    for at in range(0, len(data), PAIR_SIZE):
        blob, base = data[at : at + 32], data[at + 32 : at + 64]
        found[blob] = found[blob] + base if blob in found else base
    return found


def row_location(rows: bytes | bytearray | memoryview, at: int) -> Location:
    """The location in row number ``at`` of concatenated index rows."""
    blob, pack, codec, offset, length, raw_length = _INDEX_ENTRY.unpack_from(
        rows, at * INDEX_ROW_SIZE
    )
    return Location(pack.hex(), PackEntry(blob.hex(), codec, offset, length, raw_length))


def encode_index(locations: Iterable[Location]) -> bytes:
    listed = list(locations)
    rows = b"".join(index_row(loc.pack_id, loc.entry) for loc in listed)
    return encode_index_rows(rows, b"".join(base_pair(loc.entry) for loc in listed))


def encode_index_rows(
    rows: bytes | bytearray, pairs: bytes | bytearray = b"", ranked: bool = False
) -> bytes:
    """An index file of ``rows`` (and the ``pairs`` naming the bases of its deltas): version 1
    when it holds no delta, 2 when no delta has two bases, which older readers read; version
    :data:`RANKED_INDEX_VERSION` for the rows of a rewrite (``ranked``)."""
    compressor = zstandard.ZstdCompressor(level=3, write_checksum=True)
    if ranked:
        body = struct.pack("<Q", len(rows)) + bytes(rows) + bytes(pairs)
        return INDEX_MAGIC + struct.pack("<I", RANKED_INDEX_VERSION) + compressor.compress(body)
    if not pairs:
        return INDEX_MAGIC + struct.pack("<I", INDEX_VERSION) + compressor.compress(bytes(rows))
    body = struct.pack("<Q", len(rows)) + bytes(rows) + bytes(pairs)
    one_base = len(pairs_of(pairs)) * PAIR_SIZE == len(pairs)
    version = DELTA_INDEX_VERSION if one_base else TWO_BASES_INDEX_VERSION
    return INDEX_MAGIC + struct.pack("<I", version) + compressor.compress(body)


def decode_index(data: bytes, name: str = "A stored pack index") -> list[Location]:
    rows, pairs = decode_index_parts(data, name)
    bases = pairs_of(pairs)
    found = []
    for i in range(len(rows) // INDEX_ROW_SIZE):
        loc = row_location(rows, i)
        base = bases.get(bytes.fromhex(loc.entry.blob_id))
        if base is not None:
            entry = loc.entry
            loc = Location(loc.pack_id, PackEntry(*_fields(entry), base.hex()))
        found.append(loc)
    return found


def _fields(entry: PackEntry) -> tuple[str, int, int, int, int]:
    return entry.blob_id, entry.codec, entry.offset, entry.length, entry.raw_length


def decode_index_rows(data: bytes, name: str = "A stored pack index") -> bytes:
    """The concatenated fixed-size rows of a stored index (see :func:`decode_index_parts`)."""
    return decode_index_parts(data, name)[0]


def decode_index_parts(data: bytes, name: str = "A stored pack index") -> tuple[bytes, bytes]:
    """The concatenated fixed-size rows of a stored index and the pairs naming the bases of its
    deltas, checked for damage (IntegrityError, its sentence starting with ``name``); an index
    of an unknown version is a StorageError."""
    if data[:4] != INDEX_MAGIC or len(data) < 8:
        raise IntegrityError(f"{name} is damaged: wrong magic.")
    (version,) = struct.unpack("<I", data[4:8])
    known = (INDEX_VERSION, DELTA_INDEX_VERSION, TWO_BASES_INDEX_VERSION, RANKED_INDEX_VERSION)
    if version not in known:
        raise StorageError(f"{name} has version {version}; upgrade deltaset.")
    try:
        stream = zstandard.ZstdDecompressor().decompressobj()
        raw = stream.decompress(data[8:])
    except zstandard.ZstdError as exc:
        raise IntegrityError(f"{name} is damaged.") from exc
    if not stream.eof:  # a cut frame decodes to a prefix, and its checksum is never checked
        raise IntegrityError(f"{name} is damaged: truncated.")
    pairs = b""
    if version != INDEX_VERSION:
        if len(raw) < 8:
            raise IntegrityError(f"{name} is damaged: truncated.")
        (size,) = struct.unpack("<Q", raw[:8])
        raw, pairs = raw[8 : 8 + size], raw[8 + size :]
        if len(raw) != size or len(pairs) % PAIR_SIZE:
            raise IntegrityError(f"{name} is damaged: truncated entry.")
    if len(raw) % INDEX_ROW_SIZE:
        raise IntegrityError(f"{name} is damaged: truncated entry.")
    return raw, pairs
