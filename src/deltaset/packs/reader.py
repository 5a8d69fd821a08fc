"""Reading blobs out of packs: ranged reads, coalesced, with every blob checked by hash."""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from deltaset.core.hashing import blob_id_of
from deltaset.errors import IntegrityError
from deltaset.packs.codec import Codec, decode
from deltaset.packs.format import (
    TRAILER_SIZE,
    HeaderRows,
    Location,
    PackEntry,
    base_ids,
    decode_header,
    header_rows,
    header_size,
)
from deltaset.packs.groups import GroupCache
from deltaset.packs.ranges import Block
from deltaset.packs.writer import pack_key
from deltaset.storage.base import Storage


def read_block(
    storage: Storage,
    block: Block,
    stored: bool = False,
    bases: Mapping[str, bytes] | None = None,
    check: bool = True,
) -> Iterator[tuple[Location, bytes]]:
    """Each blob of ``block``, from one ranged read, with its raw bytes, checked against its
    hash; with ``stored``, its stored payload instead (checked all the same), but for a blob
    of a group (which shares its frame with others), whose raw bytes are given: copied, it is
    grouped again. ``bases``: the raw bytes of the bases of the block's deltas. Without
    ``check``, the raw bytes are not hashed: for a base only, which the hash of every blob
    rebuilt from it checks in turn (a blob of a group is found by its hash all the same)."""
    data = storage.read_range(pack_key(block.pack_id), block.start, block.length)
    if len(data) != block.length:
        raise IntegrityError(f"The stored pack {block.pack_id} is shorter than its index says.")
    groups = GroupCache()
    view = memoryview(data)
    for loc in block.members:
        start = loc.entry.offset - block.start
        if loc.entry.codec == Codec.GROUP:  # a view: the frame is shared by every member
            yield loc, verified(loc, view[start : start + loc.entry.length], None, groups)
            continue
        payload = data[start : start + loc.entry.length]
        base = _base_bytes(loc.entry, bases)
        raw = verified(loc, payload, base) if check else rebuilt(loc, payload, base)
        yield loc, payload if stored else raw


def _base_bytes(entry: PackEntry, bases: Mapping[str, bytes] | None) -> bytes | None:
    """The raw bytes a delta is rebuilt from: those of its bases, joined in order."""
    if bases is None or not entry.base:
        return None
    found = [bases.get(base) for base in base_ids(entry.base)]
    return None if any(part is None for part in found) else b"".join(p or b"" for p in found)


def verified(
    loc: Location,
    payload: bytes | memoryview,
    base: bytes | None = None,
    groups: GroupCache | None = None,
) -> bytes:
    """The raw bytes of a blob from its stored ``payload`` (and its base's raw bytes, for a
    delta; for a blob of a group, ``payload`` is the group's frame, decoded once per
    ``groups``), checked against its hash."""
    entry = loc.entry
    if entry.codec == Codec.GROUP:
        try:
            found = (groups or GroupCache()).member(
                loc.pack_id, entry.offset, payload, entry.blob_id, entry.raw_length
            )
        except IntegrityError as exc:
            raise IntegrityError(
                f"The stored blob {entry.blob_id} in pack {loc.pack_id} is damaged: the group "
                "of blobs holding it does not decode."
            ) from exc
        if found is None:
            raise _mismatch(loc)
        return found
    raw = rebuilt(loc, bytes(payload), base)
    if blob_id_of(raw) != entry.blob_id:
        raise _mismatch(loc)
    return raw


def rebuilt(loc: Location, payload: bytes, base: bytes | None = None) -> bytes:
    """:func:`verified` without hashing the raw bytes (their length is checked)."""
    entry = loc.entry
    raw = decode(entry.codec, payload, entry.raw_length, entry.blob_id, base)
    if len(raw) != entry.raw_length:
        raise _mismatch(loc)
    return raw


def _mismatch(loc: Location) -> IntegrityError:
    return IntegrityError(
        f"The stored blob {loc.entry.blob_id} in pack {loc.pack_id} does not match its hash."
    )


def read_pack_entries(storage: Storage, pack_id: str) -> list[PackEntry]:
    """The entries of a pack, from its own header (no index needed)."""
    return decode_header(*_read_header(storage, pack_id))


def read_pack_rows(storage: Storage, pack_id: str) -> HeaderRows:
    """The index rows (and base pairs) of a pack's blobs, from its own header: what
    :func:`read_pack_entries` gives, made into rows without an entry per blob."""
    return header_rows(pack_id, *_read_header(storage, pack_id))


def _read_header(storage: Storage, pack_id: str) -> tuple[bytes, bytes]:
    """A pack's compressed header and its trailer."""
    key = pack_key(pack_id)
    size = storage.size(key)
    if size < TRAILER_SIZE:
        raise IntegrityError(f"The stored pack {pack_id} is truncated.")
    trailer = storage.read_range(key, size - TRAILER_SIZE, TRAILER_SIZE)
    length = header_size(trailer)
    if length > size - TRAILER_SIZE:
        raise IntegrityError(f"The stored pack {pack_id} is truncated.")
    header = storage.read_range(key, size - TRAILER_SIZE - length, length)
    return header, trailer
