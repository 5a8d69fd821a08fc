"""Small whole blobs stored together: one zstd frame holding several blobs (a *group*).

Compressed one by one, small files compress poorly: zstd learns nothing from one file for the
next, and each frame pays its own header. Compressed as one stream, the files of source releases
store 15-30 % less, and faster (1.59 MB of 5.2 MB one by one at level 9, 1.37 MB in groups;
level 3 in groups stores less than level 1 alone at twice its speed).

A group frame decompresses to ``u32 count || count x u32 raw length || the members' raw bytes``
(little endian), the members in that order. Each member's pack entry and index row has the codec
:data:`~deltaset.packs.codec.Codec.GROUP` and the offset and length of the whole frame; its
slice is the one whose bytes hash to its id (every read checks that anyway: a group is hashed
once when decoded), so no row says more than a whole blob's does.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence

import zstandard

from deltaset.core.hashing import blob_id_of
from deltaset.errors import IntegrityError
from deltaset.packs.codec import Codec, encode_small
from deltaset.packs.format import Location

# Whole files smaller than this are grouped (chunks never are: a random read of a large file,
# or a delta's base, reads one chunk alone). Grouping pays most for the smallest files (a frame
# and its tables each, learning nothing from the others); files of tens of KB compress about
# as well alone, and faster (zstd's tables sized for them stay in cache). On 5,000 files of
# 1-64 KiB of generated text and random bytes, grouping those under 32 KiB stored as much as
# level 1 one by one for 5 % more time (under 64 KiB: 46 % more); on source releases, 16 %
# less.
MEMBER_MAX = 32 * 1024
# A group is closed once its members' raw bytes reach this: a read of one member (a delta's
# base, one file of a version) decodes, and hashes, at most about this much.
GROUP_SIZE = 256 * 1024
# Of a blob's first SAMPLE bytes, this many distinct byte values or more say it is compressed
# or random (a photo: about 220 of 256 in 512 bytes; text: under 100) and is stored alone:
# mixed into a group, its bytes spoil the statistics zstd compresses the others' with.
SAMPLE = 512
MANY_VALUES = 200
# A group's frame decompresses to at most this: more is a damaged frame.
MAX_GROUP_RAW = 4 * (GROUP_SIZE + MEMBER_MAX)
# Groups are compressed at this level at least: zstd's level 3 on a group is faster than level
# 1 one blob at a time (234 against 117 MB/s on source files) and stores 15 % less.
LEVEL = 3
# The first RICH_BYTES raw bytes of groups a writer makes are compressed at RICH_LEVEL at
# least (40 MB/s: 0.03 CPU seconds more at most a writer), so a small history, where a version
# is mostly a few hundred KB of small files, stores them 10 % smaller again.
RICH_LEVEL = 9
RICH_BYTES = 1024 * 1024
_COUNT = struct.Struct("<I")


def groupable(raw: bytes) -> bool:
    """Whether the whole blob ``raw`` is stored in a group: small, and not looking random."""
    size = len(raw)
    # Fewer bytes than MANY_VALUES cannot hold as many values: no set made of a tiny file's
    # bytes (2 µs each, a few seconds of an add of a million).
    return 0 < size < MEMBER_MAX and (size < MANY_VALUES or len(set(raw[:SAMPLE])) < MANY_VALUES)


def encode_group(members: Sequence[bytes], level: int) -> bytes:
    """The frame of a group of ``members`` (raw bytes, in order)."""
    table = _COUNT.pack(len(members)) + struct.pack(f"<{len(members)}I", *map(len, members))
    return zstandard.ZstdCompressor(level=level).compress(table + b"".join(members))


def decode_group(frame: bytes | memoryview, pack_id: str) -> list[bytes]:
    """The raw bytes of the members of a group ``frame``, in order; IntegrityError when it is
    damaged."""
    try:
        body = zstandard.ZstdDecompressor().decompress(frame, max_output_size=MAX_GROUP_RAW)
        (count,) = _COUNT.unpack_from(body)
        sizes = struct.unpack_from(f"<{count}I", body, _COUNT.size)
    except (zstandard.ZstdError, MemoryError, struct.error) as exc:
        raise IntegrityError(f"A group of blobs in the stored pack {pack_id} is damaged.") from exc
    at = _COUNT.size * (count + 1)
    if at + sum(sizes) != len(body):
        raise IntegrityError(f"A group of blobs in the stored pack {pack_id} is damaged.")
    members = []
    for size in sizes:
        members.append(body[at : at + size])
        at += size
    return members


class GroupCache:
    """The groups one read decoded, by the frame's place in its pack: the members of a group
    read together decode it once, and each member is hashed once at most, when a lookup
    reaches it (a group of tiny files holds thousands, many of one length)."""

    def __init__(self) -> None:
        self._decoded: dict[tuple[str, int, int], _Decoded] = {}

    def member(
        self, pack_id: str, offset: int, frame: bytes | memoryview, blob_id: str, raw_length: int
    ) -> bytes | None:
        """The member of the group ``frame`` of ``raw_length`` bytes hashing to ``blob_id``
        (None when none does); IntegrityError when the frame is damaged."""
        key = (pack_id, offset, len(frame))
        if key not in self._decoded:
            self._decoded[key] = _Decoded(decode_group(frame, pack_id))
        return self._decoded[key].find(blob_id, raw_length)


class _Decoded:
    """The members of one decoded group: those hashed so far by id, the others by length."""

    def __init__(self, members: list[bytes]) -> None:
        self.hashed: dict[str, bytes] = {}
        self.unhashed: dict[int, list[bytes]] = {}
        for data in reversed(members):  # popped from the end: in order
            self.unhashed.setdefault(len(data), []).append(data)

    def find(self, blob_id: str, raw_length: int) -> bytes | None:
        found = self.hashed.get(blob_id)
        left = self.unhashed.get(raw_length, [])
        while found is None and left:
            data = left.pop()
            self.hashed[blob_id_of(data)] = data
            found = self.hashed.get(blob_id)
        return found


def whole_form(raw: bytes, level: int) -> tuple[Codec, bytes]:
    """How a :class:`~deltaset.packs.writer.PackWriter` is given a whole blob: raw, to group,
    when it is small, else as :func:`~deltaset.packs.codec.encode_small` stores it."""
    return (Codec.GROUP, raw) if groupable(raw) else encode_small(raw, level)


def stored_shares(locations: Sequence[Location]) -> list[int]:
    """The stored bytes each of ``locations`` accounts for: its payload's length, but for a
    member of a group, its share of the group's frame by raw size (a frame counted once)."""
    totals: dict[tuple[str, int], int] = {}
    for loc in locations:
        if loc.entry.codec == Codec.GROUP:
            place = (loc.pack_id, loc.entry.offset)
            totals[place] = totals.get(place, 0) + loc.entry.raw_length
    found = []
    for loc in locations:
        entry = loc.entry
        if entry.codec == Codec.GROUP:
            total = max(1, totals[loc.pack_id, entry.offset])
            found.append(entry.length * entry.raw_length // total)
        else:
            found.append(entry.length)
    return found
