"""``publish``, ``set-description``, ``rename`` and ``move`` from the command line."""

from __future__ import annotations

import json
from pathlib import Path

from deltaset import Dataset
from tests.cli.helpers import Flow, assert_error, ok


def test_publish_describe_rename_move(flow: Flow, data: Path) -> None:
    version = flow.version({"a.txt": "a"})
    ok(flow.cli("set-description", "--id", version, "--description", "first cut"))
    ok(flow.cli("publish", "--id", version))
    ok(flow.cli("rename", "--project", "proj", "--name", "ds", "--new-name", "pets"))
    ok(flow.cli("move", "--project", "proj", "--name", "pets", "--new-project", "vision"))
    found = json.loads(ok(flow.cli("search", "--project", "vision", "--json")).stdout)
    assert [(v["name"], v["id"]) for v in found] == [("pets", version)]
    assert Dataset.get(dataset_id=version).is_published()
    assert Dataset.get(dataset_id=version).description == "first cut"


def test_mistakes_are_one_sentence(flow: Flow, data: Path) -> None:
    flow.create()
    assert_error(flow.cli("publish"), "still a draft")
    assert_error(
        flow.cli("rename", "--project", "nope", "--name", "none", "--new-name", "x"),
        "No dataset nope/none",
    )
    assert_error(flow.cli("move", "--project", "p"), "--name")
