"""What scripts written for clearml-data read: the lines it prints (after deltaset's own), and
the version remembered from any command given --id."""

from __future__ import annotations

import json
import re
from pathlib import Path

from tests.cli.helpers import Flow, assert_error, ok

UNKNOWN = "0" * 32


def line_after(out: str, pattern: str) -> str:
    """The first group of ``pattern`` in ``out``, as a script written for ClearML greps it."""
    found = re.search(pattern, out, re.MULTILINE)
    assert found, out
    return found[1]


def test_create_and_sync_print_clearmls_new_dataset_line(cli, flow: Flow, data: Path) -> None:
    created = ok(cli("create", "--project", "proj", "--name", "ds")).stdout
    version_id = line_after(created, r"^New dataset created id=(\w+)$")  # ClearML #1064
    assert f"id={version_id}" in created.splitlines()[0]  # deltaset's own line stays first
    flow.run("add", "--files", str(data))
    flow.run("close")
    folder = flow.folder({"a.jpg": "new"})
    synced = ok(cli("sync", "--project", "proj", "--name", "ds", "--folder", str(folder))).stdout
    child = line_after(synced, r"^New dataset created id=(\w+)$")
    assert child != version_id
    assert "Sync completed: 5 files removed, 0 added, 1 modified" in synced.splitlines()
    assert synced.splitlines()[-1] == "Dataset closed and finalized"
    same = ok(cli("sync", "--project", "proj", "--name", "ds", "--folder", str(folder))).stdout
    assert "Zero modifications on local copy, reverting dataset creation." in same.splitlines()


def test_every_result_clearml_prints_is_printed(cli, flow: Flow, data: Path) -> None:
    first = flow.version({"a.jpg": "a", "b.jpg": "b"})
    draft = flow.create("--parents", first)
    lines = {
        "add": ok(cli("add", "--files", str(data / "notes.txt"))).stdout,
        "remove": ok(cli("remove", "--files", "b.jpg")).stdout,
        "upload": ok(cli("upload")).stdout,
        "close": ok(cli("close", "--id", draft)).stdout,
        "publish": ok(cli("publish", "--id", draft)).stdout,
        "compare": ok(cli("compare", "--source", first, "--target", draft)).stdout,
        "list": ok(cli("list", "--id", draft)).stdout,
        "verify": ok(cli("verify", "--id", draft)).stdout,
        "squash": ok(cli("squash", "--name", "flat", "--ids", first, draft)).stdout,
    }
    expected = {
        "add": "1 file added",
        "remove": "1 file removed",
        "upload": "Dataset upload completed",
        "close": "Dataset closed and finalized",
        "publish": "Dataset published",
        "compare": "Comparison summary: 1 files removed, 0 files modified, 1 files added",
        "list": "Total 2 files, 11 bytes",
        "verify": "Dataset verification completed successfully, no errors found.",
        "squash": "Squashing completed, new dataset created id=",
    }
    for command, line in expected.items():
        assert line in lines[command].splitlines()[-1], (command, lines[command])
    assert len(lines["close"].splitlines()) == 3  # deltaset's two lines stay


def test_clearmls_lines_stay_out_of_quiet_and_json_output(cli) -> None:
    assert ok(cli("create", "--project", "proj", "--name", "q", "--quiet")).stdout == ""
    doc = json.loads(ok(cli("create", "--project", "proj", "--name", "j", "--json")).stdout)
    assert len(doc["id"]) == 32  # stdout is the JSON alone


def test_any_command_given_an_id_remembers_it(flow: Flow, cli, data: Path) -> None:
    first = flow.create(name="first")
    second = flow.create(name="second")
    assert flow.remembered() == second
    flow.run("show", "--id", first[:8])  # a unique start: the whole id is remembered
    assert flow.remembered() == first
    flow.run("add", "--files", str(data / "a.jpg"))  # no --id: into the one last given
    assert flow.paths("--id", first) == ["a.jpg"]
    assert flow.paths("--id", second) == []
    assert flow.remembered() == second
    assert_error(cli("show", "--id", UNKNOWN), UNKNOWN)
    assert flow.remembered() == second  # a mistyped id is refused, never remembered
    flow.run("publish", "--id", flow.version({"x": "1"}, name="third"))
    assert flow.remembered() is None  # publish forgets it, as ClearML does
