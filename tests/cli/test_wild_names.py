"""Every name POSIX allows round-trips byte for byte: add, list, close, compare, get,
get --copy, ``Dataset.open`` and ``deltaset://`` reads, on both catalog backends."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import fsspec

from deltaset import Dataset
from tests.cli.helpers import Flow, assert_error
from tests.wild_names import DEEP_FILES, FILES, as_str, from_json, read_tree, write_tree


def test_every_name_posix_allows_round_trips(flow: Flow, tmp_path: Path) -> None:
    source = write_tree(tmp_path / "wild", FILES)
    assert read_tree(source) == FILES  # the file system here holds every one of them
    first = flow.create()
    added = flow.run("add", "--id", first, "--files", str(source))
    assert added.stderr == ""  # nothing skipped
    listed = json.loads(flow.run("list", "--id", first, "--json").stdout)
    assert sorted(from_json(row["path"]) for row in listed) == sorted(FILES)
    flow.run("close", "--id", first)
    assert sorted(from_json(row["path"]) for row in flow.listing("--id", first)) == sorted(FILES)

    pulled = flow.run("get", "--id", first).stdout.rstrip("\n")
    assert read_tree(pulled) == FILES
    copy = tmp_path / "copy"
    flow.run("get", "--id", first, "--copy", str(copy))
    assert read_tree(copy) == FILES
    top = sorted(set(os.listdir(bytes(copy))) - {b".deltaset"})
    assert top == sorted({rel.split(b"/")[0] for rel in FILES})

    dataset = Dataset.get(dataset_id=first)
    for rel, content in FILES.items():
        with dataset.open(as_str(rel)) as handle:
            assert handle.read() == content
        url = f"deltaset://proj/ds@{dataset.version}/{as_str(rel)}"
        with fsspec.open(url, "rb") as handle:
            assert handle.read() == content
    assert sorted(map(os.fsencode, dataset.list_files())) == sorted(FILES)


def test_compare_names_the_changed_files_by_their_bytes(flow: Flow, tmp_path: Path) -> None:
    first = flow.create()
    flow.run("add", "--id", first, "--files", str(write_tree(tmp_path / "one", FILES)))
    flow.run("close", "--id", first)
    changed = {b"caf\xe9.txt": b"changed", b"new \xff.txt": b"new", b"tab\there.txt": b"x"}
    second = flow.create("--parents", first)
    flow.run("add", "--id", second, "--files", str(write_tree(tmp_path / "two", changed)))
    flow.run("remove", "--id", second, "--files=-leading-dash.txt")  # as argparse takes it
    flow.run("close", "--id", second)
    found = json.loads(flow.run("compare", "--source", first, "--target", second, "--json").stdout)
    assert [from_json(c["path"]) for c in found["added"]] == [b"new \xff.txt"]
    assert sorted(from_json(c["path"]) for c in found["modified"]) == [
        b"caf\xe9.txt",
        b"tab\there.txt",
    ]
    assert [from_json(c["path"]) for c in found["removed"]] == [b"-leading-dash.txt"]
    text = flow.run("compare", "--source", first, "--target", second).stdout
    assert "caf\\xe9.txt" in text
    assert "tab\\there.txt" in text


def test_a_path_of_more_than_4000_bytes_round_trips_or_is_named(flow: Flow, tmp_path: Path) -> None:
    first = flow.create()
    with tempfile.TemporaryDirectory(dir="/tmp") as short:  # the whole path must stay < 4,096
        source = write_tree(Path(short) / "w", DEEP_FILES)
        flow.run("add", "--id", first, "--files", str(source))
    flow.run("close", "--id", first)
    assert sorted(from_json(row["path"]) for row in flow.listing("--id", first)) == sorted(
        DEEP_FILES
    )
    deepest = max(len(path) for path in DEEP_FILES)
    # A target whose own path takes the rest of PATH_MAX, however deep pytest's folder is.
    target = tmp_path / ("c" * max(4, 4096 - len(str(tmp_path)) - 1 - deepest))
    too_deep = flow.cli("get", "--id", first, "--copy", str(target))
    assert_error(too_deep, "/deep.txt", "is too long (the system takes 4,096", "shorter path")
    with tempfile.TemporaryDirectory(dir="/tmp") as short:  # a copy fits under a short folder
        flow.run("get", "--id", first, "--copy", f"{short}/c")
        assert read_tree(f"{short}/c") == DEEP_FILES
    with Dataset.get(dataset_id=first).open(as_str(next(iter(DEEP_FILES)))) as handle:
        assert handle.read() == next(iter(DEEP_FILES.values()))
    pulled = flow.cli("get", "--id", first)
    if pulled.exit_code == 0:
        assert read_tree(pulled.stdout.rstrip("\n")) == DEEP_FILES
    else:  # the cache's folder is deeper than /tmp: one sentence naming the file
        assert_error(pulled, "dd15", "is too long", "shorter path")


def test_external_files_keep_their_names_too(flow: Flow, tmp_path: Path) -> None:
    files = {b"caf\xe9.txt": b"linked", b"sub/tab\there.txt": b"tab"}
    source = write_tree(tmp_path / "mount", files)
    draft = flow.create()
    flow.run("add", "--id", draft, "--links", str(source), str(source / as_str(b"caf\xe9.txt")))
    flow.run("close", "--id", draft)
    expected = {**files, b"caf\xe9.txt": b"linked"}
    assert sorted(from_json(row["path"]) for row in flow.listing("--id", draft)) == sorted(expected)
    assert read_tree(flow.run("get", "--id", draft).stdout.rstrip("\n")) == expected


def test_sync_keeps_every_name_and_finds_nothing_changed_the_second_time(
    flow: Flow, tmp_path: Path
) -> None:
    source = write_tree(tmp_path / "wild", FILES)
    draft = flow.create()
    flow.run("sync", "--id", draft, "--folder", str(source), "--skip-close")
    assert sorted(from_json(row["path"]) for row in flow.listing("--id", draft)) == sorted(FILES)
    (source / as_str(b"caf\xe9.txt")).unlink()
    again = flow.run("sync", "--id", draft, "--folder", str(source), "--skip-close")
    assert again.stderr == ""
    changes = {
        from_json(row["path"]): row["change"] for row in flow.listing("--id", draft, "--modified")
    }
    assert b"caf\xe9.txt" not in changes  # added then removed within the draft
    assert sorted(changes) == sorted(set(FILES) - {b"caf\xe9.txt"})
