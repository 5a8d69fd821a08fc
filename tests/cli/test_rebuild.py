"""``deltaset rebuild-catalog``: a new machine (empty catalog) recovers versions from storage."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.backends import EMBEDDED_ONLY
from tests.cli.helpers import DATA, Flow, as_bytes, assert_error


@EMBEDDED_ONLY  # rebuilds this machine's own catalog
def test_rebuild_catalog_from_storage_alone(
    flow: Flow, cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bucket = tmp_path / "bucket"
    first = flow.version(DATA, "--storage", str(bucket))
    second = flow.version({"a.jpg": "v2"}, "--storage", str(bucket), parents=[first])
    flow.create("--storage", str(bucket), name="draft")  # drafts are not in storage
    monkeypatch.setenv("DELTASET_HOME", str(tmp_path / "new-machine"))
    assert flow.search("--not-only-completed") == []
    assert_error(cli("get", "--id", second), "No dataset version", second)
    result = flow.run("rebuild-catalog", "--storage", str(bucket))
    assert result.stdout.strip() == "2 versions imported into the catalog"
    assert {d["id"]: d["version"] for d in flow.search("--not-only-completed")} == {
        first: "1.0.0",
        second: "1.0.1",
    }
    assert flow.pulled("--project", "proj", "--name", "ds") == {**as_bytes(DATA), "a.jpg": b"v2"}
    assert flow.changes("--id", second) == {"a.jpg": "modified"}
    again = flow.run("rebuild-catalog", "--storage", str(bucket))
    assert again.stdout.strip() == "0 versions imported into the catalog"


@EMBEDDED_ONLY
def test_rebuild_catalog_defaults_to_the_home_storage(
    flow: Flow, isolation: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    version_id = flow.version({"x": "1"})
    (isolation / "catalog.db").unlink()
    for extra in ("catalog.db-wal", "catalog.db-shm"):
        (isolation / extra).unlink(missing_ok=True)
    monkeypatch.setenv("DELTASET_CACHE_DIR", str(tmp_path / "other-cache"))  # a fresh context
    monkeypatch.setenv("DELTASET_DISCOVER_INTERVAL", "off")  # else found in the storage
    assert flow.search() == []
    assert "1 version imported" in flow.run("rebuild-catalog").stdout
    assert flow.pulled("--id", version_id) == {"x": b"1"}
