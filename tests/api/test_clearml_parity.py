"""ClearML scripts keep working after ``from clearml import`` becomes ``from deltaset import``:
its exceptions, version strings, "latest" choice, return shapes and settable properties,
checked against the installed clearml package where it can answer without a server."""

from __future__ import annotations

import functools
import inspect
import logging
from datetime import datetime
from pathlib import Path

import pytest

from deltaset import Dataset
from deltaset.errors import IntegrityError, NotFoundError, StateError
from tests.api.helpers import version_of
from tests.conftest import make_files


def clearml_version() -> type:
    found: type = pytest.importorskip("clearml.utilities.version").Version
    return found


def test_get_or_create_by_value_error_as_in_clearml(tmp_path: Path) -> None:
    try:
        dataset = Dataset.get(dataset_project="p", dataset_name="missing")
    except ValueError:  # ClearML's pattern: not found is a ValueError
        dataset = Dataset.create(dataset_name="missing", dataset_project="p")
    assert dataset.version == "1.0.0"
    final = version_of(tmp_path, {"a.txt": "a"})
    target = make_files(tmp_path / "busy", {"there.txt": "x"})
    with pytest.raises(ValueError, match="not empty"):
        final.get_mutable_local_copy(str(target))
    with pytest.raises(ValueError, match="final"):  # a wrong state
        final.add_files(str(target))
    with pytest.raises(ValueError, match="name is required"):  # bad input
        Dataset.create(dataset_name="", dataset_project="p")


def test_deleting_what_is_absent_warns_and_returns_unless_asked_to_raise(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING, logger="deltaset"):
        assert Dataset.delete(dataset_project="p", dataset_name="gone") == []
        assert Dataset.delete(dataset_id="0123456789abcdef0123456789abcdef") == []
    assert [r.getMessage() for r in caplog.records if "Nothing deleted" in r.getMessage()]
    with pytest.raises(NotFoundError, match="gone"):
        Dataset.delete(dataset_project="p", dataset_name="gone", raise_on_error=True)


def test_version_strings_clearml_accepts_are_accepted_and_ordered_as_clearml(
    caplog: pytest.LogCaptureFixture,
) -> None:
    version = clearml_version()
    given = ["1.0", "2024-01-01", "v1", "2", "1.0rc1"]
    with caplog.at_level(logging.WARNING, logger="deltaset"):
        for text in given:
            Dataset.create(dataset_name="n", dataset_project="p", dataset_version=text).finalize()
    warned = [r.getMessage() for r in caplog.records if "non-semantic" in r.getMessage()]
    assert warned == ["Setting non-semantic dataset version '2024-01-01'"]  # ClearML's words
    listed = {d["version"] for d in Dataset.list_datasets(dataset_project="p")}
    assert listed == set(given)
    parsed = [t for t in given if version.is_valid_version_string(t)]
    highest = max(
        parsed, key=functools.cmp_to_key(lambda a, b: -1 if version(a) < version(b) else 1)
    )
    assert highest == "2"
    # The newest is 1.0rc1, but ClearML's get() takes the highest version, not the newest.
    assert Dataset.get(dataset_project="p", dataset_name="n").version == highest
    following = Dataset.create(dataset_name="n", dataset_project="p")
    assert following.version == str(version(highest).get_next_version()) == "3"


def test_unparsed_versions_are_chosen_by_age_as_in_clearml() -> None:
    for text in ["2024-01-01", "2023-12-31"]:
        Dataset.create(dataset_name="n", dataset_project="p", dataset_version=text).finalize()
    assert Dataset.get(dataset_project="p", dataset_name="n").version == "2023-12-31"
    # ClearML falls back to its default version when the latest cannot be bumped
    assert Dataset.create(dataset_name="n", dataset_project="p").version == "1.0.0"


