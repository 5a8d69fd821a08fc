from __future__ import annotations

import json
import struct

import pytest
import zstandard
from hypothesis import given
from hypothesis import strategies as st

from deltaset.core.hashing import blob_id_of, external_id
from deltaset.core.manifest import (
    BYTE_PATHS_FORMAT,
    MANIFEST_FORMAT,
    Entry,
    Manifest,
    StoredManifest,
)
from deltaset.errors import StorageError
from tests.unit.properties import PROPERTY, manifests, paths, stored_manifests

A = blob_id_of(b"a")
B = blob_id_of(b"bb")


def _pack(doc: object) -> bytes:
    return zstandard.ZstdCompressor().compress(json.dumps(doc).encode())


def test_iterates_in_path_order_and_sums_sizes() -> None:
    manifest = Manifest({"z.txt": Entry(2, B), "a/b.txt": Entry(1, A), "a.txt": Entry(1, A)})
    assert list(manifest) == ["a.txt", "a/b.txt", "z.txt"]
    assert manifest.total_size == 4
    assert manifest.blob_ids() == {A, B}
    assert len(manifest) == 3
    assert manifest["z.txt"] == Entry(2, B)


@PROPERTY
@given(manifests, st.data())
def test_span_holds_exactly_the_paths_with_a_prefix(
    manifest: Manifest, data: st.DataObject
) -> None:
    path = data.draw(st.sampled_from(list(manifest)) if manifest else paths)
    prefix = path[: data.draw(st.integers(0, len(path)))]
    span = manifest.span(prefix)
    assert [manifest.path_at(at) for at in span] == [p for p in manifest if p.startswith(prefix)]


def test_empty_manifest_round_trips() -> None:
    assert Manifest.from_bytes(Manifest().to_bytes()) == Manifest()


@PROPERTY
@given(manifests)
def test_to_bytes_from_bytes_round_trip(manifest: Manifest) -> None:
    data = manifest.to_bytes()
    back = Manifest.from_bytes(data)
    assert back == manifest
    assert list(back) == list(manifest)
    assert back.to_bytes() == data


@PROPERTY
@given(manifests, manifests)
def test_serialisation_depends_only_on_content(first: Manifest, second: Manifest) -> None:
    assert (first.to_bytes() == second.to_bytes()) == (dict(first) == dict(second))


def _stored_format(manifest: Manifest) -> int:
    raw = zstandard.ZstdDecompressor().decompress(manifest.to_bytes())
    assert raw[:4] == b"DSMF"
    return int(struct.unpack("<I", raw[4:8])[0])


def test_serialised_form_carries_its_format() -> None:
    external = Entry(5, B, link="s3://bucket/a.csv", etag='"abc"')
    assert _stored_format(Manifest({"a": Entry(1, A), "b": external})) == MANIFEST_FORMAT
    # Without external files, the format earlier releases read.
    assert _stored_format(Manifest({"a": Entry(1, A)})) == MANIFEST_FORMAT - 1


def test_paths_that_are_not_utf8_round_trip_as_their_bytes_in_a_format_of_their_own() -> None:
    latin = "caf\udce9.txt"  # the name b"caf\xe9.txt", as os.fsdecode gives it
    manifest = Manifest({latin: Entry(1, A), "plain.txt": Entry(2, B)})
    assert _stored_format(manifest) == BYTE_PATHS_FORMAT
    raw = zstandard.ZstdDecompressor().decompress(manifest.to_bytes())
    assert b"caf\xe9.txt\0plain.txt" in raw  # the file's very bytes
    assert Manifest.from_bytes(manifest.to_bytes()) == manifest
    stored = StoredManifest(Manifest({"a": Entry(1, A)}), removed=(latin,), complete=False)
    raw = zstandard.ZstdDecompressor().decompress(stored.to_bytes())
    assert struct.unpack("<I", raw[4:8])[0] == BYTE_PATHS_FORMAT
    back = StoredManifest.from_bytes(stored.to_bytes())
    assert back.removed == (latin,)


