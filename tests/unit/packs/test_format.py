from __future__ import annotations

import os
import random
import struct
from collections.abc import Callable
from functools import partial

import pytest
import zstandard

from deltaset.errors import IntegrityError, StorageError
from deltaset.packs.format import (
    DELTA_INDEX_VERSION,
    DELTA_PACK_MAGIC,
    INDEX_MAGIC,
    INDEX_VERSION,
    PACK_MAGIC,
    RANKED_INDEX_VERSION,
    TRAILER_SIZE,
    TWO_BASES_INDEX_VERSION,
    TWO_BASES_PACK_MAGIC,
    Location,
    PackEntry,
    base_ids,
    base_pair,
    decode_header,
    decode_index,
    decode_index_parts,
    encode_header,
    encode_index,
    encode_index_rows,
    header_size,
    index_row,
)


def _entries(count: int) -> list[PackEntry]:
    entries, offset = [], 0
    for i in range(count):
        length = 100 + 7 * i
        entries.append(PackEntry(os.urandom(32).hex(), i % 2, offset, length, 3 * length))
        offset += length
    return entries


def _locations(count: int) -> list[Location]:
    return [Location(os.urandom(16).hex(), e) for e in _entries(count)]


def _split(encoded: bytes) -> tuple[bytes, bytes]:
    """A pack's tail as the reader fetches it: the compressed header, then the trailer."""
    return encoded[:-TRAILER_SIZE], encoded[-TRAILER_SIZE:]


def _refusal(decode: Callable[[], object]) -> str | None:
    """The message of the IntegrityError ``decode()`` raises, or None if it decodes."""
    try:
        decode()
    except IntegrityError as exc:
        return str(exc)
    return None


def _flip(data: bytes, at: int, bit: int = 0x41) -> bytes:
    damaged = bytearray(data)
    damaged[at] ^= bit
    return bytes(damaged)


# -- pack header ---------------------------------------------------------------------------------


@pytest.mark.parametrize("count", [0, 1, 3, 500])
def test_header_round_trip(count: int) -> None:
    entries = _entries(count)
    header, trailer = _split(encode_header(entries))
    assert header_size(trailer) == len(header)
    assert decode_header(header, trailer) == entries


def test_trailer_carries_length_count_and_magic() -> None:
    encoded = encode_header(_entries(4))
    length, count, magic = struct.unpack("<II4s", encoded[-TRAILER_SIZE:])
    assert (length, count, magic) == (len(encoded) - TRAILER_SIZE, 4, PACK_MAGIC)
    assert TRAILER_SIZE == 12


def test_large_offsets_and_sizes_survive_the_round_trip() -> None:
    entry = PackEntry("ab" * 32, 1, (1 << 40) + 3, (1 << 33) + 1, (1 << 63) - 1)
    assert decode_header(*_split(encode_header([entry]))) == [entry]


@pytest.mark.parametrize("keep", [0, 1, TRAILER_SIZE - 1])
def test_a_short_trailer_is_truncated(keep: int) -> None:
    header, trailer = _split(encode_header(_entries(2)))
    with pytest.raises(IntegrityError, match="truncated"):
        header_size(trailer[:keep])
    with pytest.raises(IntegrityError, match="truncated"):
        decode_header(header, trailer[:keep])


@pytest.mark.parametrize("at", [-4, -3, -2, -1])
def test_a_damaged_magic_is_refused(at: int) -> None:
    header, trailer = _split(encode_header(_entries(2)))
    with pytest.raises(IntegrityError, match="not a deltaset pack"):
        header_size(_flip(trailer, at))
    with pytest.raises(IntegrityError, match="not a deltaset pack"):
        decode_header(header, _flip(trailer, at))


@pytest.mark.parametrize("count", [1, 3, 50])
def test_every_flipped_byte_of_a_header_is_refused_or_harmless(count: int) -> None:
    """Never a wrong entry: a flip is refused, or lands where zstd does not look (then the
    entries decode exactly as written)."""
    entries = _entries(count)
    header, trailer = _split(encode_header(entries))
    refused = 0
    for at in range(len(header)):
        for bit in (0x01, 0x80):
            damaged = _flip(header, at, bit)
            refusal = _refusal(partial(decode_header, damaged, trailer))
            if refusal is None:
                assert decode_header(damaged, trailer) == entries, (at, bit)
            else:
                assert "damaged header" in refusal
                refused += 1
    assert refused >= 0.95 * 2 * len(header)


