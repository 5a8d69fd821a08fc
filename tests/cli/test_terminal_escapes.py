"""Names that would act on a terminal (ESC sequences, newlines, bidi overrides) are shown as
escapes in every human-readable output, and exactly in ``--json``."""

from __future__ import annotations

import os
import pty
import subprocess
import sys
from pathlib import Path

from tests.cli.helpers import Flow, assert_error, ok
from tests.conftest import run_cli

RECOLOUR = "red\x1b[31mX.txt"
TWO_ROWS = "two\nrows.txt"
REORDERED = "rtl\u202etxt.exe"
C1 = "csi\x9b31m.txt"
MARKUP = "[bold]x:smile:.txt"
HOSTILE = {RECOLOUR: "1", TWO_ROWS: "2", REORDERED: "3", C1: "4", MARKUP: "5"}
SHOWN = {
    RECOLOUR: "red\\x1b[31mX.txt",
    TWO_ROWS: "two\\nrows.txt",
    REORDERED: "rtl\\u202etxt.exe",
    C1: "csi\\x9b31m.txt",
    MARKUP: MARKUP,
}


def _safe(text: str) -> None:
    for char in "\x1b\x9b\u202e\r":
        assert char not in text, repr(text)


def test_list_shows_each_hostile_name_escaped_on_one_row(flow: Flow, cli) -> None:
    version_id = flow.version(HOSTILE)
    out = ok(cli("list", "--id", version_id)).stdout
    _safe(out)
    rows = out.splitlines()[1:-2]  # the header; the totals, deltaset's and ClearML's
    assert sorted(row.split("  ")[0].strip() for row in rows) == sorted(SHOWN.values())
    modified = ok(cli("list", "--id", version_id, "--modified")).stdout
    _safe(modified)
    assert len(modified.splitlines()) == len(HOSTILE) + 3


def test_list_json_keeps_every_name_exact(flow: Flow) -> None:
    version_id = flow.version(HOSTILE)
    assert sorted(flow.paths("--id", version_id)) == sorted(HOSTILE)


def test_compare_and_verbose_lines_escape_names(flow: Flow, cli) -> None:
    first = flow.version({"a.txt": "a"})
    draft = flow.create("--parents", first)
    added = run_cli("add", "--id", draft, "--files", str(flow.folder(HOSTILE)), "--verbose")
    assert added.returncode == 0, added.stderr
    _safe(added.stdout + added.stderr)
    assert f"added {SHOWN[TWO_ROWS]}" in added.stderr.splitlines()  # the CLI's own log lines
    flow.run("close", "--id", draft)
    compared = ok(cli("compare", "--source", first, "--target", draft)).stdout
    _safe(compared)
    assert len(compared.splitlines()) == len(HOSTILE) + 3
    assert SHOWN[RECOLOUR] in compared


def test_names_of_versions_and_tags_are_escaped_in_search_and_lineage(flow: Flow, cli) -> None:
    version_id = flow.version(
        {"a.txt": "a"}, "--tags", "t\x1b]0;title\x07", project="p\x1b[2J", name="n\nm"
    )
    found = ok(cli("search", "--project", "p\x1b[2J")).stdout
    _safe(found + "\x07")
    assert "t\\x1b]0;title\\x07" in found
    assert len(found.splitlines()) == 2
    tree = ok(cli("lineage", "--id", version_id)).stdout
    assert tree == f"p\\x1b[2J/n\\nm 1.0.0 [final] {version_id}\n"
    [record] = flow.search("--project", "p\x1b[2J")
    assert (record["name"], record["tags"]) == ("n\nm", ["t\x1b]0;title\x07"])


def test_an_error_sentence_escapes_the_name_it_echoes(cli, tmp_path: Path) -> None:
    draft = Flow(cli, tmp_path).create()
    line = assert_error(cli("add", "--id", draft, "--files", str(tmp_path / TWO_ROWS)))
    assert SHOWN[TWO_ROWS] in line


def test_get_prints_its_folder_exact_to_a_pipe_and_escaped_to_a_terminal(
    flow: Flow, tmp_path: Path
) -> None:
    version_id = flow.version({"a.txt": "a"})
    copy = tmp_path / "copy\x1b[31m"
    command = [sys.executable, "-m", "deltaset", "get", "--id", version_id, "--copy", str(copy)]
    piped = subprocess.run(command, capture_output=True, check=False, timeout=60)
    assert (piped.returncode, piped.stderr) == (0, b"")
    assert piped.stdout == os.fsencode(copy) + b"\n"  # for $(deltaset get ...)
    leader, follower = pty.openpty()
    try:
        shown = subprocess.run(
            [*command, "--overwrite"], stdout=follower, stderr=subprocess.PIPE, timeout=60
        )
        os.close(follower)
        assert (shown.returncode, shown.stderr) == (0, b"")
        printed = os.read(leader, 4096)
    finally:
        os.close(leader)
    assert printed == str(tmp_path).encode() + b"/copy\\x1b[31m\r\n"
