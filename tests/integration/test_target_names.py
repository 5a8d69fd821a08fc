"""A pull refuses, naming both files, to write two dataset paths into a folder whose file
system would make them one (case-insensitive or Unicode-normalising), and probes the folder's
file system to know."""

from __future__ import annotations

from pathlib import Path

import pytest

from deltaset.core import names
from deltaset.engine.target_names import Fold, check_names, folding
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