def test_a_header_whose_frame_claims_a_huge_size_is_refused() -> None:
    """Bit 7 of the zstd frame descriptor (byte 4) makes the frame claim an absurd content size,
    which zstd tries to allocate: that is damage too, not an out-of-memory crash."""
    rng = random.Random(7)
    entries = [PackEntry(rng.randbytes(32).hex(), i % 2, 157 * i, 157, 471) for i in range(50)]
    header, trailer = _split(encode_header(entries))
    with pytest.raises(IntegrityError, match="damaged header"):
        decode_header(_flip(header, 4, 0x80), trailer)


@pytest.mark.parametrize("field", ["length", "count"])
@pytest.mark.parametrize("delta", [-1, 1, 1000])
def test_a_trailer_disagreeing_with_its_header_is_refused(field: str, delta: int) -> None:
    header, trailer = _split(encode_header(_entries(3)))
    length, count, magic = struct.unpack("<II4s", trailer)
    if field == "length":
        length += delta
    else:
        count += delta
    with pytest.raises(IntegrityError, match="damaged header"):
        decode_header(header, struct.pack("<II4s", length, count, magic))


@pytest.mark.parametrize("cut", [1, 5, -1])
def test_a_cut_header_is_refused(cut: int) -> None:
    header, trailer = _split(encode_header(_entries(3)))
    with pytest.raises(IntegrityError, match="damaged header"):
        decode_header(header[cut:] if cut > 0 else header[:cut], trailer)


# -- index ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("count", [0, 1, 3, 1000])
def test_index_round_trip(count: int) -> None:
    locations = _locations(count)
    encoded = encode_index(locations)
    assert encoded[:4] == INDEX_MAGIC
    assert struct.unpack("<I", encoded[4:8]) == (INDEX_VERSION,)
    assert decode_index(encoded) == locations


@pytest.mark.parametrize(
    "data", [b"", b"DSI", b"DSIX", b"DSIX\x01\x00\x00", b"XXXX\x01\x00\x00\x00"]
)
def test_an_index_without_its_magic_and_version_is_refused(data: bytes) -> None:
    with pytest.raises(IntegrityError, match="wrong magic"):
        decode_index(data)


def test_an_index_of_another_version_is_refused_but_not_as_damaged() -> None:
    """Not damage: it must never be skipped, nor replaced by a repair."""
    encoded = encode_index(_locations(2))
    newer = encoded[:4] + struct.pack("<I", RANKED_INDEX_VERSION + 1) + encoded[8:]
    with pytest.raises(StorageError, match=f"version {RANKED_INDEX_VERSION + 1}; up") as refused:
        decode_index(newer)
    assert not isinstance(refused.value, IntegrityError)


@pytest.mark.parametrize("count", [1, 3, 100])
def test_every_flipped_byte_of_an_index_body_is_refused_or_harmless(count: int) -> None:
    locations = _locations(count)
    encoded = encode_index(locations)
    refused = 0
    for at in range(8, len(encoded)):
        for bit in (0x01, 0x80):
            damaged = _flip(encoded, at, bit)
            refusal = _refusal(partial(decode_index, damaged))
            if refusal is None:
                assert decode_index(damaged) == locations, (at, bit)
            else:
                assert "index is damaged" in refusal
                refused += 1
    assert refused >= 0.95 * 2 * (len(encoded) - 8)


@pytest.mark.parametrize("count", [0, 2, 100])
def test_every_truncation_of_an_index_is_refused(count: int) -> None:
    encoded = encode_index(_locations(count))
    for keep in range(len(encoded)):
        with pytest.raises(IntegrityError):
            decode_index(encoded[:keep])


def test_an_index_with_a_partial_entry_is_refused() -> None:
    good = encode_index(_locations(2))
    raw = zstandard.ZstdDecompressor().decompress(good[8:])
    body = zstandard.ZstdCompressor(write_checksum=True).compress(raw[:-1])
    with pytest.raises(IntegrityError, match="truncated entry"):
        decode_index(good[:8] + body)


# -- deltas ---------------------------------------------------------------------------------------


def _with_bases(entries: list[PackEntry]) -> list[PackEntry]:
    """Every other entry a delta against the entry before it."""
    return [
        PackEntry(e.blob_id, 2, e.offset, e.length, e.raw_length, entries[i - 1].blob_id)
        if i % 2
        else e
        for i, e in enumerate(entries)
    ]


def test_a_pack_with_deltas_names_their_bases_in_its_own_layout() -> None:
    entries = _with_bases(_entries(5))
    header, trailer = _split(encode_header(entries))
    assert trailer[-4:] == DELTA_PACK_MAGIC
    assert decode_header(header, trailer) == entries


