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


def _printed(program: str) -> str:
    """What ``program`` prints, run by a new interpreter (nothing imported yet)."""
    shown = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, check=True
    )
    return shown.stdout.strip()


def test_the_hashing_process_modules_import_no_api() -> None:
    printed = _printed(
        "import sys, deltaset.engine.hash_process, deltaset.engine.scan, "
        "deltaset.engine.staging; print(sorted(m for m in sys.modules if '.api' in m))"
    )
    assert printed == "[]"


def test_a_get_imports_neither_multiprocessing_nor_secrets() -> None:
    """Every command pays its imports: those two took 17 ms of a get's start, for an add's
    second process and a watcher's cookie."""
    printed = _printed(
        "import sys, deltaset.cli.main, deltaset.cli.commands.get, deltaset.engine.pull; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('multiprocessing', 'secrets', 'hmac')))"
    )
    assert printed == "[]"
