"""``deltaset show``: one version's identity, state, lineage, storage, files and bytes."""

from __future__ import annotations

import json
from collections.abc import Callable

from tests.cli.helpers import Flow, assert_error, ok
from tests.conftest import Result


def test_show_tells_people_everything_about_a_version(
    cli: Callable[..., Result], flow: Flow
) -> None:
    parent = flow.version({"a.txt": "alpha"})
    child = flow.version({"b.txt": "bravo!"}, "--tags", "raw", "--description", "pets",
                         parents=[parent])  # fmt: skip
    lines = ok(cli("show", "--project", "proj", "--name", "ds")).stdout.splitlines()
    fields = dict(line.split(":", 1) for line in lines)
    shown = {key: value.strip() for key, value in fields.items()}
    assert shown["id"] == child
    assert (shown["dataset"], shown["version"], shown["state"]) == ("proj/ds", "1.0.1", "final")
    assert (shown["parents"], shown["tags"], shown["description"]) == (parent, "raw", "pets")
    assert shown["files"] == "2"
    assert shown["bytes"] == "11 B (11 bytes)"
    assert shown["changes"] == "1 added, 0 modified, 0 removed (since the parents)"
    assert shown["storage"].startswith("file://") or shown["storage"].startswith("http")
    assert (shown["types"], shown["folders"]) == (".txt 2 (11 B)", ". 2 (11 B)")
    doc = json.loads(ok(cli("show", "--id", child, "--json")).stdout)
    assert shown["created"] == f"{doc['created']} by {doc['user']}"


def test_show_of_a_draft_counts_its_files_so_far(cli: Callable[..., Result], flow: Flow) -> None:
    draft = flow.create()
    flow.run("add", "--files", str(flow.folder({"x.txt": "xx", "y.txt": "yyy"})))
    doc = json.loads(ok(cli("show", "--json")).stdout)  # the remembered draft
    assert (doc["id"], doc["state"], doc["files"], doc["bytes"]) == (draft, "draft", 2, 5)
    assert doc["changes"] == {"added": 2, "modified": 0, "removed": 0}


def test_show_of_an_unknown_version_is_one_sentence(cli: Callable[..., Result]) -> None:
    assert_error(cli("show", "--id", "e" * 32), "e" * 32)
    assert_error(cli("show", "--project", "proj", "--name", "nothing"), "No dataset proj/nothing")