def test_bytes_that_are_not_utf8_in_an_older_format_are_damage() -> None:
    raw = zstandard.ZstdDecompressor().decompress(Manifest({"caf\udce9": Entry(1, A)}).to_bytes())
    older = raw[:4] + struct.pack("<I", MANIFEST_FORMAT) + raw[8:]
    with pytest.raises(StorageError, match="damaged"):
        Manifest.from_bytes(zstandard.ZstdCompressor().compress(older))


def test_external_entries_round_trip_and_are_not_stored_ids() -> None:
    external = Entry(5, B, link="https://host/data/a b.csv", etag='W/"x1"')
    manifest = Manifest({"a.txt": Entry(1, A), "ext/a.csv": external})
    back = Manifest.from_bytes(manifest.to_bytes())
    assert back == manifest
    assert back["ext/a.csv"] == external
    assert back.stored_ids() == {A}
    assert external.stored_ids == ()
    assert back.external_count == 1
    assert [back.is_external_at(i) for i in range(2)] == [False, True]
    assert back.positions_from(0) == [0]  # external files are never chunked or uploaded
    # Cut and merged, the link column follows its files.
    assert back.sliced(1, 2)["ext/a.csv"] == external
    merged = Manifest({"0.txt": Entry(1, A)}).changed(back)
    assert merged["ext/a.csv"] == external
    assert merged.changed({}, ["a.txt"]).is_external_at(1)


def test_chunked_entries_round_trip_with_their_chunks() -> None:
    chunked = Entry(3, blob_id_of(b"abb"), (A, B))
    manifest = Manifest({"big.bin": chunked, "small.txt": Entry(1, A)})
    back = Manifest.from_bytes(manifest.to_bytes())
    assert back["big.bin"].chunks == (A, B)
    assert back["small.txt"].chunks == ()
    assert back.stored_ids() == {A, B}
    assert back.chunked() == [chunked]
    assert Manifest({"small.txt": Entry(1, A)}).chunked() == []


@pytest.mark.parametrize(
    "damaged",
    [
        b"",
        b"not zstd at all",
        Manifest({"a": Entry(1, A), "b": Entry(2, B)}).to_bytes()[:-5],
        zstandard.ZstdCompressor().compress(b"{not json"),
        zstandard.ZstdCompressor().compress(b"\xff\xfe"),
        _pack([1, 2, 3]),
        _pack("text"),
        _pack(None),
        _pack({"format": MANIFEST_FORMAT}),
        _pack({"format": MANIFEST_FORMAT, "entries": [["a", 1]]}),
        _pack({"format": MANIFEST_FORMAT, "entries": [["a", 1, A, "extra"]]}),
        _pack({"format": MANIFEST_FORMAT, "entries": 7}),
        _pack({"format": MANIFEST_FORMAT, "entries": [[["a"], 1, A]]}),
    ],
    ids=[
        "empty",
        "garbage",
        "truncated",
        "not-json",
        "not-utf8",
        "json-list",
        "json-string",
        "json-null",
        "no-entries",
        "short-row",
        "long-row",
        "entries-not-a-list",
        "unhashable-path",
    ],
)
def test_damaged_bytes_raise_storage_error(damaged: bytes) -> None:
    with pytest.raises(StorageError, match="manifest is damaged"):
        Manifest.from_bytes(damaged)


@PROPERTY
@given(st.binary(max_size=200))
def test_arbitrary_bytes_are_refused_as_storage_errors(data: bytes) -> None:
    with pytest.raises(StorageError):
        Manifest.from_bytes(data)


@PROPERTY
@given(manifests, st.data())
def test_a_flipped_byte_is_refused_or_harmless(manifest: Manifest, data: st.DataObject) -> None:
    damaged = bytearray(manifest.to_bytes())
    index = data.draw(st.integers(0, len(damaged) - 1), label="index")
    damaged[index] ^= data.draw(st.integers(1, 255), label="xor")
    try:
        read = Manifest.from_bytes(bytes(damaged))
    except StorageError:
        return
    # only bits that carry no content (such as unused frame header bits) may go unnoticed
    assert read == manifest


