"""No silent successes: what selects or changes nothing says so. As in ClearML, none of these is
an error (exit code 0); each prints one warning naming what matched nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cli.helpers import DATA, Flow


def warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    found = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    caplog.clear()
    return found


def test_get_files_names_each_pattern_that_matches_nothing(
    flow: Flow, caplog: pytest.LogCaptureFixture
) -> None:
    version = flow.version(DATA)
    caplog.clear()
    pulled = flow.pulled("--id", version, "--files", "sub", "nope/*.png")
    assert sorted(pulled) == ["sub/c.jpg", "sub/d.txt", "sub/deep/e.jpg"]
    assert warnings(caplog) == [
        "No file of the version matches 'nope/*.png'; nothing pulled for it."
    ]
    flow.pulled("--id", version, "--files", "sub", "nope/*.png")  # from the cache: said again
    assert len(warnings(caplog)) == 1
    flow.run("get", "--id", version, "--copy", str(flow.root / "copy"), "--files", "x.bin")
    assert warnings(caplog) == ["No file of the version matches 'x.bin'; nothing pulled for it."]
    flow.pulled("--id", version, "--files", "a.jpg")
    assert warnings(caplog) == []


def test_add_names_a_wildcard_that_matches_nothing(
    flow: Flow, data: Path, caplog: pytest.LogCaptureFixture
) -> None:
    draft = flow.create()
    caplog.clear()
    added = flow.run("add", "--id", draft, "--files", str(data), "--wildcard", "*.jpg", "*.png")
    assert "4 files added" in added.stdout
    assert warnings(caplog) == [f"No file of {data} matches the wildcard '*.png'."]
    linked = flow.run("add", "--id", draft, "--links", str(data), "--wildcard", "*.txt", "*.gif")
    assert "2 external files added" in linked.stdout
    assert warnings(caplog) == [f"No file of {data} matches the wildcard '*.gif'."]


def test_remove_of_a_path_not_in_the_dataset_says_so(
    flow: Flow, data: Path, caplog: pytest.LogCaptureFixture
) -> None:
    draft = flow.create()
    flow.run("add", "--id", draft, "--files", str(data))
    caplog.clear()
    removed = flow.run("remove", "--id", draft, "--files", "images/bad_*.jpg", "a.jpg")
    assert "1 files removed" in removed.stdout
    assert warnings(caplog) == [
        f"Nothing in dataset version {draft} matches 'images/bad_*.jpg'; nothing removed."
    ]


def test_closing_an_empty_draft_says_so(flow: Flow, caplog: pytest.LogCaptureFixture) -> None:
    caplog.clear()
    empty = flow.version({})
    assert warnings(caplog) == [
        f"Closed dataset version {empty} with no files: nothing was added to it."
    ]
    same = flow.version({}, parents=[flow.version({"a.txt": "a"})])
    assert warnings(caplog) == [
        f"Closed dataset version {same} with no changes: it holds the same files as its parents."
    ]


def test_metadata_set_without_a_key_says_which_name_it_used(
    flow: Flow, caplog: pytest.LogCaptureFixture
) -> None:
    version = flow.version({"a.txt": "a"})
    caplog.clear()
    flow.run("metadata", "set", "--id", version, "--value", "1")
    assert warnings(caplog) == ["No --key given: the value is stored under the name 'metadata'."]
    assert flow.run("metadata", "get", "--id", version).stdout.strip() == "1"
    flow.run("metadata", "set", "--id", version, "--key", "k", "--value", "2")
    assert warnings(caplog) == []


def test_search_says_how_many_drafts_it_left_out(flow: Flow) -> None:
    flow.version({"a.txt": "a"})
    flow.create()
    flow.create(name="other")
    lines = flow.run("search").stdout.splitlines()
    assert lines[-1] == "2 drafts not shown; --not-only-completed includes them."
    assert len(lines) == 3  # the header, the final version, the note
    every = flow.run("search", "--not-only-completed").stdout.splitlines()
    assert len(every) == 4
    assert "not shown" not in every[-1]
    assert "draft not shown" in flow.run("search", "--name", "other").stdout
    assert "not shown" not in flow.run("search", "-q").stdout
