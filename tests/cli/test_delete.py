"""``deltaset delete``: by id or name, children protection, --force, --entire-dataset."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from deltaset.packs.writer import pack_key
from tests.backends import Backend
from tests.cli.helpers import Flow, assert_error, stored_blobs, stored_packs
from tests.conftest import read_tree


def all_ids(flow: Flow) -> set[str]:
    return {d["id"] for d in flow.search("--not-only-completed")}


def test_delete_the_remembered_draft_and_forget_it(flow: Flow, cli, data: Path) -> None:
    draft = flow.create()
    flow.run("add", "--files", str(data))
    result = flow.run("delete")
    assert result.stdout.splitlines() == [f"Deleted {draft}", "Dataset(s) deleted"]
    assert all_ids(flow) == set()
    assert flow.remembered() is None
    assert_error(cli("add", "--files", str(data)), "No dataset id given")


def test_delete_by_id_forgets_as_clearml_does(flow: Flow) -> None:
    final = flow.version({"a": "1"}, name="old")
    draft = flow.create(name="new")
    flow.run("delete", "--id", final)  # remembered as given, then forgotten once deleted
    assert all_ids(flow) == {draft}
    assert flow.remembered() is None


def test_delete_frees_the_packs_no_other_version_uses(
    backend: Backend, flow: Flow, isolation: Path, caplog: pytest.LogCaptureFixture
) -> None:
    storage = backend.storage
    keep = flow.version({"shared": "same bytes", "mine": "keep only"}, name="keep")
    kept_packs = stored_packs(storage)
    doomed = flow.version({"shared": "same bytes", "gone": "doomed only"}, name="doomed")
    [doomed_pack] = stored_packs(storage) - kept_packs  # only "gone" was new: one pack of it
    doomed_size = (storage / pack_key(doomed_pack)).stat().st_size
    assert len(stored_blobs(storage)) == 3
    caplog.set_level(logging.INFO, logger="deltaset")
    flow.run("delete", "--id", doomed)
    assert f"freed {doomed_size} stored bytes no other version uses" in caplog.messages
    assert stored_packs(storage) == kept_packs  # the whole pack went, the other is untouched
    assert len(stored_blobs(storage)) == 2
    assert flow.pulled("--id", keep) == {"shared": b"same bytes", "mine": b"keep only"}


def test_a_pack_stays_whole_while_another_version_uses_one_of_its_blobs(
    backend: Backend, flow: Flow, isolation: Path
) -> None:
    storage = backend.storage
    first = flow.version({"shared": "same bytes", "mine": "first only"}, name="first")
    [first_pack] = stored_packs(storage)
    second = flow.version({"shared": "same bytes", "own": "second only"}, name="second")
    assert len(stored_packs(storage)) == 2
    flow.run("delete", "--id", first)
    assert first_pack in stored_packs(storage)  # "shared" still lives there
    assert len(stored_packs(storage)) == 2
    assert len(stored_blobs(storage)) == 3  # "first only" waits for a repack
    assert flow.pulled("--id", second) == {"shared": b"same bytes", "own": b"second only"}
    flow.run("delete", "--id", second)
    assert stored_packs(storage) == set()  # nothing used any more: every pack is freed
    assert stored_blobs(storage) == set()
    assert list((storage / "index").iterdir()) == []  # and no index names a freed pack


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
    assert result.stdout.splitlines() == ["Deleted proj/ds", "Dataset(s) deleted"]
    assert all_ids(flow) == {third}


def test_delete_entire_dataset_needs_force_and_spares_other_datasets(
    backend: Backend, flow: Flow, cli, isolation: Path
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
    assert len(stored_blobs(backend.storage)) == 1
    assert len(stored_packs(backend.storage)) == 1  # each version's own pack went