@pytest.mark.parametrize("fmt", [BYTE_PATHS_FORMAT + 1, 0, 1])
def test_unknown_format_is_refused(fmt: int) -> None:
    raw = zstandard.ZstdDecompressor().decompress(Manifest({"a": Entry(1, A)}).to_bytes())
    changed = raw[:4] + struct.pack("<I", fmt) + raw[8:]
    with pytest.raises(StorageError, match="does not understand; upgrade deltaset"):
        Manifest.from_bytes(zstandard.ZstdCompressor().compress(changed))


@PROPERTY
@given(manifests, manifests, st.lists(paths, max_size=5))
def test_changed_matches_a_dict_rebuild(base: Manifest, puts: Manifest, removes: list[str]) -> None:
    expected = dict(base)
    for path in removes:
        expected.pop(path, None)
    expected.update(puts)
    result = base.changed(puts, removes)
    assert dict(result) == expected
    assert list(result) == sorted(expected)
    assert result == Manifest(expected)  # columns equal too, chunks included


@PROPERTY
@given(manifests, st.integers(0, 30), st.integers(0, 30))
def test_slices_and_filters_keep_entries_and_chunks(manifest: Manifest, a: int, b: int) -> None:
    items = list(manifest.items())
    assert list(manifest.sliced(a, b).items()) == items[a:b]
    keep = list(manifest.filtered(lambda p: len(p) % 2 == 0).items())
    assert keep == [(p, e) for p, e in items if len(p) % 2 == 0]


def test_lookups_of_missing_paths() -> None:
    manifest = Manifest({"b": Entry(1, A)})
    assert "a" not in manifest
    assert "c" not in manifest
    assert 3 not in manifest
    assert manifest.get("c") is None
    assert manifest.position("b") == 0
    assert manifest.position("a") is None
    with pytest.raises(KeyError):
        manifest["a"]


def test_known_chunk_lists_are_attached_by_content_id() -> None:
    big = blob_id_of(b"abb")
    manifest = Manifest({"one": Entry(3, big), "two": Entry(3, big), "small": Entry(1, A)})
    chunked = manifest.with_chunk_lists({big: (A, B)})
    assert chunked["one"].chunks == chunked["two"].chunks == (A, B)
    assert chunked["small"].chunks == ()
    assert manifest["one"].chunks == ()  # the original is unchanged


def test_paths_out_of_order_are_damage() -> None:
    good = Manifest({"a": Entry(1, A), "b": Entry(1, B)}).to_bytes()
    raw = bytearray(zstandard.ZstdDecompressor().decompress(good))
    at = raw.index(b"a\x00b")
    raw[at : at + 3] = b"b\x00a"
    damaged = zstandard.ZstdCompressor().compress(bytes(raw))
    with pytest.raises(StorageError):
        Manifest.from_bytes(damaged)


def _format_2(manifest: Manifest) -> bytes:
    """The stored form earlier releases wrote: always whole, no flags, no removed paths."""
    paths = list(manifest)
    entries = [manifest[p] for p in paths]
    joined = "\0".join(paths).encode()
    body = b"".join(
        [
            struct.pack("<4sIIQ", b"DSMF", 2, len(paths), len(joined)),
            joined,
            b"".join(struct.pack("<Q", e.size) for e in entries),
            b"".join(bytes.fromhex(e.blob_id) for e in entries),
            b"".join(struct.pack("<I", len(e.chunks)) for e in entries),
            b"".join(bytes.fromhex(c) for e in entries for c in e.chunks),
        ]
    )
    return zstandard.ZstdCompressor(write_checksum=True).compress(body)


@PROPERTY
@given(stored_manifests)
def test_manifests_stored_by_earlier_releases_still_read(manifest: Manifest) -> None:
    assert Manifest.from_bytes(_format_2(manifest)) == manifest
    assert StoredManifest.from_bytes(_format_2(manifest)).complete


@PROPERTY
@given(manifests, manifests, st.lists(paths, max_size=5, unique=True))
def test_a_stored_change_set_round_trips_and_resolves(
    parents: Manifest, files: Manifest, removed: list[str]
) -> None:
    stored = StoredManifest(files, tuple(sorted(removed)), complete=False)
    back = StoredManifest.from_bytes(stored.to_bytes())
    assert back == stored
    assert back.resolve(parents) == parents.changed(files, removed)
    with pytest.raises(StorageError, match="change-set"):
        Manifest.from_bytes(stored.to_bytes())


