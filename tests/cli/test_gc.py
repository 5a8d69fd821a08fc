"""``deltaset gc`` through the CLI, on the embedded catalog and through a deltaset server."""

from __future__ import annotations

import json
import os
from collections.abc import Callable

from deltaset import Dataset
from tests.cli.helpers import Flow, assert_error, ok
from tests.conftest import Result


def test_gc_finds_then_deletes_the_packs_of_a_version_deleted_without_its_files(
    flow: Flow, cli: Callable[..., Result]
) -> None:
    kept = flow.version({"keep.bin": os.urandom(30_000)}, name="keep")
    gone = flow.version({"gone.bin": os.urandom(40_000)}, name="gone")
    Dataset.delete(dataset_id=gone, delete_files=False)
    dry = ok(cli("gc", "--keep-recent", "0"))
    assert "Would free 39." in dry.stdout
    assert "1 packs no version uses" in dry.stdout
    assert "run again with --delete" in dry.stdout
    report = json.loads(ok(cli("gc", "--keep-recent", "0", "--delete", "--json")).stdout)
    assert report["dry_run"] is False
    assert report["unused_packs"] == 1
    assert 40_000 <= report["freed_bytes"] < 41_000
    assert json.loads(ok(cli("gc", "--json", "--keep-recent", "0")).stdout)["unused_packs"] == 0
    assert flow.pulled("--id", kept).keys() == {"keep.bin"}
    ok(cli("verify", "--id", kept))


def test_gc_refuses_a_negative_age(cli: Callable[..., Result]) -> None:
    assert_error(cli("gc", "--keep-recent", "-1"), "--keep-recent")
