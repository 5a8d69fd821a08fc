"""PackIndex: what index files name, learned and forgotten as other processes change them."""

from __future__ import annotations

from pathlib import Path

from deltaset.packs.format import Location, PackEntry, base_pair, index_row
from deltaset.packs.index import PackIndex
from deltaset.storage.local import LocalStorage


def location(blob: int, pack: int) -> Location:
    return Location(f"{pack:032x}", PackEntry(f"{blob:064x}", 0, blob * 10, 10, 10))


def test_refresh_forgets_what_a_removed_index_file_named(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path)
    writer = PackIndex(storage)
    kept = writer.publish([location(1, 1)])
    dropped = writer.publish([location(2, 2)])
    reader = PackIndex(storage)
    reader.refresh()
    assert f"{2:064x}" in reader
    storage.delete(dropped)  # another process's gc dropped pack 2 from the index
    reader.refresh()
    assert f"{2:064x}" not in reader
    assert f"{1:064x}" in reader
    assert reader.index_keys() == {kept}


def test_packs_written_but_not_yet_indexed_survive_a_forget(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path)
    index = PackIndex(storage)
    removed = index.publish([location(1, 1)])
    index.learn_unpublished(index_row(f"{3:032x}", location(3, 3).entry))
    storage.delete(removed)
    index.refresh()
    assert f"{3:064x}" in index  # this process's session still finds what it wrote
    assert f"{1:064x}" not in index
    index.publish_rows(index_row(f"{3:032x}", location(3, 3).entry), learned=True)
    storage_view = PackIndex(storage)
    storage_view.refresh()
    assert f"{3:064x}" in storage_view


def delta(blob: int, pack: int, base: int) -> Location:
    entry = PackEntry(f"{blob:064x}", 2, blob * 10, 10, 10, f"{base:064x}")
    return Location(f"{pack:032x}", entry)


def test_another_process_learns_the_bases_of_deltas_and_their_depth(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path)
    PackIndex(storage).publish([location(1, 1), delta(2, 1, 1), delta(3, 2, 2)])
    reader = PackIndex(storage)
    reader.refresh()
    assert reader.base_of(f"{3:064x}") == f"{2:064x}"
    assert reader.base_of(f"{1:064x}") is None
    assert [reader.depth_of(f"{b:064x}") for b in (1, 2, 3)] == [0, 1, 2]
    found = reader.get(f"{3:064x}")
    assert found is not None
    assert found.entry.base == f"{2:064x}"
    assert {loc.entry.base for loc in reader.all_locations()} == {None, f"{1:064x}", f"{2:064x}"}


def test_the_bases_of_unpublished_deltas_survive_a_forget(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path)
    index = PackIndex(storage)
    removed = index.publish([location(1, 1)])
    entry = delta(2, 2, 1).entry
    index.learn_unpublished(index_row(f"{2:032x}", entry), base_pair(entry))
    storage.delete(removed)
    index.refresh()
    assert index.base_of(f"{2:064x}") == f"{1:064x}"


def test_a_rewrites_rows_win_whatever_order_the_index_files_are_read_in(tmp_path: Path) -> None:
    """Before: 1 whole, 2 a delta of 1. A rewrite: 2 whole, 1 a delta of 2. Mixing the two
    (1 against 2 against 1) would make a loop no reader gets out of."""
    storage = LocalStorage(tmp_path)
    writer = PackIndex(storage)
    writer.publish([location(1, 1), delta(2, 1, 1)])
    rank = writer.next_rank()
    assert rank == 1
    writer.publish([delta(1, 2, 2), location(2, 2)], rank=rank)
    # Ordinary index files written after the rewrite (keys sort either side of its key) and
    # read before or after it: the rewrite's rows win all the same.
    writer.publish([location(1, 3), delta(2, 3, 1)])
    writer.publish([location(1, 4), delta(2, 4, 1)])
    for reader in (PackIndex(storage), writer):
        reader.refresh()
        assert reader.base_of(f"{2:064x}") is None
        assert reader.base_of(f"{1:064x}") == f"{2:064x}"
        assert [reader.depth_of(f"{b:064x}") for b in (1, 2)] == [1, 0]
        assert reader.pack_of_raw(bytes.fromhex(f"{2:064x}")) == f"{2:032x}"
        assert not reader.holds_current(location(2, 1))
        assert reader.holds_current(location(2, 2))
    assert writer.next_rank() == 2


def test_ordinary_copies_of_a_blob_are_all_usable(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path)
    index = PackIndex(storage)
    index.publish([location(1, 1)])
    index.publish([location(1, 2)])
    assert index.holds_current(location(1, 1))
    assert index.holds_current(location(1, 2))


def test_the_index_files_naming_a_pack_are_found_without_reading_them_again(
    tmp_path: Path,
) -> None:
    storage = LocalStorage(tmp_path)
    writer = PackIndex(storage)
    first = writer.publish([location(1, 1), location(2, 2)])
    second = writer.publish([location(3, 2)])
    third = writer.publish([location(4, 3)])
    reader = PackIndex(storage)
    reader.refresh()
    assert reader.keys_naming([f"{2:032x}"]) == sorted([first, second])
    assert reader.keys_naming([f"{3:032x}", f"{1:032x}"]) == sorted([first, third])
    assert reader.keys_naming([f"{9:032x}"]) == []
    learned = reader.publish_rows(index_row(f"{5:032x}", location(5, 5).entry), learned=True)
    assert reader.keys_naming([f"{5:032x}"]) == [learned]


def test_rows_are_found_by_pack_or_by_blob_as_all_locations_gives_them(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path)
    index = PackIndex(storage)
    index.publish([location(1, 1), location(2, 1), delta(3, 2, 1)])
    index.publish([location(1, 3), location(4, 3)])
    every = index.all_locations()
    by_pack = index.rows_where(packs=[f"{1:032x}"])
    assert by_pack == [loc for loc in every if loc.pack_id == f"{1:032x}"]
    by_blob = index.rows_where(blobs=[f"{1:064x}", f"{3:064x}"])
    assert by_blob == [loc for loc in every if loc.entry.blob_id in {f"{1:064x}", f"{3:064x}"}]
    assert [loc.pack_id for loc in by_blob] == [f"{1:032x}", f"{2:032x}", f"{3:032x}"]
    assert by_blob[1].entry.base == f"{1:064x}"  # with its base, as all_locations gives it
    assert index.rows_where() == []
