"""``deltaset compare``, ``squash`` and ``lineage`` end to end."""

from __future__ import annotations

import json
from collections.abc import Callable

from tests.cli.helpers import Flow, assert_error, id_of, ok
from tests.conftest import Result


def test_compare_prints_changes_with_sizes_and_json(flow: Flow) -> None:
    old = flow.version({"a.txt": "aa", "b.txt": "bbb", "c.txt": "c"})
    new = flow.version({"a.txt": "aaaa", "c.txt": "c", "d.txt": "ddddd"}, name="other")
    text = flow.run("compare", "--source", old, "--target", new).stdout
    lines = {line.split()[1]: line.split()[0] for line in text.splitlines()[1:4]}
    assert lines == {"d.txt": "added", "a.txt": "modified", "b.txt": "removed"}
    assert "2 B -> 4 B" in text
    assert f"1 added (5 B), 1 modified (+2 B), 1 removed (3 B) from {old} to {new}" in text
    found = json.loads(flow.run("compare", "--source", old, "--target", new, "--json").stdout)
    assert found["added"] == [{"path": "d.txt", "size": 5}]
    assert found["modified"] == [{"path": "a.txt", "size": 4, "source_size": 2}]
    assert found["removed"] == [{"path": "b.txt", "source_size": 3}]


def test_compare_needs_both_ids_and_names_a_wrong_one(
    flow: Flow, cli: Callable[..., Result]
) -> None:
    old = flow.version({"a.txt": "a"})
    assert_error(cli("compare", "--source", old), "--target")
    assert_error(cli("compare", "--source", old, "--target", "f" * 32), "f" * 32)


def test_compare_takes_two_versions_of_one_dataset_by_number(
    flow: Flow, cli: Callable[..., Result]
) -> None:
    first = flow.version({"a.txt": "a", "b.txt": "b"})
    second = flow.version({"a.txt": "a", "c.txt": "cc"})
    by_name = ("compare", "--project", "proj", "--name", "ds", "--json")
    found = json.loads(
        flow.run(*by_name, "--source-version", "1.0.0", "--target-version", "1.0.1").stdout
    )
    assert (found["source"], found["target"]) == (first, second)
    assert [c["path"] for c in found["added"]] == ["c.txt"]
    mixed = json.loads(flow.run(*by_name, "--source", second, "--target-version", "1.0.0").stdout)
    assert [c["path"] for c in mixed["added"]] == ["b.txt"]
    assert_error(cli(*by_name, "--source-version", "1.0.0"), "Name the target version")
    assert_error(cli(*by_name, "--source-version", "1.0.0", "--target-version", "9.0.0"), "9.0.0")
    assert_error(
        cli("compare", "--source-version", "1.0.0", "--target", second),
        "--source-version needs --project and --name",
    )
    assert_error(
        cli(*by_name, "--source", first, "--source-version", "1.0.0", "--target", second),
        "not both",
    )


def test_squash_makes_one_root_version_with_the_merged_files(flow: Flow) -> None:
    root = flow.version({"keep.txt": "k", "drop.txt": "d"})
    child = flow.create("--parents", root)
    flow.run("remove", "--id", child, "--files", "drop.txt")
    flow.run("add", "--id", child, "--files", str(flow.folder({"new.txt": "n"})))
    flow.run("close", "--id", child)
    other = flow.version({"other.txt": "o"}, name="other")
    result = flow.run("squash", "--name", "flat", "--ids", child, other, "--project", "merged")
    squashed = id_of(result)
    assert "Squashed 2 version(s) into merged/flat version 1.0.0" in result.stdout
    assert flow.pulled("--id", squashed) == {"keep.txt": b"k", "new.txt": b"n", "other.txt": b"o"}
    graph = json.loads(flow.run("lineage", "--id", squashed, "--json").stdout)
    assert graph["versions"][squashed]["parents"] == []


def test_squash_refuses_an_unknown_id(flow: Flow, cli: Callable[..., Result]) -> None:
    assert_error(cli("squash", "--name", "x", "--ids", "e" * 32), "e" * 32)
    assert_error(cli("squash", "--ids", "e" * 32), "--name")


def test_lineage_as_tree_json_and_dot(flow: Flow, cli: Callable[..., Result]) -> None:
    root = flow.version({"r.txt": "r"}, name="root")
    left = flow.version({"l.txt": "l"}, name="left", parents=[root])
    right = flow.version({"x.txt": "x"}, name="right", parents=[root])
    top = flow.version({}, name="top", parents=[left, right])
    tree = flow.run("lineage", "--id", top).stdout.splitlines()
    assert tree[0] == f"proj/top 1.0.0 [final] {top}"
    assert tree[1] == f"├── proj/left 1.0.0 [final] {left}"
    assert tree[2] == f"│   └── proj/root 1.0.0 [final] {root}"
    assert tree[3] == f"└── proj/right 1.0.0 [final] {right}"
    assert tree[4] == f"    └── proj/root 1.0.0 [final] {root} (above)"
    graph = json.loads(flow.run("lineage", "--id", top, "--json").stdout)
    assert graph["id"] == top
    assert {k: v["parents"] for k, v in graph["versions"].items()} == {
        top: [left, right],
        left: [root],
        right: [root],
        root: [],
    }
    assert graph["versions"][left]["name"] == "left"
    assert graph["versions"][root]["files"] == 1
    dot = flow.run("lineage", "--project", "proj", "--name", "top", "--dot").stdout
    assert dot.startswith("digraph lineage {")
    assert f'"{top}" -> "{left}" [label="1"];' in dot
    assert f'"{top}" -> "{right}" [label="2"];' in dot
    assert dot.count("->") == 4
    assert_error(cli("lineage", "--id", "a" * 32), "a" * 32)


def test_lineage_names_a_parent_deleted_with_force(flow: Flow) -> None:
    root = flow.version({"r.txt": "r"}, name="root")
    child = flow.version({"c.txt": "c"}, name="child", parents=[root])
    ok(flow.cli("delete", "--id", root, "--force"))
    tree = flow.run("lineage", "--id", child).stdout.splitlines()
    assert tree == [f"proj/child 1.0.0 [final] {child}", f"└── {root} (deleted)"]


def test_tag_adds_removes_and_shows_tags_that_search_then_finds(
    flow: Flow, cli: Callable[..., Result]
) -> None:
    version_id = flow.version({"a.txt": "a"}, "--tags", "raw")
    shown = json.loads(flow.run("tag", "--id", version_id, "--add", "clean", "v2", "--json").stdout)
    assert shown == {"id": version_id, "tags": ["raw", "clean", "v2"]}
    text = flow.run("tag", "--id", version_id, "--remove", "raw", "v2").stdout
    assert text.strip() == f"Tags of {version_id}: clean"
    assert [d["id"] for d in flow.search("--tags", "clean")] == [version_id]
    assert flow.search("--tags", "raw") == []
    assert_error(cli("tag", "--id", "9" * 32, "--add", "x"), "9" * 32)
