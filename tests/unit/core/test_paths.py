from __future__ import annotations

import itertools
import os
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

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
        paths.normalize_folder("C:/images/")


def test_normalize_folder_takes_a_leading_slash_as_the_root() -> None:  # as ClearML strips it
    assert paths.normalize_folder("/images/") == "images"
    assert paths.normalize_folder("//images/cats") == "images/cats"


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


@pytest.mark.parametrize(
    ("bad", "reason"),
    [
        ("..\\..\\x.txt", "contains '..'"),
        ("sub/a\\..\\..\\x.txt", "contains '..'"),
        ("C:\\evil.txt", "is absolute"),
        ("c:/evil.txt", "is absolute"),
        ("./a.txt", "is not normalised"),
        ("a//b.txt", "is not normalised"),
        ("bad\ud800.txt", "no file name can"),
    ],
)
def test_check_new_refuses_what_a_pull_would_not_write_as_named(bad: str, reason: str) -> None:
    with pytest.raises(InvalidInputError, match=reason):
        paths.check_new(bad)


@pytest.mark.parametrize(
    "good", ["a.txt", "sub/C:\\name.txt", "C:", "a\\b.txt", "é/ü.txt", "caf\udce9.txt", "-\n\t"]
)
def test_check_new_accepts_what_a_pull_writes_as_named(tmp_path: Path, good: str) -> None:
    assert paths.check_new(good) == good
    assert paths.safe_target(tmp_path, good) == os.path.join(tmp_path, good)


@PROPERTY
@given(valid_paths)
def test_every_clean_path_is_accepted_for_staging(path: str) -> None:
    assert paths.check_new(path) == path


def test_a_dataset_folder_that_would_read_as_a_drive_is_refused() -> None:
    with pytest.raises(InvalidInputError, match="is absolute"):
        paths.normalize_folder("C:")
    assert paths.normalize_folder("sub/C:") == "sub/C:"


@pytest.mark.parametrize("name", ["..\\x", "a..b", "C:\\x", "C:", "é.txt", "bad\udcff"])
def test_names_that_may_be_refused_are_suspect(name: str) -> None:
    assert paths.suspect(name)


# Any name a folder listing can give: backslashes, colons and dots included.
listed_names = st.text(
    alphabet=st.characters(exclude_characters="/\x00"), min_size=1, max_size=12
).filter(lambda s: s not in (".", ".."))


@PROPERTY
@given(listed_names, st.sampled_from(["", "sub/", "C/"]))
def test_a_name_that_is_not_suspect_is_always_accepted(name: str, folder: str) -> None:
    if not paths.suspect(name):
        assert paths.check_new(folder + name) == folder + name


def _verdict(check: Callable[[str], str], path: str) -> str:
    try:
        return check(path)
    except InvalidInputError as exc:
        return f"refused: {exc}"


def test_the_quick_test_of_a_new_path_agrees_with_the_full_one() -> None:
    """Every path of up to four characters from the ones the rules treat apart."""
    alphabet = ["a", ".", "/", "\\", ":", " ", "\x00", "\n", "\xe9", "\udce9"]
    for size in range(1, 5):
        for chars in itertools.product(alphabet, repeat=size):
            path = "".join(chars)
            assert _verdict(paths.check_new, path) == _verdict(paths._check_new_fully, path)


@PROPERTY
@given(st.text(max_size=30))
def test_the_quick_test_agrees_with_the_full_one_on_any_text(path: str) -> None:
    assert _verdict(paths.check_new, path) == _verdict(paths._check_new_fully, path)
