"""``deltaset list`` and ``deltaset search``: selectors, filters, changes, JSON and tables."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.cli.helpers import DATA, Flow, as_bytes, ok

ALL = sorted(DATA)


@pytest.fixture
def two_versions(flow: Flow) -> tuple[str, str]:
    """proj/ds 1.0.0 with :data:`DATA`; 1.0.1 edits, adds and removes a file."""
    first = flow.version(DATA)
    flow.create("--parents", first)
    flow.run("add", "--files", str(flow.folder({"a.jpg": "ALPHA", "z.bin": b"\0\1"})))
    flow.run("remove", "--files", "sub/d.txt")
    second = flow.remembered()
    assert second is not None
    flow.run("close")
    return first, second


# -- list ---------------------------------------------------------------------------------------
def test_list_table_shows_path_size_hash_and_a_total(flow: Flow, cli, data: Path) -> None:
    version_id = flow.version(DATA)
    out = ok(cli("list", "--id", version_id)).stdout
    lines = out.splitlines()
    assert lines[0].split() == ["path", "size", "hash"]
    rows = {line.split()[0]: line.split() for line in lines[1:-2]}
    assert sorted(rows) == ALL
    assert rows["notes.txt"][1:3] == ["10", "B"]
    assert re.fullmatch(r"[0-9a-f]{16}", rows["notes.txt"][3])
    total = sum(len(v) for v in as_bytes(DATA).values())
    assert lines[-2] == f"6 files, {total} B in {version_id}"
    assert lines[-1] == f"Total 6 files, {total} bytes"  # ClearML's line, for scripts


def test_list_json_gives_full_hashes_and_sizes(flow: Flow, cli) -> None:
    version_id = flow.version({"x/y.txt": "hello"})
    [row] = json.loads(ok(cli("list", "--id", version_id, "--json")).stdout)
    assert set(row) == {"path", "size", "hash"}
    assert (row["path"], row["size"]) == ("x/y.txt", 5)
    assert re.fullmatch(r"[0-9a-f]{64}", row["hash"])


def test_a_long_listing_streams_past_the_table_as_plain_lines(
    flow: Flow, cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("deltaset.cli.app.WIDTH_ROWS", 2)
    version_id = flow.version(DATA)
    lines = ok(cli("list", "--id", version_id)).stdout.splitlines()
    assert lines[0].split() == ["path", "size", "hash"]
    assert [line.split()[0] for line in lines[1:-2]] == ALL  # table rows, then plain lines
    assert lines[-2].startswith("6 files, ")


def test_list_json_of_an_empty_selection_is_an_empty_list(flow: Flow, cli) -> None:
    version_id = flow.version(DATA)
    out = ok(cli("list", "--id", version_id, "--json", "--filter", "nothing/*")).stdout
    assert json.loads(out) == []
    rows = json.loads(ok(cli("list", "--id", version_id, "--json")).stdout)
    assert [r["path"] for r in rows] == ALL


def test_list_by_project_and_name_shows_the_highest_version(
    flow: Flow, two_versions: tuple[str, str]
) -> None:
    first, second = two_versions
    latest = flow.listing("--project", "proj", "--name", "ds")
    assert latest == flow.listing("--id", second)
    assert "z.bin" in [r["path"] for r in latest]
    older = flow.paths("--project", "proj", "--name", "ds", "--version", "1.0.0")
    assert older == flow.paths("--id", first) == ALL


def test_list_defaults_to_the_remembered_draft(flow: Flow, data: Path) -> None:
    flow.create()
    flow.run("add", "--files", str(data / "a.jpg"))
    assert flow.paths() == ["a.jpg"]


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        (["sub"], ["sub/c.jpg", "sub/d.txt", "sub/deep/e.jpg"]),
        (["sub/deep/"], ["sub/deep/e.jpg"]),
        (["*.txt"], ["notes.txt", "sub/d.txt"]),
        (["sub/*.jpg"], ["sub/c.jpg", "sub/deep/e.jpg"]),
        (["a.jpg", "sub/d*"], ["a.jpg", "sub/d.txt", "sub/deep/e.jpg"]),
        (["nothing*"], []),
    ],
)
def test_list_filter_by_folders_and_wildcards(
    flow: Flow, filters: list[str], expected: list[str]
) -> None:
    version_id = flow.version(DATA)
    assert flow.paths("--id", version_id, "--filter", *filters) == expected


def test_list_modified_marks_each_change(flow: Flow, cli, two_versions: tuple[str, str]) -> None:
    first, second = two_versions
    assert flow.changes("--id", second) == {
        "a.jpg": "modified",
        "sub/d.txt": "removed",
        "z.bin": "added",
    }
    rows = {r["path"]: r for r in flow.listing("--id", second, "--modified")}
    assert rows["sub/d.txt"]["size"] is None
    assert rows["sub/d.txt"]["hash"] is None
    assert rows["z.bin"]["size"] == 2
    table = ok(cli("list", "--id", second, "--modified")).stdout.splitlines()
    assert table[0].split() == ["change", "path", "size", "hash"]
    marks = {line.split()[1]: line.split()[0] for line in table[1:-2]}
    assert table[-1] == "Total 3 files, 7 bytes"
    assert marks == {"a.jpg": "modified", "sub/d.txt": "removed", "z.bin": "added"}
    assert set(flow.changes("--id", first).values()) == {"added"}


def test_list_modified_with_filter(flow: Flow, two_versions: tuple[str, str]) -> None:
    _, second = two_versions
    assert flow.changes("--id", second, "--filter", "sub") == {"sub/d.txt": "removed"}


# -- search -------------------------------------------------------------------------------------
@pytest.fixture
def catalog(flow: Flow) -> dict[str, str]:
    """Final versions in a few projects, one draft; returns label -> id."""
    return {
        "train": flow.version(
            {"a": "1"}, "--tags", "images", "v1", project="vision", name="train-set"
        ),
        "test": flow.version({"b": "2"}, "--tags", "images", project="vision", name="test-set"),
        "sub": flow.version({"c": "3"}, project="vision/archive", name="train-old"),
        "text": flow.version({"d": "4"}, "--tags", "v1", project="nlp", name="corpus"),
        "draft": flow.create("--tags", "images", project="vision", name="train-set"),
    }


def ids(found: list[dict[str, object]]) -> set[object]:
    return {d["id"] for d in found}


def test_search_lists_completed_versions_only_by_default(
    flow: Flow, catalog: dict[str, str]
) -> None:
    assert ids(flow.search()) == {catalog[k] for k in ("train", "test", "sub", "text")}
    assert ids(flow.search("--not-only-completed")) == set(catalog.values())


def test_search_by_project_includes_sub_projects_unless_told(
    flow: Flow, catalog: dict[str, str]
) -> None:
    assert ids(flow.search("--project", "vision")) == {
        catalog["train"],
        catalog["test"],
        catalog["sub"],
    }
    assert ids(flow.search("--project", "vision", "--non-recursive-project-search")) == {
        catalog["train"],
        catalog["test"],
    }


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("train", {"train", "sub"}),  # partial
        ("set", {"train", "test"}),
        ("^t.*-set$", {"train", "test"}),  # regular expression
        ("corp", {"text"}),
        ("nothing", set()),
    ],
)
def test_search_by_partial_or_regex_name(
    flow: Flow, catalog: dict[str, str], name: str, expected: set[str]
) -> None:
    assert ids(flow.search("--name", name)) == {catalog[k] for k in expected}


def test_search_by_tags_ids_and_combinations(flow: Flow, catalog: dict[str, str]) -> None:
    assert ids(flow.search("--tags", "v1")) == {catalog["train"], catalog["text"]}
    assert ids(flow.search("--tags", "images", "--not-only-completed")) == {
        catalog["train"],
        catalog["test"],
        catalog["draft"],
    }
    assert ids(flow.search("--ids", catalog["test"], catalog["text"])) == {
        catalog["test"],
        catalog["text"],
    }
    assert ids(flow.search("--project", "vision", "--tags", "v1")) == {catalog["train"]}
    assert ids(flow.search("--ids", catalog["draft"])) == set()


def test_search_json_and_table_carry_the_same_facts(
    flow: Flow, cli, catalog: dict[str, str]
) -> None:
    [doc] = flow.search("--ids", catalog["train"])
    assert {k: doc[k] for k in ("project", "name", "version", "tags", "state")} == {
        "project": "vision",
        "name": "train-set",
        "version": "1.0.0",
        "tags": ["images", "v1"],
        "state": "final",
    }
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d.*", doc["created"])
    table = ok(cli("search", "--ids", catalog["train"])).stdout.splitlines()
    assert table[0].split() == ["project", "name", "version", "tags", "state", "created", "id"]
    assert table[1].split() == [
        "vision",
        "train-set",
        "1.0.0",
        "images,",
        "v1",
        "final",
        doc["created"],
        catalog["train"],
    ]
