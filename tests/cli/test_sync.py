"""``deltaset sync``: a version that mirrors a local folder, one change-set at a time."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

from tests.backends import Backend
from tests.cli.helpers import Flow, assert_error, stored_blobs
from tests.conftest import Result, make_files, read_tree, run_cli


def sync(flow: Flow, folder: Path, *args: str) -> str:
    return flow.run("sync", "--folder", str(folder), *args).stdout


def versions(flow: Flow) -> list[tuple[str, str]]:
    return sorted((d["version"], d["state"]) for d in flow.search("--not-only-completed"))


def test_first_sync_creates_uploads_and_closes_a_version(flow: Flow, tmp_path: Path) -> None:
    folder = make_files(tmp_path / "live", {"one.txt": "1", "two/2.txt": "2"})
    out = sync(flow, folder, "--project", "proj", "--name", "live")
    assert f"Sync of {folder}: 2 added, 0 modified, 0 removed" in out
    [found] = flow.search()
    version_id = found["id"]
    assert f"Closed proj/live version 1.0.0: id={version_id}" in out
    assert versions(flow) == [("1.0.0", "final")]
    assert flow.remembered() is None  # closing forgets the id
    assert flow.pulled("--id", version_id) == read_tree(folder)


def test_sync_without_changes_creates_nothing_and_says_so(flow: Flow, tmp_path: Path) -> None:
    folder = make_files(tmp_path / "live", {"one.txt": "1"})
    sync(flow, folder, "--project", "proj", "--name", "live")
    out = sync(flow, folder, "--project", "proj", "--name", "live")
    assert "0 added, 0 modified, 0 removed" in out
    assert "Nothing changed since the parents; no version was created." in out
    assert versions(flow) == [("1.0.0", "final")]
    assert flow.remembered() is None


def test_sync_reflects_additions_modifications_and_removals(flow: Flow, tmp_path: Path) -> None:
    folder = make_files(tmp_path / "live", {"keep": "k", "edit": "old", "drop": "d", "d/x": "x"})
    sync(flow, folder, "--project", "proj", "--name", "live")
    (folder / "edit").write_text("new content")
    (folder / "drop").unlink()
    shutil.rmtree(folder / "d")
    make_files(folder, {"fresh": "f", "e/y": "y"})
    out = sync(flow, folder, "--project", "proj", "--name", "live")
    assert "2 added, 1 modified, 2 removed" in out
    assert "Closed proj/live version 1.0.1" in out
    changes = flow.changes("--project", "proj", "--name", "live")
    assert changes == {
        "d/x": "removed",
        "drop": "removed",
        "e/y": "added",
        "edit": "modified",
        "fresh": "added",
    }
    assert flow.pulled("--project", "proj", "--name", "live") == read_tree(folder)
    assert flow.pulled("--project", "proj", "--name", "live", "--version", "1.0.0") == {
        "keep": b"k",
        "edit": b"old",
        "drop": b"d",
        "d/x": b"x",
    }


def test_each_sync_continues_from_the_latest_final_version(flow: Flow, tmp_path: Path) -> None:
    folder = make_files(tmp_path / "live", {"base": "b"})
    sync(flow, folder, "--project", "proj", "--name", "live")
    for step in range(1, 4):
        make_files(folder, {f"step{step}": str(step)})
        sync(flow, folder, "--project", "proj", "--name", "live")
        # only this step's file is new: the version's parent is the previous step's
        assert flow.changes("--project", "proj", "--name", "live") == {f"step{step}": "added"}
    assert versions(flow) == [(f"1.0.{i}", "final") for i in range(4)]
    assert flow.pulled("--project", "proj", "--name", "live") == read_tree(folder)


def test_sync_with_parents_inherits_project_and_diffs_against_them(
    flow: Flow, tmp_path: Path
) -> None:
    parent = flow.version({"a": "1", "b": "2"}, project="vision", name="base")
    folder = make_files(tmp_path / "live", {"a": "1", "c": "3"})
    out = sync(flow, folder, "--parents", parent, "--name", "derived")
    assert "Closed vision/derived version 1.0.0" in out
    assert flow.changes("--project", "vision", "--name", "derived") == {
        "b": "removed",
        "c": "added",
    }


def test_sync_version_tags_and_storage_of_the_new_version(
    backend: Backend, flow: Flow, tmp_path: Path, isolation: Path
) -> None:
    folder = make_files(tmp_path / "live", {"a": "1", "b": "2"})
    bucket = tmp_path / "bucket"
    sync(
        flow,
        folder,
        "--project",
        "proj",
        "--name",
        "live",
        "--version",
        "4.2.0",
        "--tags",
        "nightly",
        "raw",
        "--storage",
        str(bucket),
    )
    [found] = flow.search("--tags", "nightly")
    assert (found["version"], found["tags"]) == ("4.2.0", ["nightly", "raw"])
    assert len(stored_blobs(bucket)) == 2
    assert stored_blobs(backend.storage) == set()


def test_sync_dataset_folder_mirrors_into_a_sub_folder_only(flow: Flow, tmp_path: Path) -> None:
    parent = flow.version({"top.txt": "t", "images/old.jpg": "o"})
    folder = make_files(tmp_path / "live", {"new.jpg": "n"})
    child = flow.create("--parents", parent)
    sync(flow, folder, "--dataset-folder", "images")
    assert flow.changes("--id", child) == {
        "images/new.jpg": "added",
        "images/old.jpg": "removed",
    }
    assert flow.paths("--id", child) == ["images/new.jpg", "top.txt"]


def test_skip_close_leaves_a_remembered_draft(flow: Flow, tmp_path: Path) -> None:
    folder = make_files(tmp_path / "live", {"a": "1"})
    out = sync(flow, folder, "--project", "proj", "--name", "live", "--skip-close")
    assert "Closed" not in out
    assert versions(flow) == [("1.0.0", "draft")]
    draft = flow.remembered()
    assert draft is not None
    make_files(folder, {"b": "2"})
    out = sync(flow, folder)  # no --id: continues with the remembered draft
    assert "1 added, 0 modified, 0 removed" in out
    assert f"id={draft}" in out
    assert versions(flow) == [("1.0.0", "final")]
    assert flow.pulled("--id", draft) == read_tree(folder)


def test_sync_into_an_explicit_draft_with_transfer_flags(flow: Flow, tmp_path: Path) -> None:
    folder = make_files(tmp_path / "live", {"a": "1", "b/c": "2"})
    draft = flow.create(name="target")
    flow.create(name="other")  # remembered now, but --id wins
    out = sync(flow, folder, "--id", draft, "--max-workers", "1", "--chunk-size", "1")
    assert f"Closed proj/target version 1.0.0: id={draft}" in out
    assert flow.pulled("--id", draft) == read_tree(folder)


def test_failed_sync_leaves_no_draft_behind(flow: Flow, cli, tmp_path: Path) -> None:
    assert_error(
        cli("sync", "--folder", str(tmp_path / "absent"), "--project", "proj", "--name", "live"),
        "does not exist",
    )
    assert versions(flow) == []
    assert flow.remembered() is None


def test_verbose_sync_names_each_change(tmp_path: Path) -> None:
    folder = make_files(tmp_path / "live", {"a.txt": "1", "b.txt": "2"})
    first = run_cli("sync", "--folder", str(folder), "--project", "p", "--name", "n")
    assert first.returncode == 0, first.stderr
    assert first.stderr == ""
    (folder / "a.txt").unlink()
    (folder / "b.txt").write_text("two")
    second = run_cli("sync", "--folder", str(folder), "--project", "p", "--name", "n", "--verbose")
    assert second.returncode == 0, second.stderr
    changes = [line for line in second.stderr.splitlines() if not line.startswith("uploaded ")]
    assert sorted(changes) == ["modified b.txt", "removed a.txt"]


def test_a_sync_run_again_after_a_kill_resumes_its_draft(flow: Flow, tmp_path: Path) -> None:
    folder = make_files(tmp_path / "live", {"a.txt": "1"})
    args = ("--folder", str(folder), "--project", "proj", "--name", "live")
    sync(flow, folder, *args[2:])
    make_files(folder, {"b.txt": "2", "c.txt": "3"})
    killed = run_cli("sync", *args, env={"DELTASET_FAILPOINT": "finalize.after_check"})
    assert killed.returncode == -9
    assert versions(flow) == [("1.0.0", "final"), ("1.0.1", "draft")]
    make_files(folder, {"d.txt": "4"})
    out = flow.run("sync", *args).stdout
    assert "3 added, 0 modified, 0 removed" in out
    assert versions(flow) == [("1.0.0", "final"), ("1.0.1", "final")]
    (latest,) = [d["id"] for d in flow.search() if d["version"] == "1.0.1"]
    assert flow.pulled("--id", latest) == read_tree(folder)
    again = flow.run("sync", *args).stdout  # nothing left to resume, nothing changed
    assert "Nothing changed since the parents" in again
    assert versions(flow) == [("1.0.0", "final"), ("1.0.1", "final")]


def test_a_sync_killed_once_its_record_is_stored_finishes_that_close(
    flow: Flow, tmp_path: Path
) -> None:
    folder = make_files(tmp_path / "live", {"a.txt": "1"})
    args = ("--folder", str(folder), "--project", "proj", "--name", "live")
    killed = run_cli("sync", *args, env={"DELTASET_FAILPOINT": "finalize.after_record"})
    assert killed.returncode == -9
    make_files(folder, {"b.txt": "2"})
    out = flow.run("sync", *args).stdout
    assert "Closed proj/live version 1.0.0" in out
    assert "Sync of " + str(folder) + ": 1 added, 0 modified, 0 removed" in out
    assert versions(flow) == [("1.0.0", "final"), ("1.0.1", "final")]


# -- where a synced version goes --------------------------------------------------------------


def test_a_synced_child_goes_where_its_parent_is_and_says_so(
    backend: Backend, flow: Flow, tmp_path: Path
) -> None:
    shared = tmp_path / "shared"
    folder = make_files(tmp_path / "live", {"a": "1", "b": "2"})
    first = sync(flow, folder, "--project", "vision", "--name", "pets", "--storage", str(shared))
    assert f"Storage: {shared.as_uri()}" in first
    make_files(folder, {"c": "3"})
    out = sync(flow, folder, "--project", "vision", "--name", "pets")  # no --storage
    assert f"Storage: {shared.as_uri()}" in out
    assert stored_blobs(backend.storage) == set()  # nothing went to the default storage
    assert len(stored_blobs(shared)) == 3
    (child,) = [d["id"] for d in flow.search() if d["version"] == "1.0.1"]
    assert (shared / "versions" / f"{child}.json").is_file()


def test_create_close_and_squash_say_where_they_store(flow: Flow, tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    created = flow.run("create", "--project", "p", "--name", "n", "--storage", str(shared))
    assert f"Storage: {shared.as_uri()}" in created.stdout
    flow.run("add", "--files", str(flow.folder({"a": "1"})))
    closed = flow.run("close").stdout
    assert f"Storage: {shared.as_uri()}" in closed
    (parent,) = [d["id"] for d in flow.search()]
    child = json.loads(flow.run("create", "--name", "n", "--parents", parent, "--json").stdout)
    assert child["storage"] == shared.as_uri()
    squashed = flow.run("squash", "--name", "flat", "--ids", parent).stdout
    assert f"Storage: {shared.as_uri()}" in squashed


# -- a writable copy remembers the version it came from --------------------------------------

LIVE = ("--project", "proj", "--name", "live")


def test_a_copy_synced_after_a_newer_version_is_refused_not_undone(
    flow: Flow, cli: Callable[..., Result], tmp_path: Path
) -> None:
    """The issue's finding: a teammate's removals in 1.0.1 must not come back silently."""
    team = make_files(tmp_path / "team", {"keep": "k", "old1": "1", "old2": "2", "edit": "e"})
    sync(flow, team, *LIVE)
    mine = tmp_path / "mine"
    flow.run("get", *LIVE, "--copy", str(mine))  # a copy of 1.0.0
    (team / "old1").unlink()
    (team / "old2").unlink()
    sync(flow, team, *LIVE)  # the teammate's 1.0.1 removes two files
    make_files(mine, {"mine.txt": "m"})
    refused = cli("sync", "--folder", str(mine), *LIVE)
    assert_error(refused, "copied from proj/live 1.0.0", "1.0.1 came after it", "--rebase")
    assert versions(flow) == [("1.0.0", "final"), ("1.0.1", "final")]  # no draft left
    out = sync(flow, mine, *LIVE, "--rebase")
    assert "Parent: proj/live 1.0.1" in out
    assert "1 added, 0 modified, 0 removed" in out
    assert flow.paths(*LIVE) == ["edit", "keep", "mine.txt"]  # the removals stay removed


def test_a_copy_of_the_newest_version_syncs_against_it_again_and_again(
    flow: Flow, tmp_path: Path
) -> None:
    team = make_files(tmp_path / "team", {"a": "1", "b": "2"})
    sync(flow, team, *LIVE)
    mine = tmp_path / "mine"
    flow.run("get", *LIVE, "--copy", str(mine))
    for step in range(1, 3):
        make_files(mine, {f"step{step}": str(step)})
        out = sync(flow, mine, *LIVE)
        assert f"Parent: proj/live 1.0.{step - 1}" in out
        assert f"the version {mine} was copied from" in out
        assert flow.changes(*LIVE) == {f"step{step}": "added"}
    assert flow.paths(*LIVE) == ["a", "b", "step1", "step2"]  # the marker is never data


def test_a_partial_copy_changes_only_its_part(flow: Flow, tmp_path: Path) -> None:
    team = make_files(tmp_path / "team", {"cats/1": "c1", "cats/2": "c2", "dogs/1": "d1"})
    sync(flow, team, *LIVE)
    mine = tmp_path / "mine"
    flow.run("get", *LIVE, "--copy", str(mine), "--files", "cats/*")
    (mine / "cats" / "2").unlink()
    result = run_cli("sync", "--folder", str(mine), *LIVE)  # a process: its warnings shown
    assert result.returncode == 0, result.stderr
    assert "holds only part of proj/live 1.0.0 (files cats/*)" in result.stderr
    assert flow.changes(*LIVE) == {"cats/2": "removed"}  # dogs/1 is kept, not removed


def test_a_folder_without_a_marker_says_which_parent_it_used(flow: Flow, tmp_path: Path) -> None:
    folder = make_files(tmp_path / "live", {"a": "1"})
    assert "Parent: none (a new dataset)" in sync(flow, folder, *LIVE)
    make_files(folder, {"b": "2"})
    assert "Parent: proj/live 1.0.0" in sync(flow, folder, *LIVE)


def test_a_copy_of_a_deleted_version_asks_for_a_parent(
    flow: Flow, cli: Callable[..., Result], tmp_path: Path
) -> None:
    team = make_files(tmp_path / "team", {"a": "1"})
    sync(flow, team, *LIVE)
    mine = tmp_path / "mine"
    flow.run("get", *LIVE, "--copy", str(mine))
    (first,) = [d["id"] for d in flow.search()]
    flow.run("delete", "--id", first)
    refused = cli("sync", "--folder", str(mine), *LIVE)
    assert_error(refused, "copied from proj/live 1.0.0, which no longer exists", "--parents")
    assert versions(flow) == []
