"""What scripts written for ClearML's Dataset do and expect: a dataset_path with a leading '/',
external files removed by URL, get_metadata of a missing name, numpy arrays as metadata,
upload_as_external_links, and file entries naming the version that brought each file."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy
import pytest

from deltaset import Dataset
from deltaset.errors import InvalidInputError
from tests.api.helpers import version_of
from tests.conftest import make_files


def draft(parents: list[str] | None = None) -> Dataset:
    return Dataset.create(dataset_name="n", dataset_project="p", parent_datasets=parents)


def test_a_dataset_path_with_a_leading_slash_is_relative(tmp_path: Path) -> None:
    source = make_files(tmp_path / "src", {"a.txt": "a", "b.txt": "b"})
    ds = draft()
    ds.add_files(str(source / "a.txt"), dataset_path="/images")
    ds.add_external_files(str(source / "b.txt"), dataset_path="/far")
    ds.sync_folder(str(source), dataset_path="//mirror")
    assert sorted(ds.list_files()) == [
        "far/b.txt",
        "images/a.txt",
        "mirror/a.txt",
        "mirror/b.txt",
    ]
    assert ds.remove_files("/images/a.txt") == 1
    assert ds.list_files("/mirror") == ["mirror/a.txt", "mirror/b.txt"]
    with pytest.raises(InvalidInputError, match="is absolute"):
        ds.add_files(str(source / "a.txt"), dataset_path="C:/x")


def test_remove_files_by_an_external_files_url(tmp_path: Path) -> None:
    source = make_files(tmp_path / "far", {"x.csv": "x", "y.csv": "y", "sub/z.csv": "z"})
    ds = draft()
    ds.add_external_files(str(source), dataset_path="links")
    assert ds.remove_files((source / "x.csv").as_uri()) == 1
    assert sorted(ds.list_files()) == ["links/sub/z.csv", "links/y.csv"]
    assert ds.remove_files((source / "sub").as_uri()) == 1  # a folder URL: what it added
    assert ds.remove_files(source.as_uri() + "/*.csv") == 1  # a wildcard over URLs
    assert ds.list_files() == []


def test_get_metadata_of_a_missing_name_is_none_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    ds = version_of(tmp_path, {"a.txt": "a"})
    with caplog.at_level(logging.WARNING, logger="deltaset"):
        assert ds.get_metadata("missing") is None
    assert "has no metadata 'missing'" in caplog.text


def test_numpy_arrays_are_metadata_read_back_as_lists(tmp_path: Path) -> None:
    ds = version_of(tmp_path, {"a.txt": "a"})
    ds.set_metadata(numpy.arange(6).reshape(2, 3), metadata_name="grid")
    ds.set_metadata({"mean": numpy.float32(0.5), "count": numpy.int64(3)}, metadata_name="stats")
    again = Dataset.get(dataset_id=ds.id)
    assert again.get_metadata("grid") == [[0, 1, 2], [3, 4, 5]]
    assert again.get_metadata("stats") == {"count": 3, "mean": 0.5}
    with pytest.raises(InvalidInputError, match="nan"):
        ds.set_metadata(numpy.array([1.0, numpy.nan]), metadata_name="bad")


def test_upload_as_external_links_says_what_to_use_instead(tmp_path: Path) -> None:
    ds = draft()
    ds.add_files(str(make_files(tmp_path / "src", {"a.txt": "a"})))
    with pytest.raises(InvalidInputError, match=r"add_external_files\(\)") as refused:
        ds.upload(upload_as_external_links=True)
    assert str(refused.value).count(". ") == 0  # one sentence
    assert ds.is_dirty()  # nothing was uploaded half


def test_file_entries_name_the_version_that_brought_each_file(tmp_path: Path) -> None:
    base = version_of(tmp_path, {"a.txt": "a", "b.txt": "b"})
    child = draft([base.id])
    source = make_files(tmp_path / "more", {"b.txt": "B", "far.csv": "f"})
    child.add_files(str(source / "b.txt"))
    child.add_external_files(str(source / "far.csv"))
    found = {e.relative_path: e for e in child.file_entries}
    assert {p: e.parent_dataset_id for p, e in found.items()} == {
        "a.txt": base.id,
        "b.txt": child.id,
        "far.csv": child.id,
    }
    assert found["b.txt"].local_path == str(source / "b.txt")
    assert found["far.csv"].link == (source / "far.csv").as_uri()
