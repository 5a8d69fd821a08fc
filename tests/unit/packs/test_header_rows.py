"""Index rows built straight from a pack's header (as a close sends a draft's staged packs)
are the rows the entries decoded from that header make, whatever the pack holds."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from deltaset.core.hashing import blob_id_of
from deltaset.errors import IntegrityError
from deltaset.packs.codec import Codec, encode_delta
from deltaset.packs.format import TRAILER_SIZE, base_pair, header_rows, header_size, index_row
from deltaset.packs.groups import whole_form
from deltaset.packs.reader import read_pack_entries, read_pack_rows
from deltaset.packs.writer import PackWriter, pack_id_of, pack_key
from deltaset.storage.local import LocalStorage

BASE = os.urandom(3_000)
OTHER_BASE = os.urandom(3_000)


def _whole_blobs(writer: PackWriter) -> None:
    """Raw, zstd and grouped blobs, as a draft's staging store holds them."""
    contents = [os.urandom(500), b"compressible " * 20_000]
    contents += [f"tiny file {i}\n".encode() * 3 for i in range(40)]  # grouped
    writer.add_many((blob_id_of(data), *whole_form(data, 3), len(data)) for data in contents)


def _delta(writer: PackWriter, *bases: bytes) -> None:
    data = BASE[:2_000] + b"an edit" + OTHER_BASE[:900]
    writer.add(
        blob_id_of(data),
        Codec.DELTA,
        encode_delta(data, b"".join(bases)),
        len(data),
        "".join(blob_id_of(b) for b in bases),
    )


def _pack(tmp_path: Path, *bases: bytes) -> tuple[LocalStorage, str]:
    """The one pack of whole blobs (and of a delta against ``bases``, when given)."""
    storage = LocalStorage(tmp_path / "staging")
    with PackWriter(storage, make_rows=False) as writer:
        _whole_blobs(writer)
        if bases:
            _delta(writer, *bases)
    (key,) = storage.list("packs/")
    pack_id = pack_id_of(key)
    assert pack_id is not None
    return storage, pack_id


@pytest.mark.parametrize(
    "bases", [(), (BASE,), (BASE, OTHER_BASE)], ids=["whole", "delta", "two-bases"]
)
def test_rows_from_a_header_are_the_rows_of_its_decoded_entries(
    tmp_path: Path, bases: tuple[bytes, ...]
) -> None:
    storage, pack_id = _pack(tmp_path, *bases)
    entries = read_pack_entries(storage, pack_id)
    assert {e.codec for e in entries} >= {Codec.RAW, Codec.ZSTD, Codec.GROUP}
    assert sum(1 for e in entries if e.base) == (1 if bases else 0)

    found = read_pack_rows(storage, pack_id)

    assert found.raw_ids == [bytes.fromhex(e.blob_id) for e in entries]
    assert found.rows == b"".join(index_row(pack_id, e) for e in entries)
    assert found.pairs == b"".join(base_pair(e) for e in entries)
    assert len(found.pairs) == 64 * len(bases)


def test_rows_from_a_header_are_the_rows_its_writer_made(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path / "storage")
    with PackWriter(storage) as writer:
        _whole_blobs(writer)
        _delta(writer, BASE, OTHER_BASE)
    (key,) = storage.list("packs/")
    pack_id = pack_id_of(key)
    assert pack_id is not None

    found = read_pack_rows(storage, pack_id)

    assert (found.rows, found.pairs) == (bytes(writer.written), bytes(writer.pairs))


def test_a_damaged_header_gives_no_rows(tmp_path: Path) -> None:
    storage, pack_id = _pack(tmp_path, BASE)
    data = storage.get_bytes(pack_key(pack_id))
    trailer = data[-TRAILER_SIZE:]
    header = bytearray(data[-TRAILER_SIZE - header_size(trailer) : -TRAILER_SIZE])
    assert header_rows(pack_id, bytes(header), trailer).rows
    header[len(header) // 2] ^= 0xFF
    with pytest.raises(IntegrityError):
        header_rows(pack_id, bytes(header), trailer)
