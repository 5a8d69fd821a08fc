"""``--json``: every command that makes, changes or prints something prints JSON that its
definition in the shipped schema (deltaset/cli/schema.json, docs/json.md) accepts, and nothing
else on stdout; a version has one form everywhere."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from deltaset.cli import reference
from deltaset.cli.versions import schema
from tests.backends import EMBEDDED_ONLY
from tests.cli.helpers import Flow, ok
from tests.conftest import Result

# What the issue asked --json of, besides the commands that already had it.
ASKED = [
    "add", "remove", "sync", "upload", "close", "delete", "get", "squash", "publish",
    "set-description", "rename", "move", "rebuild-catalog", "metadata-set", "metadata-get",
    "metadata-list", "config-show", "config-set", "server-token-create", "server-token-list",
    "server-token-revoke",
]  # fmt: skip


def checked(cli: Callable[..., Result], definition: str, *args: str) -> Any:
    """The JSON ``deltaset ARGS --json`` prints, after checking it against ``definition``."""
    result = ok(cli(*args, "--json"))
    doc = json.loads(result.stdout)  # the whole of stdout: no prose before or after
    jsonschema.validate(doc, {**schema(), "$ref": f"#/$defs/{definition}"})
    return doc


def _json_commands() -> dict[str, reference.Command]:
    return {
        "-".join(c.path): c
        for c in reference.commands()
        if any("--json" in a.option_strings for a in c.parser._actions)
    }


@EMBEDDED_ONLY
def test_every_command_with_json_has_a_definition_in_the_schema() -> None:
    found = _json_commands()
    assert set(ASKED) <= set(found)
    assert set(found) - set(schema()["$defs"]) == set()
    jsonschema.Draft202012Validator.check_schema(schema())


def test_each_command_prints_json_its_definition_accepts(
    cli: Callable[..., Result], flow: Flow, tmp_path: Path
) -> None:
    draft = checked(cli, "create", "create", "--project", "proj", "--name", "ds")
    version_id = draft["id"]
    assert (draft["state"], draft["files"], draft["changes"]) == ("draft", None, None)
    folder = flow.folder({"a.txt": "alpha", "b.txt": "bravo", "c.txt": "charlie"})
    added = checked(cli, "add", "add", "--files", str(folder))
    assert (added["files_added"], added["version"]["id"]) == (3, version_id)
    assert checked(cli, "remove", "remove", "--files", "c.txt")["files_removed"] == 1
    assert checked(cli, "show", "show")["files"] == 2  # a draft's files, counted by show
    assert checked(cli, "upload", "upload")["stored_bytes"] > 0
    closed = checked(cli, "close", "close", "--id", version_id)
    assert (closed["state"], closed["files"], closed["bytes"]) == ("final", 2, 10)
    assert closed["changes"] == {"added": 2, "modified": 0, "removed": 0}
    by_id = ("--id", version_id)
    checked(cli, "set-description", "set-description", *by_id, "--description", "two files")
    published = checked(cli, "publish", "publish", *by_id)
    assert (published["state"], published["description"]) == ("published", "two files")
    pulled = checked(cli, "get", "get", *by_id)
    assert sorted(p.name for p in Path(pulled["folder"]).iterdir()) == ["a.txt", "b.txt"]
    checked(cli, "list", "list", *by_id)
    checked(cli, "verify", "verify", *by_id)
    checked(cli, "metadata-set", "metadata", "set", *by_id, "--key", "k", "--value", "[1, 2]")
    assert checked(cli, "metadata-get", "metadata", "get", *by_id, "--key", "k") == [1, 2]
    assert checked(cli, "metadata-list", "metadata", "list", *by_id) == ["dataset-content", "k"]
    checked(cli, "tag", "tag", *by_id, "--add", "t")

    synced = checked(
        cli, "sync", "sync", "--project", "proj", "--name", "ds", "--folder", str(folder)
    )
    child = synced["version"]
    assert (synced["added"], synced["closed"], child["parents"]) == (1, True, [version_id])
    checked(cli, "compare", "compare", "--source", version_id, "--target", child["id"])
    lineage = checked(cli, "lineage", "lineage", "--id", child["id"])
    squashed = checked(cli, "squash", "squash", "--name", "flat", "--ids", child["id"])
    assert squashed["parents"] == []
    assert len(checked(cli, "search", "search")) == 3
    assert len(checked(cli, "rename", "rename", "--project", "proj", "--name", "ds", "--new-name",
                       "renamed")["versions"]) == 2  # fmt: skip
    moved = checked(cli, "move", "move", "--project", "proj", "--name", "renamed",
                    "--new-project", "other")  # fmt: skip
    assert {v["project"] for v in moved["versions"]} == {"other"}
    assert checked(cli, "delete", "delete", "--id", squashed["id"])["deleted"] == [squashed["id"]]
    assert lineage["versions"][version_id]["id"] == version_id


@EMBEDDED_ONLY
def test_rebuild_config_cache_and_server_tokens_print_json(
    cli: Callable[..., Result], flow: Flow, tmp_path: Path
) -> None:
    version_id = flow.version({"a.txt": "a"})
    assert checked(cli, "rebuild-catalog", "rebuild-catalog")["skipped"] == []
    assert all(r["error"] is None for r in checked(cli, "refresh", "refresh"))
    shared = str(tmp_path / "shared")
    pushed = checked(cli, "push", "push", "--id", version_id, "--to", shared)
    assert pushed["copied"] == [version_id]
    pulled = checked(cli, "pull", "pull", "--id", version_id, "--from", shared)
    assert pulled["present"] == [version_id]
    set_ = checked(cli, "config-set", "config", "set", "cache-limit", "1GB")
    assert (set_["key"], set_["value"]) == ("cache-limit", "1GB")
    checked(cli, "config-show", "config", "show")
    checked(cli, "cache-info", "cache", "info")
    checked(cli, "gc", "gc")
    db = ("--db", f"sqlite:///{tmp_path / 'tokens.db'}")
    created = checked(cli, "server-token-create", "server", "token", "create", *db, "--name", "ci")
    assert (
        checked(cli, "server-token-list", "server", "token", "list", *db)[0]["id"] == created["id"]
    )
    revoke = ("server", "token", "revoke", *db, created["id"])
    assert checked(cli, "server-token-revoke", *revoke) == {"revoked": created["id"]}


def test_a_version_has_one_form_in_every_command(cli: Callable[..., Result], flow: Flow) -> None:
    parent = flow.version({"a.txt": "a"})
    version_id = flow.version({"b.txt": "b"}, parents=[parent])
    shown = checked(cli, "show", "show", "--id", version_id)
    [searched] = checked(cli, "search", "search", "--ids", version_id)
    lineage = checked(cli, "lineage", "lineage", "--id", version_id)
    assert shown == searched == lineage["versions"][version_id]
    assert "status" not in searched  # one name for it: state
    assert (shown["state"], shown["parents"], shown["files"]) == ("final", [parent], 2)
    assert shown["changes"] == {"added": 1, "modified": 0, "removed": 0}


@EMBEDDED_ONLY
def test_config_show_says_where_each_value_comes_from(
    cli: Callable[..., Result], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    ok(cli("config", "set", "s3.region", "eu-west-1"))
    monkeypatch.setenv("DELTASET_STORAGE", str(tmp_path / "elsewhere"))
    shown = checked(cli, "config-show", "config", "show")
    assert shown["storage"] == {"value": str(tmp_path / "elsewhere"), "source": "environment"}
    assert shown["s3.region"] == {"value": "eu-west-1", "source": "file"}
    assert shown["cache-limit"] == {"value": None, "source": "default"}
    assert shown["home"]["source"] == "environment"  # the tests set DELTASET_HOME
    text = ok(cli("config", "show")).stdout
    assert any(line.split()[::2] == ["s3.region", "file"] for line in text.splitlines())


def test_json_leaves_stdout_to_the_data_even_when_a_command_also_speaks(
    cli: Callable[..., Result], flow: Flow
) -> None:
    folder = flow.folder({"x.txt": "x"})
    args = ("--project", "proj", "--name", "ds", "--folder", str(folder))
    text = ok(cli("sync", *args, "--skip-close")).stdout
    assert "Sync of" in text  # what --json must keep off stdout
    unchanged = checked(cli, "sync", "sync", *args, "--skip-close")
    assert unchanged["closed"] is False
