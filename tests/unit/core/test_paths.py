from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import given

from deltaset.core import paths
from deltaset.errors import InvalidInputError
from tests.unit.properties import PROPERTY
from tests.unit.properties import paths as valid_paths


@pytest.mark.parametrize(
    ("given_path", "expected"),
    [
        ("a.txt", "a.txt"),
        ("sub/b.csv", "sub/b.csv"),
        ("./a//b/", "a/b"),
        ("a/./b", "a/b"),
        ("a/..b/c..", "a/..b/c.."),
        ("~/x", "~/x"),
    ],
)
def test_normalize_cleans_relative_paths(given_path: str, expected: str) -> None:
    assert paths.normalize(given_path) == expected


@pytest.mark.parametrize(
    ("bad", "reason"),
    [
        ("/etc/passwd", "is absolute"),
        ("//server/share", "is absolute"),
        ("C:/Windows", "is absolute"),
        ("c:\\Windows", "is absolute"),
        ("..", "contains '..'"),
        ("../up.txt", "contains '..'"),
        ("a/../../b", "contains '..'"),
        ("a/b/..", "contains '..'"),
        ("a\\..\\b", "contains '..'"),
        ("", "is empty or contains a NUL byte"),
        ("a\x00b", "is empty or contains a NUL byte"),
        (".", "names the dataset root"),
        ("./", "names the dataset root"),
        ("a/..", "contains '..'"),
    ],
)
def test_normalize_refuses_paths_that_could_escape(bad: str, reason: str) -> None:
    with pytest.raises(InvalidInputError, match=reason):
        paths.normalize(bad)


@PROPERTY
@given(valid_paths)
def test_normalize_is_idempotent_on_clean_paths(path: str) -> None:
    assert paths.normalize(path) == path
    assert paths.normalize("./" + path.replace("/", "//") + "/") == path


@pytest.mark.parametrize(
    ("folder", "expected"),
    [(None, ""), ("", ""), (".", ""), ("/", ""), ("images/", "images"), ("a//b", "a/b")],
)
def test_normalize_folder_treats_root_spellings_alike(folder: str | None, expected: str) -> None:
    assert paths.normalize_folder(folder) == expected


def test_normalize_folder_refuses_escapes() -> None:
    with pytest.raises(InvalidInputError, match=r"contains '\.\.'"):
        paths.normalize_folder("../elsewhere")
    with pytest.raises(InvalidInputError, match="is absolute"):
        paths.normalize_folder("/images/")


def test_join() -> None:
    assert paths.join("images", "cats/1.jpg") == "images/cats/1.jpg"
    assert paths.join("", "1.jpg") == "1.jpg"
    assert paths.join("a/b", "./c") == "a/b/c"
    with pytest.raises(InvalidInputError, match=r"contains '\.\.'"):
        paths.join("images", "../../etc/passwd")


def test_safe_target_stays_under_root(tmp_path: Path) -> None:
    root = tmp_path / "out"
    root.mkdir()
    assert paths.safe_target(root, "a/b/c.txt") == str(root / "a" / "b" / "c.txt")
    assert paths.safe_target(root, "./x.txt") == str(root / "x.txt")


@pytest.mark.parametrize("bad", ["../x", "/etc/passwd", "a/../../x", ""])
def test_safe_target_refuses_escaping_names(tmp_path: Path, bad: str) -> None:
    with pytest.raises(InvalidInputError):
        paths.safe_target(tmp_path, bad)


def test_safe_target_allows_a_symlink_that_stays_inside(tmp_path: Path) -> None:
    root = tmp_path / "out"
    (root / "real").mkdir(parents=True)
    os.symlink(root / "real", root / "alias")
    assert paths.safe_target(root, "alias/f.txt") == str(root / "alias" / "f.txt")


def test_safe_target_works_when_root_itself_is_a_symlink(tmp_path: Path) -> None:
    (tmp_path / "real").mkdir()
    os.symlink(tmp_path / "real", tmp_path / "root")
    assert paths.safe_target(tmp_path / "root", "a/b") == str(tmp_path / "root" / "a" / "b")


@pytest.mark.parametrize(
    ("path", "pattern", "recursive", "expected"),
    [
        # a folder selects everything below it
        ("images/a.jpg", "images", True, True),
        ("images/cats/a.jpg", "images", True, True),
        ("images/cats/a.jpg", "images/", True, True),
        ("images2/a.jpg", "images", True, False),
        ("imagesa.jpg", "images", True, False),
        ("images", "images", True, True),
        # ... and only its direct files when not recursive
        ("images/a.jpg", "images", False, True),
        ("images/cats/a.jpg", "images", False, False),
        # a wildcard without a folder part matches file names in any folder
        ("a.jpg", "*.jpg", True, True),
        ("x/y/z.jpg", "*.jpg", True, True),
        ("x/y/z.png", "*.jpg", True, False),
        ("x/y/z.jpg.txt", "*.jpg", True, False),
        ("x.JPG", "*.jpg", True, False),
        ("a.jpg", "*.jpg", False, True),
        ("x/a.jpg", "*.jpg", False, False),
        # a wildcard with a folder part is matched against the whole path
        ("data/a.json", "data/*.json", True, True),
        ("data/a.txt", "data/*.json", True, False),
        ("other/a.json", "data/*.json", True, False),
        ("data/sub/a.json", "data/*.json", False, False),
        ("data/a.json", "data/*.json", False, True),
        ("data/a.json", "dat?/[ab].json", True, True),
        # an empty pattern or the root selects everything
        ("any/thing.bin", "", True, True),
        ("any/thing.bin", "/", True, True),
    ],
)
def test_matches(path: str, pattern: str, recursive: bool, expected: bool) -> None:
    assert paths.matches(path, pattern, recursive) is expected
