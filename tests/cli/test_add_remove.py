"""``deltaset add`` and ``deltaset remove``: files, folders, wildcards and their flags."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cli.helpers import DATA, Flow, as_bytes
from tests.conftest import make_files, read_tree, run_cli

ALL = sorted(DATA)


# -- add ----------------------------------------------------------------------------------------
def test_add_one_file(flow: Flow, data: Path) -> None:
    version_id = flow.create()
    result = flow.run("add", "--id", version_id, "--files", str(data / "notes.txt"))
    assert f"1 files added to {version_id}" in result.stdout
    assert flow.paths() == ["notes.txt"]


def test_add_a_folder_takes_everything_below_it(flow: Flow, data: Path) -> None:
    flow.create()
    result = flow.run("add", "--files", str(data))
    assert "6 files added" in result.stdout
    assert flow.paths() == ALL
    sizes = {row["path"]: row["size"] for row in flow.listing()}
    assert sizes == {path: len(content) for path, content in as_bytes(DATA).items()}


def test_add_a_shell_style_wildcard_passed_as_one_argument(flow: Flow, data: Path) -> None:
    flow.create()
    flow.run("add", "--files", f"{data}/*.jpg")
    assert flow.paths() == ["a.jpg", "b.jpg"]


def test_add_a_wildcard_inside_a_sub_folder(flow: Flow, data: Path) -> None:
    flow.create()
    flow.run("add", "--files", f"{data}/sub/*.txt", "--dataset-folder", "sub")
    assert flow.paths() == ["sub/d.txt"]


def test_add_several_paths_at_once(flow: Flow, data: Path) -> None:
    flow.create()
    result = flow.run(
        "add", "--files", str(data / "a.jpg"), str(data / "sub" / "deep"), f"{data}/*.txt"
    )
    assert "3 files added" in result.stdout
    assert flow.paths() == ["a.jpg", "e.jpg", "notes.txt"]


def test_wildcard_flag_selects_files_inside_a_folder(flow: Flow, data: Path) -> None:
    flow.create()
    flow.run("add", "--files", str(data), "--wildcard", "*.jpg")
    assert flow.paths() == ["a.jpg", "b.jpg", "sub/c.jpg", "sub/deep/e.jpg"]


def test_several_wildcards_add_the_union(flow: Flow, data: Path) -> None:
    flow.create()
    flow.run("add", "--files", str(data), "--wildcard", "*.txt", "sub/deep/*")
    assert flow.paths() == ["notes.txt", "sub/d.txt", "sub/deep/e.jpg"]


def test_dataset_folder_places_the_files(flow: Flow, data: Path) -> None:
    flow.create()
    flow.run("add", "--files", str(data / "sub"), "--dataset-folder", "images/raw")
    assert flow.paths() == ["images/raw/c.jpg", "images/raw/d.txt", "images/raw/deep/e.jpg"]


def test_non_recursive_add_skips_sub_folders(flow: Flow, data: Path) -> None:
    flow.create()
    flow.run("add", "--files", str(data), "--non-recursive")
    assert flow.paths() == ["a.jpg", "b.jpg", "notes.txt"]


def test_max_workers_hashes_and_stores_the_same_bytes(flow: Flow, data: Path) -> None:
    version_id = flow.create()
    flow.run("add", "--files", str(data), "--max-workers", "1")
    flow.run("close")
    assert flow.pulled("--id", version_id) == as_bytes(DATA)


def test_adding_the_same_files_again_adds_nothing(flow: Flow, data: Path) -> None:
    flow.create()
    flow.run("add", "--files", str(data))
    again = flow.run("add", "--files", str(data))
    assert "0 files added" in again.stdout
    assert flow.paths() == ALL


def test_add_on_top_of_a_parent_marks_added_and_modified(flow: Flow, tmp_path: Path) -> None:
    parent = flow.version({"keep.txt": "same", "edit.txt": "old"})
    flow.create("--parents", parent)
    edited = flow.folder({"keep.txt": "same", "edit.txt": "new", "new.txt": "fresh"})
    flow.run("add", "--files", str(edited))
    assert flow.changes() == {"edit.txt": "modified", "new.txt": "added"}
    child = flow.remembered()
    assert child is not None
    flow.run("close")
    assert flow.pulled("--id", child) == {
        "keep.txt": b"same",
        "edit.txt": b"new",
        "new.txt": b"fresh",
    }
    assert flow.pulled("--id", parent) == {"keep.txt": b"same", "edit.txt": b"old"}


# -- remove -------------------------------------------------------------------------------------
@pytest.fixture
def full(flow: Flow, data: Path) -> str:
    """A remembered draft holding all of :data:`DATA`."""
    version_id = flow.create()
    flow.run("add", "--files", str(data))
    return version_id


@pytest.mark.parametrize(
    ("args", "left"),
    [
        (["notes.txt"], ["a.jpg", "b.jpg", "sub/c.jpg", "sub/d.txt", "sub/deep/e.jpg"]),
        (["sub"], ["a.jpg", "b.jpg", "notes.txt"]),
        (["sub/"], ["a.jpg", "b.jpg", "notes.txt"]),
        (["*.jpg"], ["notes.txt", "sub/d.txt"]),
        (["sub/*.jpg"], ["a.jpg", "b.jpg", "notes.txt", "sub/d.txt"]),
        (
            ["sub/*.jpg", "--non-recursive"],
            ["a.jpg", "b.jpg", "notes.txt", "sub/d.txt", "sub/deep/e.jpg"],
        ),
        (["sub", "--non-recursive"], ["a.jpg", "b.jpg", "notes.txt", "sub/deep/e.jpg"]),
        (["a.jpg", "sub/deep"], ["b.jpg", "notes.txt", "sub/c.jpg", "sub/d.txt"]),
        (["missing.bin"], ALL),
    ],
)
def test_remove_in_dataset_paths_folders_and_wildcards(
    flow: Flow, full: str, args: list[str], left: list[str]
) -> None:
    result = flow.run("remove", "--files", *args)
    assert f"{len(ALL) - len(left)} files removed from {full}" in result.stdout
    assert flow.paths() == left


def test_remove_by_explicit_id(flow: Flow, full: str, data: Path) -> None:
    other = flow.create(name="other")
    flow.run("add", "--files", str(data))
    flow.run("remove", "--id", full, "--files", "sub")
    assert flow.paths("--id", full) == ["a.jpg", "b.jpg", "notes.txt"]
    assert flow.paths("--id", other) == ALL


def test_remove_from_a_child_is_marked_removed_and_keeps_the_parent(flow: Flow) -> None:
    parent = flow.version({"a.txt": "a", "b.txt": "b"})
    child = flow.create("--parents", parent)
    flow.run("remove", "--files", "a.txt")
    assert flow.changes() == {"a.txt": "removed"}
    flow.run("close")
    assert flow.pulled("--id", child) == {"b.txt": b"b"}
    assert flow.pulled("--id", parent) == {"a.txt": b"a", "b.txt": b"b"}


def test_verbose_add_and_remove_name_each_file(data: Path) -> None:
    created = run_cli("create", "--project", "proj", "--name", "ds")
    assert created.returncode == 0, created.stderr
    quiet_add = run_cli("add", "--files", str(data / "a.jpg"))
    assert quiet_add.returncode == 0
    assert quiet_add.stderr == ""
    added = run_cli("add", "--files", str(data / "sub"), "--verbose")
    assert added.returncode == 0, added.stderr
    assert added.stderr.splitlines() == ["added c.jpg", "added d.txt", "added deep/e.jpg"]
    removed = run_cli("remove", "--files", "*.jpg", "--verbose")
    assert removed.returncode == 0, removed.stderr
    assert sorted(removed.stderr.splitlines()) == [
        "removed a.jpg",
        "removed c.jpg",
        "removed deep/e.jpg",
    ]
    assert "3 files removed" in removed.stdout


DEEP = "/".join(["d" * 200] * 19) + "/deep.txt"  # 3,829 bytes: most of what Linux allows


@pytest.fixture
def odd_names(tmp_path: Path) -> Path:
    """Names POSIX allows that are easy to get wrong: control characters, backslashes, a
    leading dash, the longest name a folder can hold, a path near the longest a call takes."""
    files: dict[str, bytes | str] = {
        "new\nline.txt": "newline",
        "tab\there.txt": "tab",
        "back\\slash.txt": "backslash",
        "-dash.txt": "dash",
        "e" * 251 + ".txt": "longest name",
        DEEP: "deep",
    }
    return make_files(tmp_path / "odd", files)


def test_names_posix_allows_round_trip_through_add_close_list_get_and_copy(
    flow: Flow, odd_names: Path, tmp_path: Path
) -> None:
    draft = flow.create()
    flow.run("add", "--id", draft, "--files", str(odd_names))
    flow.run("close", "--id", draft)
    expected = read_tree(odd_names)
    assert sorted(flow.paths("--id", draft)) == sorted(expected)
    assert flow.pulled("--id", draft) == expected
    copy = tmp_path / "c"
    flow.run("get", "--id", draft, "--copy", str(copy))
    assert read_tree(copy) == expected
