"""``deltaset import-clearml`` on the command line: a line per version, JSON its schema
accepts, and a skipped version named in one sentence with a non-zero exit code."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import jsonschema

from deltaset.cli.versions import schema
from tests.clearml_layouts import ClearMLStore
from tests.cli.helpers import assert_error, ok
from tests.conftest import Result

Cli = Callable[..., Result]


def two_versions(tmp_path: Path) -> tuple[ClearMLStore, str, str]:
    store = ClearMLStore(tmp_path / "clearml", tmp_path / "work")
    first = store.version("vision", "pets", {"a.txt": b"alpha", "b.txt": b"bravo"})
    second = store.version("vision", "pets", {"c.txt": b"charlie"}, ("a.txt",), parents=(first,))
    return store, first, second


def test_import_clearml_says_what_it_imported_and_prints_json_its_schema_accepts(
    cli: Cli, tmp_path: Path
) -> None:
    store, first, second = two_versions(tmp_path)
    said = ok(cli("import-clearml", str(store.root), "--project", "moved")).stdout
    assert f"imported vision/pets {first} as " in said
    assert "2 versions imported" in said
    doc = json.loads(ok(cli("import-clearml", str(store.root), "--json")).stdout)
    jsonschema.validate(doc, {**schema(), "$ref": "#/$defs/import-clearml"})
    assert [p["clearml_id"] for p in doc["present"]] == [first, second]
    assert (doc["imported"], doc["stored_bytes"]) == ([], 0)
    listed = ok(cli("list", "--id", doc["present"][1]["id"])).stdout
    assert "b.txt" in listed
    assert "c.txt" in listed
    assert "a.txt" not in listed
    assert ok(cli("show", "--id", doc["present"][1]["id"], "--json")).stdout.count('"moved"') == 1


def test_a_damaged_version_is_named_and_makes_the_exit_code_non_zero(
    cli: Cli, tmp_path: Path
) -> None:
    store, first, second = two_versions(tmp_path)
    store.chunks(second)[0].write_bytes(b"not a zip")
    result = cli("import-clearml", str(store.root), "--json")
    assert_error(result, f"1 ClearML version was skipped (first: {second}, its chunk 'data'")
    doc = json.loads(result.stdout)
    assert [o["clearml_id"] for o in doc["imported"]] == [first]
    assert [o["id"] for o in doc["skipped"]] == [None]
