"""``deltaset create``: drafts, versions, parents, tags, storage, description, JSON, memory."""

from __future__ import annotations

import json
from pathlib import Path

from tests.backends import Backend
from tests.cli.helpers import DATA, Flow, as_bytes, assert_error, id_of, ok, stored_blobs


def test_create_prints_the_id_of_a_new_draft_1_0_0(cli, flow: Flow) -> None:
    result = ok(cli("create", "--project", "proj", "--name", "ds"))
    version_id = id_of(result)
    assert "Created proj/ds version 1.0.0" in result.stdout
    [found] = flow.search("--not-only-completed")
    assert (found["id"], found["state"], found["version"]) == (version_id, "draft", "1.0.0")
    assert flow.search() == []  # a draft is not a completed version


def test_create_json_reports_every_field_given(cli, tmp_path: Path) -> None:
    storage = tmp_path / "store"
    result = ok(
        cli(
            "create",
            "--project",
            "team/proj",
            "--name",
            "ds",
            "--version",
            "2.1.0",
            "--tags",
            "raw",
            "v1",
            "--description",
            "first cut",
            "--storage",
            str(storage),
            "--json",
        )
    )
    doc = json.loads(result.stdout)
    assert doc["project"] == "team/proj"
    assert doc["name"] == "ds"
    assert doc["version"] == "2.1.0"
    assert doc["tags"] == ["raw", "v1"]
    assert doc["description"] == "first cut"
    assert doc["state"] == "draft"
    assert doc["parents"] == []
    assert doc["storage"] == storage.resolve().as_uri()
    assert len(doc["id"]) == 32


def test_versions_bump_from_the_highest_and_can_be_chosen(flow: Flow, cli) -> None:
    assert flow.search("--not-only-completed") == []
    first = flow.version({"f": "1"})
    second = flow.version({"f": "2"}, parents=[first])
    chosen = flow.create("--version", "3.0.0")
    after = flow.create()
    versions = {d["id"]: d["version"] for d in flow.search("--not-only-completed")}
    assert versions == {first: "1.0.0", second: "1.0.1", chosen: "3.0.0", after: "3.0.1"}
    assert_error(
        cli("create", "--project", "proj", "--name", "ds", "--version", "3.0.0"),
        "3.0.0",
        "already exists",
    )


def test_parents_merge_in_the_order_given_later_ones_win(flow: Flow) -> None:
    one = flow.version({"x": "from one", "y": "only one"}, name="one")
    two = flow.version({"x": "from two", "z": "only two"}, name="two")
    one_then_two = flow.version({}, name="merged", parents=[one, two])
    two_then_one = flow.version({}, name="merged", parents=[two, one])
    assert flow.pulled("--id", one_then_two) == {
        "x": b"from two",
        "y": b"only one",
        "z": b"only two",
    }
    assert flow.pulled("--id", two_then_one)["x"] == b"from one"


def test_project_defaults_to_the_last_parents(flow: Flow, cli) -> None:
    first = flow.version({"a": "1"}, project="alpha", name="a")
    last = flow.version({"b": "2"}, project="beta", name="b")
    result = ok(cli("create", "--name", "child", "--parents", first, last))
    assert "Created beta/child version 1.0.0" in result.stdout


def test_tags_make_a_draft_findable(flow: Flow) -> None:
    tagged = flow.create("--tags", "raw", "2024")
    flow.create(name="other")
    found = flow.search("--tags", "2024", "--not-only-completed")
    assert [(d["id"], d["tags"]) for d in found] == [(tagged, ["raw", "2024"])]


def test_storage_and_its_output_uri_alias_choose_where_bytes_go(
    backend: Backend, flow: Flow, data: Path, tmp_path: Path, isolation: Path
) -> None:
    for flag in ("--storage", "--output-uri"):
        storage = tmp_path / f"bucket{flag}"
        version_id = flow.create(flag, str(storage), name=f"ds{flag}")
        flow.run("add", "--files", str(data))
        flow.run("close")
        assert len(stored_blobs(storage)) == len(DATA)
        assert flow.pulled("--id", version_id) == as_bytes(DATA)
    assert stored_blobs(backend.storage) == set()


def test_create_remembers_the_id_for_the_next_commands(flow: Flow, data: Path) -> None:
    first = flow.create(name="first")
    assert flow.remembered() == first
    flow.run("add", "--files", str(data / "a.jpg"))
    second = flow.create(name="second")
    assert flow.remembered() == second
    flow.run("add", "--files", str(data / "b.jpg"))
    assert flow.paths() == ["b.jpg"]  # no --id: the last one created
    assert flow.paths("--id", first) == ["a.jpg"]
    assert flow.paths() == ["a.jpg"]  # then the last one given with --id, as in ClearML
