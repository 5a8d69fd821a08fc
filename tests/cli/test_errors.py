"""Every failure: a non-zero exit, one ``error: ...`` line on stderr, no traceback, no change."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.cli.helpers import DATA, Flow, assert_error
from tests.conftest import make_files, run_cli

UNKNOWN = "0" * 32

# (arguments with {final}, {draft}, {data}, {tmp} placeholders, fragments the line must contain)
CASES: dict[str, tuple[list[str], list[str]]] = {
    # an id that names nothing
    "add-unknown-id": (["add", "--id", UNKNOWN, "--files", "{data}"], ["No dataset version"]),
    "remove-unknown-id": (["remove", "--id", UNKNOWN, "--files", "a.jpg"], [UNKNOWN]),
    "close-unknown-id": (["close", "--id", UNKNOWN], [UNKNOWN]),
    "upload-unknown-id": (["upload", "--id", UNKNOWN], [UNKNOWN]),
    "list-unknown-id": (["list", "--id", UNKNOWN], [UNKNOWN]),
    "delete-unknown-id": (["delete", "--id", UNKNOWN], [UNKNOWN]),
    "get-unknown-id": (["get", "--id", UNKNOWN], [UNKNOWN]),
    "sync-unknown-id": (["sync", "--id", UNKNOWN, "--folder", "{data}"], [UNKNOWN]),
    "create-unknown-parent": (
        ["create", "--project", "p", "--name", "n", "--parents", UNKNOWN],
        [UNKNOWN],
    ),
    "sync-unknown-parent": (
        ["sync", "--folder", "{data}", "--parents", UNKNOWN, "--name", "n"],
        [UNKNOWN],
    ),
    "list-unknown-name": (["list", "--project", "proj", "--name", "nope"], ["proj/nope"]),
    "get-unknown-version": (
        ["get", "--project", "proj", "--name", "ds", "--version", "9.9.9"],
        ["9.9.9"],
    ),
    # a local path that is not there
    "add-missing-file": (
        ["add", "--id", "{draft}", "--files", "{tmp}/missing.jpg"],
        ["missing.jpg", "does not exist"],
    ),
    "add-one-of-several-missing": (
        ["add", "--id", "{draft}", "--files", "{data}/a.jpg", "{tmp}/missing"],
        ["missing"],
    ),
    "add-wildcard-matching-nothing": (
        ["add", "--id", "{draft}", "--files", "{data}/*.png"],
        ["*.png", "does not exist"],
    ),
    "sync-missing-folder": (
        ["sync", "--id", "{draft}", "--folder", "{tmp}/gone"],
        ["gone", "does not exist"],
    ),
    "sync-a-file": (["sync", "--id", "{draft}", "--folder", "{data}/a.jpg"], ["folder"]),
    # in-dataset paths that are absolute or climb out
    "remove-absolute": (["remove", "--id", "{draft}", "--files", "C:/a.jpg"], ["absolute"]),
    "remove-dotdot": (["remove", "--id", "{draft}", "--files", "../a.jpg"], ["'..'"]),
    "remove-inner-dotdot": (["remove", "--id", "{draft}", "--files", "sub/../../x"], ["'..'"]),
    "remove-bad-after-good": (
        ["remove", "--id", "{draft}", "--files", "a.jpg", "C:/etc/passwd"],
        ["absolute"],
    ),
    "remove-empty": (["remove", "--id", "{draft}", "--files", ""], ["empty"]),
    "list-filter-absolute": (["list", "--id", "{final}", "--filter", "D:/sub"], ["absolute"]),
    "list-filter-dotdot": (["list", "--id", "{final}", "--filter", "sub", "../x"], ["'..'"]),
    "get-files-dotdot": (["get", "--id", "{final}", "--files", "../x"], ["'..'"]),
    "add-dataset-folder-dotdot": (
        ["add", "--id", "{draft}", "--files", "{data}", "--dataset-folder", "../up"],
        ["'..'"],
    ),
    # a final version cannot change
    "add-to-final": (["add", "--id", "{final}", "--files", "{data}"], ["final"]),
    "remove-from-final": (["remove", "--id", "{final}", "--files", "a.jpg"], ["final"]),
    "sync-into-final": (["sync", "--id", "{final}", "--folder", "{data}"], ["final"]),
    "upload-final": (["upload", "--id", "{final}"], ["final"]),
    "close-final": (["close", "--id", "{final}"], ["final"]),
    # only final versions can be parents or be pulled
    "create-draft-parent": (
        ["create", "--project", "p", "--name", "n", "--parents", "{draft}"],
        ["draft"],
    ),
    "sync-draft-parent": (
        ["sync", "--folder", "{data}", "--parents", "{draft}", "--name", "n"],
        ["draft"],
    ),
    "get-draft": (["get", "--id", "{draft}"], ["draft"]),
    "get-draft-by-name": (["get", "--project", "proj", "--name", "work"], ["draft"]),
    "copy-draft": (["get", "--id", "{draft}", "--copy", "{tmp}/copy"], ["draft"]),
    # writable copies and links never clobber
    "copy-into-non-empty": (
        ["get", "--id", "{final}", "--copy", "{data}"],
        ["not empty", "--overwrite"],
    ),
    "link-onto-folder": (["get", "--id", "{final}", "--link", "{data}"], ["already exists"]),
    # arguments that make no sense
    "bad-version": (
        ["create", "--project", "p", "--name", "n", "--version", "1.0@x"],
        ["is empty or holds '/', '@'"],
    ),
    "taken-version": (
        ["create", "--project", "proj", "--name", "ds", "--version", "1.0.0"],
        ["already exists"],
    ),
    "no-project": (["create", "--name", "n"], ["project"]),
    "unknown-storage-scheme": (
        ["create", "--project", "p", "--name", "n", "--storage", "ftp://host/x"],
        ["ftp"],
    ),
    "bad-regex": (["search", "--name", "("], ["regular expression"]),
    "part-beyond-the-chunks": (["get", "--id", "{final}", "--part", "1"], ["Part 1", "chunks"]),
    "part-out-of-range": (["get", "--id", "{final}", "--part", "2", "--num-parts", "2"], ["part"]),
    "copy-with-escaping-files": (
        ["get", "--id", "{final}", "--copy", "{tmp}/c", "--files", "../a.jpg"],
        ["'..'"],
    ),
    "disable-upload-pending": (["close", "--id", "{draft}", "--disable-upload"], ["not uploaded"]),
    "disable-upload-with-storage": (
        ["close", "--id", "{draft}", "--disable-upload", "--storage", "{tmp}/s"],
        ["--disable-upload"],
    ),
    "delete-parent": (["delete", "--id", "{final}"], ["parent", "--force"]),
    "delete-entire-without-force": (
        ["delete", "--project", "proj", "--name", "ds", "--entire-dataset"],
        ["--force"],
    ),
}


@pytest.fixture
def world(flow: Flow, data: Path, tmp_path: Path) -> dict[str, str]:
    """A final version (proj/ds) and a draft child of it with a pending file (proj/work)."""
    final = flow.version(DATA)
    draft = flow.create("--parents", final, name="work")
    flow.run("add", "--files", str(flow.folder({"pending.txt": "p"})))
    return {"final": final, "draft": draft, "data": str(data), "tmp": str(tmp_path)}


def snapshot(flow: Flow, world: dict[str, str]) -> tuple[object, ...]:
    return (
        flow.search("--not-only-completed"),
        flow.listing("--id", world["final"]),
        flow.listing("--id", world["draft"]),
        flow.remembered(),
    )


@pytest.mark.parametrize("case", sorted(CASES))
def test_failure_is_one_error_line_and_changes_nothing(
    flow: Flow, cli, world: dict[str, str], case: str
) -> None:
    template, fragments = CASES[case]
    args = [part.format(**world) for part in template]
    fragments = [f.format(**world) for f in fragments]
    before = snapshot(flow, world)
    assert_error(cli(*args), *fragments)
    assert snapshot(flow, world) == before


@pytest.mark.parametrize(
    "args",
    [
        ["add", "--files", "{data}"],
        ["remove", "--files", "a.jpg"],
        ["close"],
        ["upload"],
        ["list"],
        ["delete"],
        ["get"],
        ["sync", "--folder", "{data}"],
    ],
    ids=lambda args: args[0],
)
def test_no_id_and_nothing_remembered(cli, data: Path, args: list[str]) -> None:
    assert_error(
        cli(*[a.format(data=data) for a in args]), "No dataset id given and none remembered", "--id"
    )


def test_nothing_remembered_after_the_remembered_version_is_closed(
    flow: Flow, cli, data: Path
) -> None:
    flow.create()
    flow.run("add", "--files", str(data))
    flow.run("close")
    assert_error(cli("add", "--files", str(data)), "No dataset id given")


def test_real_process_errors_are_one_line_with_exit_code_1(tmp_path: Path) -> None:
    missing = run_cli("get", "--id", UNKNOWN)
    assert missing.returncode == 1
    assert_error(missing, UNKNOWN)
    assert missing.stdout == ""
    no_id = run_cli("add", "--files", str(make_files(tmp_path / "d", {"x": "1"})))
    assert no_id.returncode == 1
    assert_error(no_id, "No dataset id given")


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["create", "--project", "p"], "--name"),
        (["add", "--id", UNKNOWN], "--files"),
        (["sync"], "--folder"),
        (["get", "--part", "x"], "invalid int value"),
        (["frobnicate"], "invalid choice"),
        ([], "COMMAND"),
    ],
    ids=[
        "create-no-name",
        "add-no-files",
        "sync-no-folder",
        "part-not-int",
        "unknown-command",
        "no-command",
    ],
)
def test_usage_mistakes_are_one_error_line_with_exit_code_1(
    cli, args: list[str], fragment: str
) -> None:
    result = cli(*args)
    assert result.exit_code == 1
    assert_error(result, fragment, "--help")
    assert result.stdout == ""


# Bytes that are not UTF-8 reach Python as lone surrogates (os.fsdecode).
NOT_UTF8 = b"caf\xe9".decode("utf-8", "surrogateescape")


@pytest.mark.parametrize(
    "args",
    [
        ["list", "--project", "p", "--name", NOT_UTF8],
        ["list", "--project", NOT_UTF8, "--name", "n"],
        ["list", "--id", NOT_UTF8],
        ["create", "--project", "p", "--name", "n", "--tags", NOT_UTF8],
    ],
    ids=["name", "project", "id", "tag"],
)
def test_arguments_that_are_not_utf8_text_are_one_error(cli, args: list[str]) -> None:
    assert_error(cli(*args), "is not UTF-8 text", "--help")


def test_local_paths_and_dataset_paths_that_are_not_utf8_work(flow: Flow, tmp_path: Path) -> None:
    source = make_files(tmp_path / f"data-{NOT_UTF8}", {"a.txt": "a", f"{NOT_UTF8}.txt": "b"})
    draft = flow.create()
    flow.run("add", "--id", draft, "--files", str(source))
    flow.run("remove", "--id", draft, "--files", f"{NOT_UTF8}.txt")  # a dataset path argument
    flow.run("close", "--id", draft)
    copy = tmp_path / f"copy-{NOT_UTF8}"
    command = [sys.executable, "-m", "deltaset", "get", "--id", draft, "--copy", str(copy)]
    done = subprocess.run(command, capture_output=True, check=False, timeout=60)
    assert (done.returncode, done.stderr) == (0, b"")
    assert done.stdout == os.fsencode(copy) + b"\n"  # the path as the system names it
    assert (copy / "a.txt").read_text() == "a"


@pytest.mark.parametrize(
    "command",
    [["get"], ["list"], ["close"], ["delete"], ["lineage"], ["metadata", "list"]],
    ids=lambda command: "-".join(command),
)
def test_an_id_that_is_not_an_id_is_refused_and_echoed_shortly(cli, command: list[str]) -> None:
    line = assert_error(cli(*command, "--id", "x" * 100_000), "is not a dataset version id")
    assert len(line) < 200
    assert "x" * 79 + "'…" in line


@pytest.mark.parametrize(
    ("bad", "why"),
    [
        ("../../objects?prefix=", "is not a dataset version id"),
        ("ABCDEG", "is not a dataset version id"),
        ("0" * 33, "is not a dataset version id"),
        ("0a1", "too short"),  # a start of an id, but of too many
    ],
)
def test_an_id_that_is_not_an_id_is_never_looked_up(
    cli, monkeypatch: pytest.MonkeyPatch, bad: str, why: str
) -> None:
    monkeypatch.setenv("DELTASET_API_URL", "http://127.0.0.1:9")  # nothing listens there
    assert_error(cli("get", "--id", bad), why)
