"""A version made from parents in a shared bucket lands in that bucket, so a teammate who shares
only the bucket finds it (an S3 server, moto, stands in for the bucket)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from deltaset import Dataset
from tests.conftest import Result, forget_context, make_files

PETS = ("--project", "vision", "--name", "pets")


def ok(result: Result) -> Result:
    assert result.exit_code == 0, result.stderr
    return result


def versions(cli: Callable[..., Result]) -> list[str]:
    found = json.loads(ok(cli("search", "--project", "vision", "--json")).stdout)
    return sorted(d["version"] for d in found)


def test_a_sync_without_storage_lands_in_the_bucket_of_its_parent(
    s3_url: str, cli: Callable[..., Result], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    work = make_files(tmp_path / "work", {"a.jpg": "cat", "b.jpg": "dog"})
    ok(cli("create", *PETS, "--storage", s3_url))
    ok(cli("add", "--files", str(work)))
    ok(cli("close"))
    (work / "c.jpg").write_text("bird")
    synced = ok(cli("sync", *PETS, "--folder", str(work))).stdout  # no --storage

    # A teammate: another home, only the bucket in common.
    monkeypatch.setenv("DELTASET_HOME", str(tmp_path / "teammate"))
    forget_context()
    ok(cli("rebuild-catalog", "--storage", s3_url))
    assert versions(cli) == ["1.0.0", "1.0.1"]
    assert f"Storage: {s3_url}" in synced

    parent = Dataset.get(dataset_project="vision", dataset_name="pets")
    child = Dataset.create("pets", "vision", parent_datasets=[parent])  # the API too
    assert child.get_default_storage() == s3_url
