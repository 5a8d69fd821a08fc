from __future__ import annotations

import pytest

from deltaset.packs.format import Location, PackEntry
from deltaset.packs.ranges import MAX_BLOCK, MAX_GAP, Block, coalesce

PACK_A = "a" * 32
PACK_B = "b" * 32


def loc(pack_id: str, offset: int, length: int, name: str | None = None) -> Location:
    blob_id = (name or f"{pack_id[0]}{offset}").encode().hex().ljust(64, "0")
    return Location(pack_id, PackEntry(blob_id, 0, offset, length, length))


def spans(blocks: list[Block]) -> list[tuple[str, int, int, list[int]]]:
    return [(b.pack_id[0], b.start, b.end, [m.entry.offset for m in b.members]) for b in blocks]


def test_adjacent_blobs_of_one_pack_make_one_block() -> None:
    blocks = coalesce([loc(PACK_A, 0, 100), loc(PACK_A, 100, 50), loc(PACK_A, 150, 10)])
    assert spans(blocks) == [("a", 0, 160, [0, 100, 150])]
    assert blocks[0].length == 160


def test_blocks_follow_offset_order_whatever_the_order_asked() -> None:
    blocks = coalesce([loc(PACK_A, 200, 10), loc(PACK_A, 0, 100), loc(PACK_A, 100, 100)])
    assert spans(blocks) == [("a", 0, 210, [0, 100, 200])]


def test_small_gaps_are_read_through() -> None:
    blocks = coalesce([loc(PACK_A, 0, 1000), loc(PACK_A, 1500, 100)])
    assert spans(blocks) == [("a", 0, 1600, [0, 1500])]


def test_a_gap_larger_than_the_read_so_far_splits() -> None:
    """Sparse pulls never read more than about twice what they need."""
    blocks = coalesce([loc(PACK_A, 0, 100), loc(PACK_A, 300, 100)])
    assert spans(blocks) == [("a", 0, 100, [0]), ("a", 300, 400, [300])]


def test_a_gap_up_to_max_gap_is_read_through_after_a_large_read() -> None:
    blocks = coalesce([loc(PACK_A, 0, 2 * MAX_GAP), loc(PACK_A, 3 * MAX_GAP, 100)])
    assert spans(blocks) == [("a", 0, 3 * MAX_GAP + 100, [0, 3 * MAX_GAP])]


def test_a_gap_larger_than_max_gap_splits() -> None:
    blocks = coalesce([loc(PACK_A, 0, 2 * MAX_GAP), loc(PACK_A, 3 * MAX_GAP + 1, 100)])
    assert spans(blocks) == [
        ("a", 0, 2 * MAX_GAP, [0]),
        ("a", 3 * MAX_GAP + 1, 3 * MAX_GAP + 101, [3 * MAX_GAP + 1]),
    ]


@pytest.mark.parametrize(("max_gap", "merged"), [(0, False), (9, False), (10, True), (50, True)])
def test_the_gap_limit_is_a_parameter(max_gap: int, merged: bool) -> None:
    blocks = coalesce([loc(PACK_A, 0, 100), loc(PACK_A, 110, 10)], max_gap=max_gap)
    assert len(blocks) == (1 if merged else 2)


def test_blocks_split_at_max_block() -> None:
    parts = [loc(PACK_A, i * 100, 100) for i in range(10)]
    blocks = coalesce(parts, max_block=300)
    assert spans(blocks) == [
        ("a", 0, 300, [0, 100, 200]),
        ("a", 300, 600, [300, 400, 500]),
        ("a", 600, 900, [600, 700, 800]),
        ("a", 900, 1000, [900]),
    ]
    assert all(b.length <= 300 for b in blocks)


def test_default_blocks_stay_within_max_block() -> None:
    size = MAX_BLOCK // 4 + 1  # three of these exceed the limit
    blocks = coalesce([loc(PACK_A, i * size, size) for i in range(8)])
    assert [len(b.members) for b in blocks] == [3, 3, 2]
    assert all(b.length <= MAX_BLOCK for b in blocks)


def test_a_blob_larger_than_max_block_is_read_alone() -> None:
    blocks = coalesce(
        [loc(PACK_A, 0, 10), loc(PACK_A, 10, 1000), loc(PACK_A, 1010, 10)], max_block=100
    )
    assert spans(blocks) == [("a", 0, 10, [0]), ("a", 10, 1010, [10]), ("a", 1010, 1020, [1010])]


def test_different_packs_are_never_merged() -> None:
    blocks = coalesce(
        [loc(PACK_A, 0, 100), loc(PACK_B, 100, 100), loc(PACK_A, 100, 100), loc(PACK_B, 0, 100)]
    )
    assert sorted(spans(blocks)) == [("a", 0, 200, [0, 100]), ("b", 0, 200, [0, 100])]


def test_every_location_lands_in_exactly_one_block_that_covers_it() -> None:
    wanted = [loc(PACK_A if i % 3 else PACK_B, i * 1000, 100 + i) for i in range(60)]
    blocks = coalesce(wanted, max_gap=5_000, max_block=20_000)
    members = [m for b in blocks for m in b.members]
    assert sorted(members, key=repr) == sorted(wanted, key=repr)
    for block in blocks:
        for m in block.members:
            assert m.pack_id == block.pack_id
            assert block.start <= m.entry.offset
            assert m.entry.offset + m.entry.length <= block.end
        assert block.length <= 20_000


def test_nothing_asked_reads_nothing() -> None:
    assert coalesce([]) == []
