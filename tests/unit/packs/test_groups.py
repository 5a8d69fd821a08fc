"""Small whole blobs compressed together in groups: written, read byte for byte, damage found."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from deltaset.core.hashing import blob_id_of
from deltaset.errors import IntegrityError
from deltaset.packs import groups
from deltaset.packs.codec import Codec, encode_small
from deltaset.packs.format import Location
from deltaset.packs.groups import decode_group, encode_group
from deltaset.packs.ranges import coalesce
from deltaset.packs.reader import read_block, read_pack_entries
from deltaset.packs.writer import PackWriter, pack_key
from deltaset.storage.local import LocalStorage


@pytest.fixture
def storage(tmp_path: Path) -> LocalStorage:
    return LocalStorage(tmp_path / "storage")


def source_file(seed: int, size: int = 3_000) -> bytes:
    """Text like a small source file: files alike, but no two the same."""
    rng = random.Random(seed)
    words = ["def", "return", "self", "import", "class", "value", "items", "None"]
    text = "".join(f"{' '.join(rng.choices(words, k=6))}\n" for _ in range(size // 30))
    return text.encode()[:size]


def write_grouped(storage: LocalStorage, contents: list[bytes], **options: int) -> PackWriter:
    with PackWriter(storage, **options) as writer:
        for content in contents:
            writer.add(blob_id_of(content), Codec.GROUP, content, len(content))
    return writer


def read_all(storage: LocalStorage, locations: list[Location], stored: bool = False) -> dict:
    found = {}
    for block in coalesce(locations):
        for loc, data in read_block(storage, block, stored):
            found[loc.entry.blob_id] = data
    return found


def test_small_blobs_share_one_frame_and_read_back_byte_for_byte(
    storage: LocalStorage,
) -> None:
    contents = [source_file(seed) for seed in range(20)]
    writer = write_grouped(storage, contents)
    locations = writer.locations()
    assert {loc.entry.codec for loc in locations} == {Codec.GROUP}
    assert len({(loc.entry.offset, loc.entry.length) for loc in locations}) == 1
    # the frame is stored once, and smaller than the blobs compressed one by one
    one_by_one = sum(len(encode_small(c, groups.RICH_LEVEL)[1]) for c in contents)
    assert writer.stored_bytes == locations[0].entry.length < 0.9 * one_by_one
    pack_id = locations[0].pack_id
    assert read_pack_entries(storage, pack_id) == [loc.entry for loc in locations]
    assert read_all(storage, locations) == {blob_id_of(c): c for c in contents}
    # one member read alone is found in its group too
    assert read_all(storage, locations[7:8]) == {blob_id_of(contents[7]): contents[7]}


def test_members_of_equal_length_are_told_apart_by_their_hash(storage: LocalStorage) -> None:
    contents = [source_file(seed, size=2_000) for seed in range(6)]
    assert len({len(c) for c in contents}) == 1
    locations = write_grouped(storage, contents).locations()
    for loc, content in zip(locations, contents, strict=True):
        assert read_all(storage, [loc]) == {blob_id_of(content): content}


def test_a_group_closes_at_its_size_and_the_first_bytes_are_compressed_harder(
    storage: LocalStorage, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(groups, "GROUP_SIZE", 10_000)
    monkeypatch.setattr(groups, "RICH_BYTES", 10_000)
    contents = [source_file(seed) for seed in range(8)]  # 3,000 bytes each: 4 a group
    writer = write_grouped(storage, contents, group_level=1, rich_level=19)
    frames = sorted({(loc.entry.offset, loc.entry.length) for loc in writer.locations()})
    assert [length for _, length in frames] == [
        len(encode_group(contents[:4], 19)),
        len(encode_group(contents[4:], 1)),
    ]
    assert read_all(storage, writer.locations()) == {blob_id_of(c): c for c in contents}


def test_a_group_of_one_is_stored_as_a_blob_alone_and_large_blobs_are_never_grouped(
    storage: LocalStorage,
) -> None:
    small, large = source_file(1), source_file(2, size=groups.MEMBER_MAX + 10)
    assert groups.whole_form(large, 1)[0] == Codec.ZSTD
    assert groups.whole_form(small, 1) == (Codec.GROUP, small)
    writer = write_grouped(storage, [small])
    [loc] = writer.locations()
    assert loc.entry.codec == Codec.ZSTD  # the layout every earlier release reads
    assert read_all(storage, [loc]) == {blob_id_of(small): small}


def test_blobs_stored_one_by_one_and_in_groups_read_side_by_side(storage: LocalStorage) -> None:
    old = [source_file(seed) for seed in range(3)]
    with PackWriter(storage) as writer:  # as the current release stores them
        for content in old:
            writer.add(blob_id_of(content), *encode_small(content), len(content))
    new = [source_file(seed) for seed in range(10, 14)]
    grouped = write_grouped(storage, new)
    locations = writer.locations() + grouped.locations()
    assert {loc.entry.codec for loc in writer.locations()} == {Codec.ZSTD}
    assert read_all(storage, locations) == {blob_id_of(c): c for c in old + new}


def test_a_copy_is_given_a_members_raw_bytes_to_group_again(storage: LocalStorage) -> None:
    contents = [source_file(seed) for seed in range(5)]
    locations = write_grouped(storage, contents).locations()
    assert read_all(storage, locations, stored=True) == {blob_id_of(c): c for c in contents}


@pytest.mark.parametrize("where", ["frame start", "frame middle", "frame end"])
def test_a_damaged_group_is_refused_for_every_member(storage: LocalStorage, where: str) -> None:
    contents = [source_file(seed) for seed in range(5)]
    locations = write_grouped(storage, contents).locations()
    entry = locations[0].entry
    at = {"frame start": 6, "frame middle": entry.length // 2, "frame end": entry.length - 2}
    path = storage.root / pack_key(locations[0].pack_id)
    data = bytearray(path.read_bytes())
    data[entry.offset + at[where]] ^= 0x10
    path.write_bytes(bytes(data))
    for loc in locations:
        with pytest.raises(IntegrityError, match=f"The stored blob {loc.entry.blob_id} in pack"):
            read_all(storage, [loc])


def test_a_frame_whose_table_disagrees_with_its_bytes_is_damaged() -> None:
    frame = encode_group([b"alpha" * 20, b"beta" * 20], 3)
    assert decode_group(frame, "p") == [b"alpha" * 20, b"beta" * 20]
    body = groups.zstandard.ZstdDecompressor().decompress(frame)
    short = groups.zstandard.ZstdCompressor().compress(body[:-1])
    with pytest.raises(IntegrityError, match="group of blobs in the stored pack p is damaged"):
        decode_group(short, "p")


def test_incompressible_small_blobs_are_stored_raw_one_by_one(storage: LocalStorage) -> None:
    contents = [random.Random(seed).randbytes(2_000) for seed in range(10)]
    writer = write_grouped(storage, contents)
    assert {loc.entry.codec for loc in writer.locations()} == {Codec.RAW}
    assert writer.stored_bytes == 20_000
    assert read_all(storage, writer.locations()) == {blob_id_of(c): c for c in contents}


def test_a_groups_frame_is_counted_once_shared_by_raw_size(storage: LocalStorage) -> None:
    contents = [source_file(seed, size=1_000 * (1 + seed % 3)) for seed in range(9)]
    locations = write_grouped(storage, contents).locations()
    shares = groups.stored_shares(locations)
    frame = locations[0].entry.length
    assert frame - len(locations) <= sum(shares) <= frame
    assert shares[2] > shares[1] > shares[0]  # 3,000, 2,000 and 1,000 raw bytes


def test_thousands_of_tiny_files_of_one_length_share_a_group(storage: LocalStorage) -> None:
    contents = [b"%06d 0.5\n" % i for i in range(5_000)]  # 10 bytes each: raw one by one
    writer = write_grouped(storage, contents)
    locations = writer.locations()
    assert {loc.entry.codec for loc in locations} == {Codec.GROUP}
    assert writer.stored_bytes < 50_000 / 3
    assert read_all(storage, locations) == {blob_id_of(c): c for c in contents}
    assert read_all(storage, locations[4_321:4_322]) == {
        blob_id_of(contents[4_321]): contents[4_321]
    }


def test_small_blobs_that_look_random_are_stored_alone() -> None:
    photo = random.Random(3).randbytes(5_000)  # as compressed media: no group gains from it
    assert not groups.groupable(photo)
    assert groups.whole_form(photo, 1) == (Codec.RAW, photo)
    assert groups.groupable(source_file(3))
    assert not groups.groupable(b"")


def test_a_short_blob_of_distinct_bytes_is_grouped_up_to_many_values() -> None:
    """A blob shorter than MANY_VALUES bytes is grouped without counting its values; one of
    MANY_VALUES distinct bytes is the first to look random."""
    assert groups.groupable(bytes(range(groups.MANY_VALUES - 1)))
    assert not groups.groupable(bytes(range(groups.MANY_VALUES)))
    assert groups.groupable(bytes(range(groups.MANY_VALUES - 1)) * 2)