def test_a_pack_without_deltas_keeps_the_layout_older_readers_read() -> None:
    entries = _entries(3)
    rows = b"".join(
        struct.pack("<32sBQQQ", bytes.fromhex(e.blob_id), e.codec, e.offset, e.length, e.raw_length)
        for e in entries
    )
    header, trailer = _split(encode_header(entries))
    assert trailer[-4:] == PACK_MAGIC
    assert zstandard.ZstdDecompressor().decompress(header) == rows
    assert all(e.base is None for e in decode_header(header, trailer))


def test_an_index_with_deltas_is_version_2_and_round_trips_their_bases() -> None:
    locations = [Location(os.urandom(16).hex(), e) for e in _with_bases(_entries(6))]
    encoded = encode_index(locations)
    assert struct.unpack("<I", encoded[4:8]) == (DELTA_INDEX_VERSION,)
    assert decode_index(encoded) == locations


def test_an_index_written_by_an_older_version_still_reads() -> None:
    locations = _locations(4)
    rows = b"".join(
        struct.pack(
            "<32s16sBQQQ",
            bytes.fromhex(loc.entry.blob_id),
            bytes.fromhex(loc.pack_id),
            loc.entry.codec,
            loc.entry.offset,
            loc.entry.length,
            loc.entry.raw_length,
        )
        for loc in locations
    )
    old = b"DSIX" + struct.pack("<I", 1) + zstandard.ZstdCompressor().compress(rows)
    assert decode_index(old) == locations


def test_a_cut_index_of_version_2_is_refused_as_damaged() -> None:
    locations = [Location(os.urandom(16).hex(), e) for e in _with_bases(_entries(4))]
    encoded = encode_index(locations)
    body = zstandard.ZstdDecompressor().decompress(encoded[8:])
    cut = encoded[:8] + zstandard.ZstdCompressor().compress(body[:-10])
    with pytest.raises(IntegrityError, match="damaged"):
        decode_index(cut)


def _with_two_bases(entries: list[PackEntry]) -> list[PackEntry]:
    """The third entry a delta against the two before it, the second against the first."""
    first, second = entries[0].blob_id, entries[1].blob_id
    return [
        entries[0],
        PackEntry(second, 2, entries[1].offset, entries[1].length, entries[1].raw_length, first),
        *[
            PackEntry(e.blob_id, 2, e.offset, e.length, e.raw_length, first + second)
            for e in entries[2:]
        ],
    ]


def test_a_delta_against_two_bases_round_trips_through_a_pack_header() -> None:
    entries = _with_two_bases(_entries(4))
    header, trailer = _split(encode_header(entries))
    assert trailer[-4:] == TWO_BASES_PACK_MAGIC
    found = decode_header(header, trailer)
    assert found == entries
    assert base_ids(found[2].base) == [entries[0].blob_id, entries[1].blob_id]
    assert base_ids(found[1].base) == [entries[0].blob_id]


def test_an_index_with_a_delta_against_two_bases_is_version_3() -> None:
    """Version 2 readers would take one of its two bases for the only one: they must refuse."""
    locations = [Location(os.urandom(16).hex(), e) for e in _with_two_bases(_entries(4))]
    encoded = encode_index(locations)
    assert struct.unpack("<I", encoded[4:8]) == (TWO_BASES_INDEX_VERSION,)
    assert decode_index(encoded) == locations


def test_a_pack_of_one_base_deltas_written_before_two_bases_still_reads() -> None:
    entries = _with_bases(_entries(3))
    rows = b"".join(
        struct.pack(
            "<32sBQQQ32s",
            bytes.fromhex(e.blob_id),
            e.codec,
            e.offset,
            e.length,
            e.raw_length,
            bytes.fromhex(e.base) if e.base else bytes(32),
        )
        for e in entries
    )
    body = zstandard.ZstdCompressor().compress(rows)
    trailer = struct.pack("<II4s", len(body), len(entries), DELTA_PACK_MAGIC)
    assert decode_header(body, trailer) == entries


def test_a_rewrites_index_file_has_its_own_version_and_reads_back() -> None:
    """Readers that do not know rewrites refuse it (upgrade deltaset) rather than mix its rows
    with the ones it outranks."""
    entry = PackEntry("ab" * 32, 2, 0, 10, 10, "cd" * 32)
    rows, pairs = index_row("ef" * 16, entry), base_pair(entry)
    data = encode_index_rows(rows, pairs, ranked=True)
    assert struct.unpack("<I", data[4:8]) == (RANKED_INDEX_VERSION,)
    assert decode_index_parts(data) == (rows, pairs)
    assert encode_index_rows(rows, pairs)[4:8] != data[4:8]
