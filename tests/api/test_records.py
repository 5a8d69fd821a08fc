"""Publishing, describing, renaming and moving datasets: in the catalog, and in the records
kept in storage, so a catalog rebuilt from storage shows the same."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from deltaset import Dataset
from deltaset.errors import NotFoundError, StateError
from deltaset.storage import open_storage
from deltaset.storage.layout import record_key
from tests.conftest import make_files


def closed(tmp_path: Path, name: str = "n", project: str = "p", **kwargs: object) -> Dataset:
    ds = Dataset.create(dataset_name=name, dataset_project=project, **kwargs)  # type: ignore[arg-type]
    ds.add_files(str(make_files(tmp_path / f"src-{ds.id}", {"a.txt": ds.id})))
    ds.finalize(auto_upload=True)
    return ds


def stored_record(ds: Dataset) -> dict[str, object]:
    storage = open_storage(ds.get_default_storage())
    return dict(json.loads(storage.get_bytes(record_key(ds.id))))


def test_publish_a_final_version_only(tmp_path: Path) -> None:
    draft = Dataset.create(dataset_name="n", dataset_project="p")
    with pytest.raises(StateError, match="still a draft"):
        draft.publish()
    assert draft.publish(raise_on_error=False) is False
    ds = closed(tmp_path)
    assert ds.publish() is True
    assert ds.publish() is True  # twice is harmless
    assert Dataset.get(dataset_id=ds.id).is_published()
    assert stored_record(ds)["state"] == "published"
    found = Dataset.get(dataset_project="p", dataset_name="n", only_published=True)
    assert found.id == ds.id


def test_set_description_of_a_version(tmp_path: Path) -> None:
    ds = closed(tmp_path)
    ds.set_description("cleaned labels")
    assert Dataset.get(dataset_id=ds.id).description == "cleaned labels"
    assert stored_record(ds)["description"] == "cleaned labels"


def test_rename_and_move_take_every_version_along(tmp_path: Path) -> None:
    first = closed(tmp_path)
    second = closed(tmp_path, parent_datasets=[first.id])
    other = closed(tmp_path, name="other")
    Dataset.rename("renamed", dataset_project="p", dataset_name="n")
    Dataset.move_to_project("q/sub", dataset_project="p", dataset_name="renamed")
    for ds in (first, second):
        found = Dataset.get(dataset_id=ds.id)
        assert (found.project, found.name) == ("q/sub", "renamed")
        assert (stored_record(ds)["project"], stored_record(ds)["name"]) == ("q/sub", "renamed")
    assert Dataset.get(dataset_project="q/sub", dataset_name="renamed").id == second.id
    assert Dataset.get(dataset_id=other.id).project == "p"
    with pytest.raises(NotFoundError, match="No dataset p/n"):
        Dataset.rename("again", dataset_project="p", dataset_name="n")
    # A pull still works: files live by id, not by name.
    assert (Path(Dataset.get(dataset_id=second.id).get_local_copy()) / "a.txt").exists()


def test_a_rename_onto_taken_version_numbers_changes_nothing(tmp_path: Path) -> None:
    mine = closed(tmp_path, name="mine")
    closed(tmp_path, name="theirs")  # also 1.0.0
    with pytest.raises(StateError, match=r"already has version 1\.0\.0"):
        Dataset.rename("theirs", dataset_project="p", dataset_name="mine")
    assert Dataset.get(dataset_id=mine.id).name == "mine"
    assert stored_record(mine)["name"] == "mine"


def test_tags_are_added_and_removed_here_and_in_storage(tmp_path: Path) -> None:
    ds = closed(tmp_path, dataset_tags=["raw"])
    ds.add_tags(["reviewed", "raw"])
    ds.remove_tags("raw")
    assert Dataset.get(dataset_id=ds.id).tags == ["reviewed"]
    assert stored_record(ds)["tags"] == ["reviewed"]
    assert Dataset.get(dataset_project="p", dataset_name="n", dataset_tags=["reviewed"]).id == ds.id
