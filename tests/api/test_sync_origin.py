"""``sync_folder`` of a writable copy diffs it against the version it was copied from, and a new
version with parents goes where its first parent is."""

from __future__ import annotations

from pathlib import Path

import pytest

from deltaset import Dataset
from deltaset.errors import StateError
from tests.api.helpers import version_of
from tests.conftest import make_files, read_tree

FILES: dict[str, bytes | str] = {"keep": "k", "old1": "1", "old2": "2", "edit": "e"}


def paths(ds: Dataset) -> list[str]:
    return sorted(e.relative_path for e in ds.file_entries)


def test_a_copy_synced_onto_a_newer_version_is_refused_unless_rebased(tmp_path: Path) -> None:
    first = version_of(tmp_path, FILES)
    mine = Path(first.get_mutable_local_copy(str(tmp_path / "mine")))
    newer = Dataset.create("n", "p", parent_datasets=[first])  # a teammate removes two files
    newer.remove_files("old*")
    newer.finalize(auto_upload=True)
    make_files(mine, {"edit": "mine", "new": "n"})
    draft = Dataset.create("n", "p", parent_datasets=[newer])
    with pytest.raises(StateError, match=r"copied from p/n 1\.0\.0.*rebase=True"):
        draft.sync_folder(str(mine))
    assert draft.sync_folder(str(mine), rebase=True) == (0, 1, 1)
    assert paths(draft) == ["edit", "keep", "new"]  # old1 and old2 stay removed
    assert draft.list_removed_files() == []


def test_a_copy_synced_onto_its_own_version_is_mirrored(tmp_path: Path) -> None:
    first = version_of(tmp_path, FILES)
    mine = Path(first.get_mutable_local_copy(str(tmp_path / "mine")))
    assert (mine / ".deltaset" / "origin.json").is_file()
    (mine / "old1").unlink()
    make_files(mine, {"new": "n"})
    draft = Dataset.create("n", "p", parent_datasets=[first])
    assert draft.sync_folder(str(mine)) == (1, 1, 0)
    draft.finalize(auto_upload=True)
    assert read_tree(Path(draft.get_local_copy())) == read_tree(mine)  # no marker as data
    # The folder's origin is the version it was synced into now: no rebase needed.
    make_files(mine, {"newer": "n"})
    after = Dataset.create("n", "p", parent_datasets=[draft])
    assert after.sync_folder(str(mine)) == (0, 1, 0)


def test_a_change_undone_between_two_syncs_of_one_draft_is_undone(tmp_path: Path) -> None:
    first = version_of(tmp_path, FILES)
    mine = Path(first.get_mutable_local_copy(str(tmp_path / "mine")))
    draft = Dataset.create("n", "p", parent_datasets=[first])
    make_files(mine, {"edit": "changed", "extra": "x"})
    draft.sync_folder(str(mine))
    make_files(mine, {"edit": "e"})  # back to what the parent holds
    (mine / "extra").unlink()
    draft.sync_folder(str(mine))
    assert draft.list_modified_files() == []
    assert draft.list_added_files() == []


def test_a_copy_of_another_dataset_starts_a_new_one_as_it_is(tmp_path: Path) -> None:
    first = version_of(tmp_path, FILES)
    mine = Path(first.get_mutable_local_copy(str(tmp_path / "mine")))
    (mine / "old1").unlink()
    fresh = Dataset.create("small", "p")
    assert fresh.sync_folder(str(mine)) == (0, 3, 0)


def test_a_child_goes_to_its_first_parents_storage(tmp_path: Path) -> None:
    first = Dataset.create("a", "p", output_uri=str(tmp_path / "one"))
    first.finalize()
    second = Dataset.create("b", "p", output_uri=str(tmp_path / "two"))
    second.finalize()
    child = Dataset.create("c", "p", parent_datasets=[first, second])
    assert child.get_default_storage() == (tmp_path / "one").as_uri()
    told = Dataset.create("d", "p", parent_datasets=[first], output_uri=str(tmp_path / "two"))
    assert told.get_default_storage() == (tmp_path / "two").as_uri()


def test_the_origin_marker_is_never_added_as_data(tmp_path: Path) -> None:
    first = version_of(tmp_path, FILES)
    mine = Path(first.get_mutable_local_copy(str(tmp_path / "outer" / "mine")))
    assert (mine / ".deltaset" / "origin.json").is_file()
    outer = Dataset.create("outer", "p")
    assert outer.add_files(str(tmp_path / "outer")) == len(FILES)  # at any depth
    assert outer.add_files(str(mine)) == len(FILES)  # or at the root
    assert not [p for p in paths(outer) if ".deltaset" in p]