def test_tags_and_a_drafts_version_are_settable_as_in_clearml(tmp_path: Path) -> None:
    clearml = pytest.importorskip("clearml")
    for member in ("tags", "version"):
        assert inspect.getattr_static(clearml.Dataset, member).fset is not None
        assert inspect.getattr_static(Dataset, member).fset is not None
    draft = Dataset.create(dataset_name="n", dataset_project="p", dataset_tags=["a", "b"])
    draft.tags = ["b", "c"]
    assert Dataset.get(dataset_id=draft.id).tags == ["b", "c"]
    draft.version = "v7"
    assert Dataset.get(dataset_project="p", dataset_name="n").version == "v7"
    final = version_of(tmp_path, {"a.txt": "a"}, name="other")
    final.tags = []
    assert Dataset.get(dataset_id=final.id).tags == []
    final.version = final.version  # the number it has: nothing to change
    with pytest.raises(StateError, match="never changes"):
        final.version = "9.9.9"


def test_list_datasets_gives_datetimes_and_clearml_statuses_on_request(tmp_path: Path) -> None:
    final = version_of(tmp_path, {"a.txt": "a"})
    draft = Dataset.create(dataset_name="d", dataset_project="p")
    published = version_of(tmp_path, {"b.txt": "b"}, name="pub")
    published.publish()
    found = Dataset.list_datasets(dataset_project="p", only_completed=False)
    assert all(isinstance(d["created"], datetime) for d in found)
    assert all(d["created"].tzinfo is not None for d in found)
    ours = {d["id"]: d["status"] for d in found}
    assert ours == {final.id: "final", draft.id: "draft", published.id: "published"}
    theirs = {
        d["id"]: d["status"]
        for d in Dataset.list_datasets(
            dataset_project="p", only_completed=False, clearml_status=True
        )
    }
    assert theirs == {final.id: "completed", draft.id: "in_progress", published.id: "published"}


def test_file_entries_have_clearmls_fields(tmp_path: Path) -> None:
    clearml_entry = pytest.importorskip("clearml.datasets.dataset").FileEntry
    version = version_of(tmp_path, {"a.txt": "a"})
    entry = version.file_entries_dict["a.txt"]
    theirs = clearml_entry(
        relative_path="a.txt", hash=entry.hash, parent_dataset_id=version.id, size=1
    )
    assert entry.as_dict() == theirs.as_dict()  # local_path only when there is one
    for field in ("relative_path", "hash", "parent_dataset_id", "size", "artifact_name"):
        assert getattr(entry, field) == getattr(theirs, field)
    assert entry.local_path is None


def test_a_writable_copy_into_a_relative_folder_returns_an_absolute_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    version = version_of(tmp_path, {"a.txt": "a"})
    monkeypatch.chdir(tmp_path)
    copy = version.get_mutable_local_copy("relative/copy")
    assert copy == str(tmp_path / "relative" / "copy")
    assert Path(copy, "a.txt").read_text() == "a"


def test_a_changed_external_file_names_itself_and_how_to_take_its_current_content(
    tmp_path: Path,
) -> None:
    source = make_files(tmp_path / "shared", {"a.csv": "x\n1\n"})
    linked = Dataset.create(dataset_name="n", dataset_project="p")
    linked.add_external_files(str(source / "a.csv"))
    linked.finalize()
    (source / "a.csv").write_text("x\n1\n2\n")
    with pytest.raises(IntegrityError) as refused:
        linked.get_local_copy()
    message = str(refused.value)
    assert str(source / "a.csv") in message
    assert message.count(". ") == 0  # one sentence
    assert "to use its current content" in message
    assert "add_external_files (deltaset add --links URL)" in message
    # Doing what it says gives ClearML's answer: the current content.
    current = Dataset.create(dataset_name="n", dataset_project="p", parent_datasets=[linked])
    current.add_external_files(str(source / "a.csv"))
    current.finalize()
    assert Path(current.get_local_copy(), "a.csv").read_text() == "x\n1\n2\n"
