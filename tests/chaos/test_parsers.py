"""The parsers of what storage holds (manifests, pack headers and trailers, index files) fed
generated and mutated bytes: each either decodes or raises a DeltasetError, never anything
else (a hang would trip the suite's timeout). ``bench/chaos.py --fuzz N`` runs more examples."""

from __future__ import annotations

import os
import struct
from contextlib import suppress

import pytest
import zstandard
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from deltaset.core import manifest as manifest_module
from deltaset.core.manifest import MANIFEST_FORMAT, Manifest, StoredManifest
from deltaset.errors import DeltasetError
from deltaset.packs.format import (
    TRAILER_SIZE,
    Location,
    PackEntry,
    decode_header,
    decode_index,
    encode_header,
    encode_index,
)
from deltaset.packs.reader import read_pack_entries
from deltaset.storage.local import LocalStorage
from tests.unit.properties import manifests

pytestmark = pytest.mark.chaos

EXAMPLES = int(os.environ.get("DELTASET_FUZZ_EXAMPLES", "150"))
FUZZ = settings(
    database=None,
    deadline=None,
    max_examples=EXAMPLES,
    suppress_health_check=list(HealthCheck),
)

_ENTRY = PackEntry("ab" * 32, 1, 0, 10, 20)
HEADER = encode_header([_ENTRY, PackEntry("cd" * 32, 0, 10, 5, 5)])
INDEX = encode_index([Location("ef" * 16, _ENTRY)])


def parses_or_refuses(parse: object, *args: object) -> None:
    with suppress(DeltasetError):
        parse(*args)  # type: ignore[operator]


def mutated(data: bytes) -> st.SearchStrategy[bytes]:
    """``data`` with a few bytes flipped, cut or inserted."""

    def apply(edits: list[tuple[int, int, int]]) -> bytes:
        out = bytearray(data)
        for kind, at, value in edits:
            at = at % (len(out) + 1)
            if kind == 0 and at < len(out):
                out[at] ^= value or 1
            elif kind == 1:
                del out[at:]
            else:
                out[at:at] = bytes([value])
        return bytes(out)

    edit = st.tuples(st.integers(0, 2), st.integers(0, 1 << 16), st.integers(0, 255))
    return st.lists(edit, min_size=1, max_size=4).map(apply)


@FUZZ
@given(st.binary(max_size=400))
def test_a_manifest_of_random_bytes(data: bytes) -> None:
    parses_or_refuses(StoredManifest.from_bytes, data)


@FUZZ
@given(
    st.sampled_from(
        [
            2,
            manifest_module._FORMAT_WITHOUT_LINKS,
            MANIFEST_FORMAT,
            manifest_module.BYTE_PATHS_FORMAT,
        ]
    ),
    st.binary(max_size=400),
)
def test_a_manifest_of_random_layout(version: int, raw: bytes) -> None:
    """Past the zstd checksum and the magic: the layout itself is what is damaged."""
    data = zstandard.ZstdCompressor().compress(b"DSMF" + struct.pack("<I", version) + raw)
    parses_or_refuses(StoredManifest.from_bytes, data)


@FUZZ
@given(manifests, st.data())
def test_a_mutated_manifest(manifest: Manifest, data: st.DataObject) -> None:
    stored = manifest.to_bytes()
    parses_or_refuses(StoredManifest.from_bytes, data.draw(mutated(stored)))
    raw = zstandard.ZstdDecompressor().decompress(stored)  # the layout, not the frame, damaged
    damaged = zstandard.ZstdCompressor().compress(data.draw(mutated(raw)))
    parses_or_refuses(StoredManifest.from_bytes, damaged)


@FUZZ
@given(st.one_of(mutated(HEADER + b""), st.binary(max_size=200)))
def test_a_damaged_pack_header(data: bytes) -> None:
    if len(data) >= TRAILER_SIZE:
        parses_or_refuses(decode_header, data[:-TRAILER_SIZE], data[-TRAILER_SIZE:])
    else:
        parses_or_refuses(decode_header, b"", data)


@FUZZ
@given(st.one_of(mutated(INDEX), st.binary(max_size=200)))
def test_a_damaged_index_file(data: bytes) -> None:
    parses_or_refuses(decode_index, data)


@FUZZ
@given(st.binary(max_size=300), st.data())
def test_a_damaged_pack_read_from_storage(payload: bytes, data: st.DataObject) -> None:
    """A whole pack object (payload, header, trailer) damaged anywhere, read as gc and the
    fallback of a damaged index read it."""
    import tempfile
    from pathlib import Path

    pack = data.draw(mutated(payload + HEADER))
    with tempfile.TemporaryDirectory() as root:
        key = Path(root, "packs", "ab", "ab" * 16 + ".pack")
        key.parent.mkdir(parents=True)
        key.write_bytes(pack)
        parses_or_refuses(read_pack_entries, LocalStorage(Path(root)), "ab" * 16)
