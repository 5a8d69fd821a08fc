"""``deltaset usage``, ``lineage --used-by`` and ``get --run``: which run used which data, and
that data back in one command."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from deltaset.cli.versions import schema
from tests.cli.helpers import Flow, assert_error, ok
from tests.conftest import Result, forget_context, read_tree


def as_json(cli: Callable[..., Result], definition: str, *args: str) -> Any:
    doc = json.loads(ok(cli(*args, "--json")).stdout)
    jsonschema.validate(doc, {**schema(), "$ref": f"#/$defs/{definition}"})
    return doc


def read_in_run(cli: Callable[..., Result], run: str, *args: str) -> None:
    """``deltaset get ARGS`` as a process of its own, under the run ``run``."""
    forget_context()
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DELTASET_RUN", run)
        ok(cli("get", *args))
    forget_context()


@pytest.fixture
def two_runs(cli: Callable[..., Result], flow: Flow) -> tuple[str, str, str]:
    """A parent and a child version; run "exp-1" read both, run "exp-2" the child."""
    parent = flow.version({"a.txt": "alpha"}, name="images")
    child = flow.version({"b.txt": "bravo"}, name="images", parents=[parent])
    labels = flow.version({"labels.csv": "x,y\n"}, name="labels")
    read_in_run(cli, "exp-1", "--id", child)
    read_in_run(cli, "exp-1", "--id", labels)
    read_in_run(cli, "exp-2", "--id", child)
    return parent, child, labels


def test_usage_lists_the_uses_of_a_version_and_the_versions_of_a_run(
    cli: Callable[..., Result], two_runs: tuple[str, str, str]
) -> None:
    _, child, labels = two_runs
    uses = as_json(cli, "usage", "usage", "--id", child)
    assert [(u["run_name"], u["alias"]) for u in uses] == [("exp-1", "images"), ("exp-2", "images")]
    assert all(u["run_kind"] == "deltaset" for u in uses)
    by_run = as_json(cli, "usage", "usage", "--run", "exp-1")
    assert [u["version_id"] for u in by_run] == [child, labels]
    table = ok(cli("usage", "--run", "exp-1")).stdout
    assert child in table
    assert labels in table
    assert "deltaset:exp-1" in table
    assert as_json(cli, "usage", "usage", "--run", "never-ran") == []


def test_usage_takes_a_run_or_a_version_not_both(
    cli: Callable[..., Result], two_runs: tuple[str, str, str]
) -> None:
    assert_error(cli("usage", "--run", "exp-1", "--id", two_runs[1]), "either --run")


def test_lineage_used_by_adds_the_readers(
    cli: Callable[..., Result], two_runs: tuple[str, str, str]
) -> None:
    parent, child, _ = two_runs
    doc = as_json(cli, "lineage", "lineage", "--id", child, "--used-by")
    assert [u["run_name"] for u in doc["used_by"][child]] == ["exp-1", "exp-2"]
    assert doc["used_by"][parent] == []
    assert "used_by" not in as_json(cli, "lineage", "lineage", "--id", child)
    text = ok(cli("lineage", "--id", child, "--used-by")).stdout
    assert f"{child} as images: deltaset:exp-2" in text
    dot = ok(cli("lineage", "--id", child, "--used-by", "--dot")).stdout
    assert f'"used by deltaset:exp-1" -> "{child}" [style=dashed, label="images"];' in dot


def test_get_run_copies_every_version_the_run_used_under_its_alias(
    cli: Callable[..., Result], two_runs: tuple[str, str, str], tmp_path: Path
) -> None:
    doc = as_json(cli, "get", "get", "--run", "exp-1", "--copy", str(tmp_path / "back"))
    assert [c["alias"] for c in doc["copies"]] == ["images", "labels"]
    assert read_tree(tmp_path / "back" / "images") == {"a.txt": b"alpha", "b.txt": b"bravo"}
    assert read_tree(tmp_path / "back" / "labels") == {"labels.csv": b"x,y\n"}


def test_get_run_refuses_what_it_cannot_do(
    cli: Callable[..., Result], two_runs: tuple[str, str, str], tmp_path: Path
) -> None:
    assert_error(cli("get", "--run", "exp-1"), "--run takes --copy DIR")
    assert_error(
        cli("get", "--run", "exp-1", "--copy", str(tmp_path / "x"), "--id", two_runs[1]),
        "--run takes --copy DIR",
    )
    assert_error(
        cli("get", "--run", "never-ran", "--copy", str(tmp_path / "x")),
        "No use of a dataset version was recorded for the run 'never-ran'",
    )
