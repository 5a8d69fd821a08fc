"""A pull refuses, naming both files, to write two dataset paths into a folder whose file
system would make them one (case-insensitive or Unicode-normalising), and probes the folder's
file system to know."""

from __future__ import annotations

from pathlib import Path

import pytest

from deltaset.core import names
from deltaset.engine.target_names import Fold, check_names, folding, takes_windows_names_only
from deltaset.errors import InvalidInputError

PATHS = ["Case.txt", "case.txt", "\u00e9.txt", "e\u0301.txt", "caf\udce9.txt"]


def test_a_linux_folder_keeps_every_name_apart_and_the_probe_leaves_nothing(
    tmp_path: Path,
) -> None:
    assert folding(tmp_path) is None
    assert list(tmp_path.iterdir()) == []
    check_names(tmp_path, PATHS)  # nothing to refuse here


@pytest.mark.parametrize(
    ("fold", "clash", "how"),
    [
        (names.case_fold, "'Case.txt' and 'case.txt'", "ignores case"),
        (names.normal_fold, "'\\xe9.txt' and 'e\\u0301.txt'", "ignores Unicode normalisation"),
    ],
)
def test_names_a_folding_file_system_makes_one_are_refused_by_name(
    tmp_path: Path, fold: Fold, clash: str, how: str
) -> None:
    with pytest.raises(InvalidInputError) as refused:
        check_names(tmp_path, PATHS, fold)
    assert clash in refused.value.message
    assert how in refused.value.message
    assert str(tmp_path) in refused.value.message


@pytest.mark.parametrize(
    ("path", "why"),
    [
        ("a:b.txt", "holds ':'"),
        ("sub/what?.csv", "holds '?'"),
        ("back\\slash", "holds '\\\\'"),
        ("nul.txt", "is a Windows device name"),
        ("dir/COM1", "is a Windows device name"),
        ("trailing.", "ends in '.'"),
        ("folder /x.txt", "ends in ' '"),
    ],
)
def test_a_name_windows_cannot_hold_is_refused_by_name_on_a_windows_file_system(
    tmp_path: Path, path: str, why: str
) -> None:
    with pytest.raises(InvalidInputError) as refused:
        check_names(tmp_path, ["fine.txt", path], windows=True)
    assert why in refused.value.message
    assert "takes only the names Windows takes" in refused.value.message
    check_names(tmp_path, ["fine.txt", path], windows=False)  # Linux holds it
    assert list(tmp_path.iterdir()) == []


def test_names_windows_holds_pass_and_a_linux_folder_is_not_taken_for_windows(
    tmp_path: Path,
) -> None:
    check_names(tmp_path, ["a.txt", "CONSOLE.txt", "com10", "sub/.hidden", "x y/z"], windows=True)
    assert not takes_windows_names_only(tmp_path)
