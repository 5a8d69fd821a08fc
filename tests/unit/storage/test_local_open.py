"""Opening a local storage sweeps its staging folder as housekeeping only: a root that is
not a folder any more is named by the operation that needs it, never by the opening."""

from __future__ import annotations

from pathlib import Path

import pytest

from deltaset.errors import StorageError
from deltaset.storage.local import LocalStorage


def test_a_storage_whose_root_became_a_file_opens_and_names_it_when_written(
    tmp_path: Path,
) -> None:
    root = tmp_path / "shared"
    root.write_text("not a folder any more")
    storage = LocalStorage(root)  # raised NotADirectoryError from the sweep
    with pytest.raises(StorageError, match="Not a directory"), storage.writer("a/b") as handle:
        handle.write(b"x")
    assert root.read_text() == "not a folder any more"
