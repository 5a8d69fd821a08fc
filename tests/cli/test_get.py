"""``deltaset get``: cached folders, writable copies, links, parts and path subsets."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from tests.backends import EMBEDDED_ONLY, Backend
from tests.cli.helpers import DATA, Flow, as_bytes, assert_error, ok
from tests.conftest import make_files, read_tree

EXPECTED = as_bytes(DATA)


@pytest.fixture
def version(flow: Flow) -> str:
    return flow.version(DATA)


def folder_of(flow: Flow, *args: str) -> Path:
    return Path(flow.run("get", *args).stdout.strip())


def test_get_prints_a_cached_folder_with_the_exact_bytes(flow: Flow, version: str) -> None:
    folder = folder_of(flow, "--id", version)
    assert read_tree(folder) == EXPECTED
    assert folder_of(flow, "--id", version) == folder  # a second get reuses the cached folder


def test_cached_folder_is_read_only(flow: Flow, version: str) -> None:
    folder = folder_of(flow, "--id", version)
    mode = (folder / "a.jpg").stat().st_mode
    assert not mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH)


def test_get_by_project_and_name_picks_the_highest_version(flow: Flow, version: str) -> None:
    newer = flow.version({"a.jpg": "new alpha"}, parents=[version])
    latest = read_tree(folder_of(flow, "--project", "proj", "--name", "ds"))
    assert latest == {**EXPECTED, "a.jpg": b"new alpha"}
    assert read_tree(folder_of(flow, "--id", newer)) == latest
    older = folder_of(flow, "--project", "proj", "--name", "ds", "--version", "1.0.0")
    assert read_tree(older) == EXPECTED


def test_copy_writes_a_writable_folder(flow: Flow, version: str, tmp_path: Path) -> None:
    target = tmp_path / "work"
    result = flow.run("get", "--id", version, "--copy", str(target))
    assert Path(result.stdout.strip()) == target
    assert read_tree(target) == EXPECTED
    (target / "a.jpg").write_text("scribbled")  # writable, and the cache is untouched
    assert read_tree(folder_of(flow, "--id", version)) == EXPECTED


def test_copy_refuses_a_non_empty_folder_unless_overwrite(
    flow: Flow, cli, version: str, tmp_path: Path
) -> None:
    target = make_files(tmp_path / "work", {"stale.txt": "old", "sub/old.bin": "x"})
    assert_error(cli("get", "--id", version, "--copy", str(target)), "not empty", "--overwrite")
    assert read_tree(target) == {"stale.txt": b"old", "sub/old.bin": b"x"}
    flow.run("get", "--id", version, "--copy", str(target), "--overwrite")
    assert read_tree(target) == EXPECTED


def test_copy_of_a_part(flow: Flow, version: str, tmp_path: Path) -> None:
    first = read_tree(
        Path(
            flow.run(
                "get",
                "--id",
                version,
                "--copy",
                str(tmp_path / "p0"),
                "--part",
                "0",
                "--num-parts",
                "2",
            ).stdout.strip()
        )
    )
    second = read_tree(
        Path(
            flow.run(
                "get",
                "--id",
                version,
                "--copy",
                str(tmp_path / "p1"),
                "--part",
                "1",
                "--num-parts",
                "2",
            ).stdout.strip()
        )
    )
    assert first
    assert second
    assert {**first, **second} == EXPECTED
    assert not set(first) & set(second)


def test_link_points_at_the_cached_folder(flow: Flow, cli, version: str, tmp_path: Path) -> None:
    link = tmp_path / "links" / "current"  # parent folder is created as needed
    folder = folder_of(flow, "--id", version, "--link", str(link))
    assert link.is_symlink()
    assert Path(os.readlink(link)) == folder
    assert read_tree(link) == EXPECTED
    assert_error(cli("get", "--id", version, "--link", str(link)), "already exists")
    newer = flow.version({"z": "z"}, parents=[version])
    flow.run("get", "--id", newer, "--link", str(link), "--overwrite")
    assert read_tree(link) == {**EXPECTED, "z": b"z"}


def test_link_never_replaces_a_real_folder(flow: Flow, cli, version: str, tmp_path: Path) -> None:
    target = make_files(tmp_path / "mine", {"keep.txt": "mine"})
    assert_error(
        cli("get", "--id", version, "--link", str(target), "--overwrite"), "already exists"
    )
    assert read_tree(target) == {"keep.txt": b"mine"}


def test_parts_split_the_files_without_overlap(flow: Flow, version: str) -> None:
    parts = [
        read_tree(folder_of(flow, "--id", version, "--part", str(n), "--num-parts", "3"))
        for n in range(3)
    ]
    assert all(parts)
    assert sum(len(p) for p in parts) == len(EXPECTED)
    assert {k: v for p in parts for k, v in p.items()} == EXPECTED


@pytest.mark.parametrize(
    ("patterns", "expected"),
    [
        (["sub"], ["sub/c.jpg", "sub/d.txt", "sub/deep/e.jpg"]),
        (["*.txt"], ["notes.txt", "sub/d.txt"]),
        (["a.jpg", "sub/deep"], ["a.jpg", "sub/deep/e.jpg"]),
    ],
)
def test_files_pulls_only_matching_paths(
    flow: Flow, version: str, patterns: list[str], expected: list[str]
) -> None:
    tree = read_tree(folder_of(flow, "--id", version, "--files", *patterns))
    assert tree == {p: EXPECTED[p] for p in expected}


def test_copy_of_selected_files(flow: Flow, version: str, tmp_path: Path) -> None:
    target = tmp_path / "jpgs"
    flow.run("get", "--id", version, "--copy", str(target), "--files", "*.jpg", "sub/d.txt")
    wanted = ["a.jpg", "b.jpg", "sub/c.jpg", "sub/d.txt", "sub/deep/e.jpg"]
    assert read_tree(target) == {p: EXPECTED[p] for p in wanted}
    os.chmod(target / "a.jpg", 0o644)
    (target / "a.jpg").write_text("mine to edit")  # a real, writable copy


def test_soft_links_make_a_folder_of_symbolic_links(flow: Flow, version: str) -> None:
    folder = folder_of(flow, "--id", version, "--soft-links")
    assert (folder / "sub" / "c.jpg").is_symlink()
    assert read_tree(folder) == EXPECTED
    hard = folder_of(flow, "--id", version)
    assert hard != folder
    assert not (hard / "sub" / "c.jpg").is_symlink()


def test_get_with_max_workers_from_a_cold_cache(
    flow: Flow, version: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DELTASET_CACHE_DIR", str(tmp_path / "cold"))
    folder = folder_of(flow, "--id", version, "--max-workers", "1")
    assert folder.is_relative_to(tmp_path / "cold")
    assert read_tree(folder) == EXPECTED


def test_get_quiet_still_prints_the_folder(cli, version: str) -> None:
    result = ok(cli("get", "--id", version, "--quiet"))
    assert read_tree(Path(result.stdout.strip())) == EXPECTED


def files_under(folder: Path) -> set[Path]:
    return {p for p in folder.rglob("*") if p.is_file()}


OWN_FOLDERS = {
    "the home": lambda home: home,
    "a folder inside the home": lambda home: home / "folders",
    "a folder holding the home": lambda home: home.parent,
    "the cache": lambda home: home / "cache",
    "the catalog file": lambda home: home / "catalog.db",
}


@pytest.mark.parametrize("where", list(OWN_FOLDERS))
def test_copy_refuses_deltaset_own_folders_even_with_overwrite(
    flow: Flow, cli, version: str, isolation: Path, where: str
) -> None:
    pulled = folder_of(flow, "--id", version)
    target = OWN_FOLDERS[where](isolation)
    before = files_under(isolation)
    line = assert_error(cli("get", "--id", version, "--copy", str(target), "--overwrite"))
    assert "deltaset" in line
    assert files_under(isolation) >= before  # nothing deleted (the catalog may add its -wal)
    assert read_tree(pulled) == EXPECTED
    assert read_tree(folder_of(flow, "--id", version)) == EXPECTED


@EMBEDDED_ONLY
@pytest.mark.parametrize("inside", [False, True])
def test_copy_refuses_a_storage_folder(
    flow: Flow,
    cli,
    version: str,
    backend: Backend,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    inside: bool,
) -> None:
    other = tmp_path / "other-storage"
    elsewhere = flow.version({"x.txt": "stored elsewhere"}, "--storage", str(other), name="o")
    for storage in (backend.storage, other):
        target = storage / "packs" if inside else storage
        before = files_under(storage)
        assert_error(cli("get", "--id", version, "--copy", str(target), "--overwrite"), "storage")
        assert files_under(storage) == before
    monkeypatch.setenv("DELTASET_CACHE_DIR", str(tmp_path / "cold"))  # read storage again
    assert read_tree(folder_of(flow, "--id", version)) == EXPECTED
    assert read_tree(folder_of(flow, "--id", elsewhere)) == {"x.txt": b"stored elsewhere"}


def test_part_alone_is_one_part_per_chunk_cold_or_warm(
    flow: Flow, cli, version: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    newer = flow.version({"z.txt": "z"}, parents=[version])  # two packs: two parts
    monkeypatch.setenv("DELTASET_CACHE_DIR", str(tmp_path / "cold-cache"))
    cold = [flow.pulled("--id", newer, "--part", str(k)) for k in range(2)]
    assert cold == [
        flow.pulled("--id", newer, "--part", str(k), "--num-parts", "2") for k in range(2)
    ]
    assert {p: v for part in cold for p, v in part.items()} == {**EXPECTED, "z.txt": b"z"}
    monkeypatch.setenv("DELTASET_CACHE_DIR", str(tmp_path / "warm-cache"))
    flow.pulled("--id", newer)
    assert [flow.pulled("--id", newer, "--part", str(k)) for k in range(2)] == cold
    copy = folder_of(flow, "--id", newer, "--part", "1", "--copy", str(tmp_path / "copy"))
    assert read_tree(copy) == cold[1]
    assert_error(cli("get", "--id", newer, "--part", "2"), "Part 2", "--num-parts", "2 chunks")
