"""The package's public names are imported when first asked for: a process needing a few
modules (the second hashing process of a large add) does not import the whole API."""

from __future__ import annotations

import subprocess
import sys

import pytest

import deltaset


def test_every_public_name_is_there_when_asked_for() -> None:
    from deltaset.api.dataset import Dataset
    from deltaset.errors import DeltasetError

    assert deltaset.Dataset is Dataset
    assert deltaset.DeltasetError is DeltasetError
    for name in deltaset.__all__:
        assert getattr(deltaset, name) is not None
        assert name in dir(deltaset)


def test_an_unknown_name_is_an_attribute_error_and_a_submodule_still_imports() -> None:
    with pytest.raises(AttributeError, match="no attribute 'nothing_here'"):
        _ = deltaset.nothing_here  # type: ignore[attr-defined]
    from deltaset import sqlitedb

    assert sqlitedb.__name__ == "deltaset.sqlitedb"


def test_the_hashing_process_modules_import_no_api() -> None:
    shown = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, deltaset.engine.hash_process, deltaset.engine.scan, "
            "deltaset.engine.staging; print(sorted(m for m in sys.modules if '.api' in m))",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert shown.stdout.strip() == "[]"
