"""``deltaset delete``: by id or name, children protection, --force, --entire-dataset."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cli.helpers import Flow, assert_error, stored_blobs
from tests.conftest import read_tree


def all_ids(flow: Flow) -> set[str]:
    return {d["id"] for d in flow.search("--not-only-completed")}


def test_delete_the_remembered_draft_and_forget_it(flow: Flow, cli, data: Path) -> None:
    draft = flow.create()
    flow.run("add", "--files", str(data))
    result = flow.run("delete")
    assert result.stdout.strip() == f"Deleted {draft}"
    assert all_ids(flow) == set()
    assert flow.remembered() is None
    assert_error(cli("add", "--files", str(data)), "No dataset id given")


def test_delete_by_id_keeps_another_remembered_draft(flow: Flow) -> None:
    final = flow.version({"a": "1"}, name="old")
    draft = flow.create(name="new")
    flow.run("delete", "--id", final)
    assert all_ids(flow) == {draft}
    assert flow.remembered() == draft


def test_delete_frees_bytes_only_no_other_version_uses(flow: Flow, isolation: Path) -> None:
    keep = flow.version({"shared": "same bytes", "mine": "keep only"}, name="keep")
    doomed = flow.version({"shared": "same bytes", "gone": "doomed only"}, name="doomed")
    assert len(stored_blobs(isolation / "storage")) == 3
    flow.run("delete", "--id", doomed)
    assert len(stored_blobs(isolation / "storage")) == 2
    assert flow.pulled("--id", keep) == {"shared": b"same bytes", "mine": b"keep only"}


def test_delete_refuses_a_parent_with_a_clear_sentence(flow: Flow, cli) -> None:
    parent = flow.version({"a": "1"})
    child = flow.version({"b": "2"}, parents=[parent])
    line = assert_error(
        cli("delete", "--id", parent), parent, "parent of 1 other version", child, "--force"
    )
    assert line.endswith(".")
    assert all_ids(flow) == {parent, child}


def test_forced_delete_of_a_parent_leaves_the_child_pullable_with_identical_bytes(
    flow: Flow, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    parent = flow.version({"inherited/a.bin": bytes(range(256)) * 40, "same.txt": "s"})
    child = flow.version({"own.txt": "child"}, parents=[parent])
    before = flow.pulled("--id", child)
    assert set(before) == {"inherited/a.bin", "same.txt", "own.txt"}
    flow.run("delete", "--id", parent, "--force")
    assert all_ids(flow) == {child}
    monkeypatch.setenv("DELTASET_CACHE_DIR", str(tmp_path / "cold-cache"))  # bytes from storage
    assert flow.pulled("--id", child) == before
    copy = tmp_path / "copy"
    flow.run("get", "--id", child, "--copy", str(copy))
    assert read_tree(copy) == before
    assert flow.changes("--id", child) == {
        "inherited/a.bin": "added",
        "own.txt": "added",
        "same.txt": "added",
    }


def test_delete_by_project_name_and_version(flow: Flow, cli) -> None:
    first = flow.version({"a": "1"})
    second = flow.version({"a": "2"}, parents=[first])
    third = flow.version({"x": "x"}, name="other")
    assert_error(cli("delete", "--project", "proj", "--name", "ds"), "2 versions", "--version")
    flow.run("delete", "--project", "proj", "--name", "ds", "--version", "1.0.1")
    assert all_ids(flow) == {first, third}
    assert second not in all_ids(flow)
    result = flow.run("delete", "--project", "proj", "--name", "ds")  # one left: unambiguous
    assert result.stdout.strip() == "Deleted proj/ds"
    assert all_ids(flow) == {third}


def test_delete_entire_dataset_needs_force_and_spares_other_datasets(
    flow: Flow, cli, isolation: Path
) -> None:
    first = flow.version({"a": "1"})
    flow.version({"b": "2"}, parents=[first])
    flow.create("--parents", first)  # a draft too
    other = flow.version({"c": "3"}, name="other")
    assert_error(cli("delete", "--project", "proj", "--name", "ds", "--entire-dataset"), "--force")
    assert len(all_ids(flow)) == 4
    flow.run("delete", "--project", "proj", "--name", "ds", "--entire-dataset", "--force")
    assert all_ids(flow) == {other}
    assert flow.pulled("--id", other) == {"c": b"3"}
    assert len(stored_blobs(isolation / "storage")) == 1