def test_a_stored_manifest_cut_anywhere_is_damage_even_past_its_last_file() -> None:
    """A frame cut in its last bytes (the checksum) decoded to the whole manifest: verify
    then passed a damaged stored manifest. Bytes after the frame leave it intact."""
    manifest = Manifest({f"f{i}.txt": Entry(i, A) for i in range(50)})
    stored = manifest.to_bytes()
    for left in (len(stored) - 1, len(stored) - 4, len(stored) - 5, len(stored) // 2, 4, 1):
        with pytest.raises(StorageError, match="manifest is damaged"):
            Manifest.from_bytes(stored[:left])
    assert Manifest.from_bytes(stored + b"trailing") == manifest


def test_a_whole_stored_manifest_ignores_the_parents() -> None:
    whole = Manifest({"a": Entry(1, A)})
    assert StoredManifest(whole).resolve(Manifest({"b": Entry(2, B)})) == whole


def test_an_external_id_names_the_object_state_and_never_a_content() -> None:
    first = external_id("s3://b/a.csv", 5, "e1")
    assert first == external_id("s3://b/a.csv", 5, "e1")
    assert (
        len({first, external_id("s3://b/a.csv", 5, "e2"), external_id("s3://b/a.csv", 6, "e1")})
        == 3
    )
    assert first != blob_id_of(b"s3://b/a.csv")


@PROPERTY
@given(manifests, st.lists(st.integers(0, 30), max_size=30))
def test_picked_copies_runs_and_single_files_alike(manifest: Manifest, wanted: list[int]) -> None:
    positions = sorted({at for at in wanted if at < len(manifest)})
    items = list(manifest.items())
    picked = manifest.picked(positions)
    assert list(picked.items()) == [items[at] for at in positions]
    assert picked == Manifest(dict(items[at] for at in positions))  # chunks and links too


@PROPERTY
@given(manifests, st.lists(paths, max_size=8))
def test_positions_of_sorted_paths_are_their_positions(
    manifest: Manifest, asked: list[str]
) -> None:
    ordered = sorted(set(asked) | set(list(manifest)[::2]))
    assert list(manifest.positions_of(ordered)) == [manifest.position(p) for p in ordered]


@PROPERTY
@given(manifests)
def test_positions_of_a_manifest_sharing_the_paths_need_no_search(manifest: Manifest) -> None:
    """A draft with no parents is its own view: its files are found where they are, without a
    search per file (a close asks this of every file, several times)."""
    from deltaset.core import manifest as module

    chunked = manifest.with_chunk_lists({})  # another manifest over the same paths
    searching = module.bisect_left
    module.bisect_left = None  # type: ignore[assignment]
    try:
        assert list(manifest.positions_of(manifest)) == list(range(len(manifest)))
        assert list(manifest.positions_of(chunked)) == list(range(len(manifest)))
    finally:
        module.bisect_left = searching
    copy = Manifest(dict(manifest.items()))  # equal paths, another list: searched as before
    assert list(manifest.positions_of(copy)) == list(range(len(manifest)))


@PROPERTY
@given(manifests)
def test_column_views_agree_with_entries(manifest: Manifest) -> None:
    assert list(manifest.path_sizes()) == [(p, e.size) for p, e in manifest.items()]
    assert [(at, size, raw.hex()) for at, size, raw in manifest.sized_raw_ids()] == [
        (at, e.size, e.blob_id) for at, e in enumerate(manifest.values())
    ]
    some = range(0, len(manifest), 2)
    assert [at for at, _, _ in manifest.sized_raw_ids(some)] == list(some)
    for path, entry in manifest.items():
        assert manifest.get(path) == entry


def test_files_given_as_fields_make_the_manifest_entries_make() -> None:
    fields = [("a", 1, A, "", ""), ("b/c", 0, B, "s3://bucket/c", "etag-1")]
    made = Manifest.from_sorted_files(fields)
    assert made == Manifest.from_sorted(
        (path, Entry(size, blob_id, link=link, etag=etag))
        for path, size, blob_id, link, etag in fields
    )
    with pytest.raises(ValueError, match="out of order"):
        Manifest.from_sorted_files(reversed(fields))
