"""Squash, compare, pack counts and lineage through the Python API."""

from __future__ import annotations

from pathlib import Path

import pytest

from deltaset import Dataset
from deltaset.errors import NotFoundError, StateError
from tests.api.helpers import version_of
from tests.conftest import make_files, read_tree, stored_blob_ids


def test_compare_lists_added_modified_and_removed_files_with_sizes(tmp_path: Path) -> None:
    old = version_of(tmp_path, {"same.txt": "s", "edit.txt": "12", "gone.txt": "xyz"})
    new = version_of(
        tmp_path, {"same.txt": "s", "edit.txt": "12345", "new/a.txt": "abcd"}, parents=[old.id]
    )
    found = Dataset.compare(old.id, new)
    assert found["source"] == old.id
    assert found["target"] == new.id
    assert found["added"] == [{"path": "new/a.txt", "size": 4}]
    assert found["modified"] == [{"path": "edit.txt", "size": 5, "source_size": 2}]
    assert found["removed"] == [{"path": "gone.txt", "source_size": 3}]
    backwards = Dataset.compare(new, old.id)
    assert backwards["added"] == [{"path": "gone.txt", "size": 3}]
    assert backwards["removed"] == [{"path": "new/a.txt", "source_size": 4}]
    assert Dataset.compare(old.id, old.id) == {
        "source": old.id,
        "target": old.id,
        "added": [],
        "modified": [],
        "removed": [],
    }


def test_compare_of_unrelated_versions_and_of_a_draft(tmp_path: Path) -> None:
    one = version_of(tmp_path, {"a.txt": "a", "b.txt": "b"}, name="one")
    other = version_of(tmp_path, {"b.txt": "B!", "c.txt": "c"}, name="other")
    draft = Dataset.create(dataset_name="d", dataset_project="p", parent_datasets=[one.id])
    draft.remove_files("a.txt")
    assert Dataset.compare(one.id, other.id)["modified"] == [
        {"path": "b.txt", "size": 2, "source_size": 1}
    ]
    assert Dataset.compare(one.id, draft.id)["removed"] == [{"path": "a.txt", "source_size": 1}]
    with pytest.raises(NotFoundError):
        Dataset.compare(one.id, "0" * 32)


def test_squash_replays_every_ancestor_so_removals_stay_removed(tmp_path: Path) -> None:
    root = version_of(tmp_path, {"keep.txt": "k", "drop.txt": "d", "edit.txt": "v1"}, name="r")
    child = Dataset.create(dataset_name="r", parent_datasets=[root.id])
    child.remove_files("drop.txt")
    child.add_files(str(make_files(tmp_path / "c", {"edit.txt": "v2", "more.txt": "m"})))
    child.finalize(auto_upload=True)
    side = version_of(tmp_path, {"side.txt": "s"}, name="side")
    before = stored_blob_ids(root.get_default_storage())
    squashed = Dataset.squash("flat", dataset_ids=[child.id, side])
    assert squashed.is_final()
    assert squashed.parents == []
    assert squashed.project == "p"
    assert squashed.get_dependency_graph() == {squashed.id: []}
    assert read_tree(Path(squashed.get_local_copy())) == {
        "keep.txt": b"k",
        "edit.txt": b"v2",
        "more.txt": b"m",
        "side.txt": b"s",
    }
    assert stored_blob_ids(root.get_default_storage()) == before  # no byte stored again
    assert squashed.record.stats.stored_bytes == 0


def test_squash_applies_later_versions_over_earlier_ones(tmp_path: Path) -> None:
    a = version_of(tmp_path, {"x.txt": "from a", "a.txt": "a"}, name="a")
    b = version_of(tmp_path, {"x.txt": "from b"}, name="b")
    assert read_tree(Path(Dataset.squash("ab", [a.id, b.id]).get_local_copy())) == {
        "x.txt": b"from b",
        "a.txt": b"a",
    }
    by_name = Dataset.squash("ba", dataset_project_name_pairs=[("p", "b"), ("p", "a")])
    assert read_tree(Path(by_name.get_local_copy()))["x.txt"] == b"from a"


def test_squash_of_a_diamond_keeps_both_sides(tmp_path: Path) -> None:
    root = version_of(tmp_path, {"base.txt": "b", "old.txt": "o"}, name="root")
    left = Dataset.create(dataset_name="left", parent_datasets=[root.id])
    left.remove_files("old.txt")
    left.finalize()
    right = Dataset.create(dataset_name="right", parent_datasets=[root.id])
    right.add_files(str(make_files(tmp_path / "r", {"right.txt": "r"})))
    right.finalize(auto_upload=True)
    merged = Dataset.squash("flat", [left.id, right.id])
    # right still holds old.txt, but only because it inherited it: left's removal stands
    assert read_tree(Path(merged.get_local_copy())) == {"base.txt": b"b", "right.txt": b"r"}


def test_squash_into_another_storage_copies_what_it_lacks(tmp_path: Path) -> None:
    big = bytes(range(256)) * 12_000  # chunked: above the chunking threshold
    source = version_of(tmp_path, {"big.bin": big, "small.txt": "s"}, name="src")
    other = tmp_path / "other-storage"
    squashed = Dataset.squash("copy", [source.id], output_url=str(other))
    assert squashed.get_default_storage().startswith("file://")
    assert Path(squashed.get_default_storage().removeprefix("file://")) == other.resolve()
    assert squashed.verify_storage() > 0
    assert read_tree(Path(squashed.get_local_copy())) == {"big.bin": big, "small.txt": b"s"}


def test_squash_refuses_a_draft_and_can_leave_its_result_open(tmp_path: Path) -> None:
    done = version_of(tmp_path, {"a.txt": "a"})
    draft = Dataset.create(dataset_name="d", dataset_project="p")
    with pytest.raises(StateError, match="draft"):
        Dataset.squash("x", [draft.id])
    left_open = Dataset.squash("open", [done.id], close_squashed_dataset=False)
    assert not left_open.is_final()
    assert left_open.list_files() == ["a.txt"]
    left_open.finalize()
    assert read_tree(Path(left_open.get_local_copy())) == {"a.txt": b"a"}


def test_num_chunks_counts_the_packs_holding_a_version(tmp_path: Path) -> None:
    files = {f"f{i}.bin": bytes([i]) * 3000 for i in range(20)}
    folder = make_files(tmp_path / "many", files)
    ds = Dataset.create(dataset_name="n", dataset_project="p")
    ds.add_files(str(folder))
    ds.upload(chunk_size=-1)
    ds.finalize()
    assert ds.get_num_chunks() == 1
    child = Dataset.create(dataset_name="n", parent_datasets=[ds.id])
    child.add_files(str(make_files(tmp_path / "more", {"new.bin": b"n" * 5000})))
    child.finalize(auto_upload=True)
    assert child.get_num_chunks() == 2
    assert child.get_num_chunks(include_parents=False) == 1
