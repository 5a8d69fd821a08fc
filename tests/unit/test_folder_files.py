"""A folder index stores a folder's files a page of rows at a time: every page of a folder,
by name or by size, and every file looked up by name, comes out as the manifest has them,
across the stored pages' edges."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from deltaset.core.manifest import Entry, Manifest
from deltaset.engine import folder_files
from deltaset.engine.browse import folder_page, write_folder_index

COUNT = 2 * folder_files.PAGE + 37  # three stored pages, the last one short


def _manifest() -> Manifest:
    files = [(f"many/f{i:04d}.bin", Entry(i % 7, f"{i:064x}")) for i in range(COUNT)]
    files += [("many/sub/inner.txt", Entry(3, "ab" * 32)), ("top \udcff.txt", Entry(1, "cd" * 32))]
    return Manifest.from_sorted(sorted(files))


@pytest.fixture
def index(tmp_path: Path) -> sqlite3.Connection:
    target = tmp_path / "index.sqlite"
    write_folder_index(_manifest(), target)
    return sqlite3.connect(target)


@pytest.mark.parametrize("offset", [0, 200, folder_files.PAGE - 1, folder_files.PAGE + 5, 540])
@pytest.mark.parametrize("sort", ["name", "size"])
def test_each_page_of_a_folder_lists_its_files_in_order(
    index: sqlite3.Connection, offset: int, sort: str
) -> None:
    names = [f"f{i:04d}.bin" for i in range(COUNT)]
    if sort == "size":  # the largest first, equal sizes by name
        names.sort(key=lambda n: (-(int(n[1:5]) % 7), n))
    page = folder_page(index, "many", offset, 100, sort)  # type: ignore[arg-type]
    assert page is not None
    shown = [f.name for f in page.folders] + [f.name for f in page.files]
    expected = (["sub", *names])[offset : offset + 100]
    assert shown == expected
    assert all(f.size == int(f.name[1:5]) % 7 for f in page.files)
    assert all(f.blob_id == f"{int(f.name[1:5]):064x}" for f in page.files)


def test_a_file_is_found_by_name_on_any_stored_page(index: sqlite3.Connection) -> None:
    folder_id, count = index.execute(
        "SELECT id, direct_files FROM folders WHERE path = ?", (b"many",)
    ).fetchone()
    for i in (0, folder_files.PAGE - 1, folder_files.PAGE, COUNT - 1):
        found = folder_files.named(index, folder_id, count, f"f{i:04d}.bin")
        assert found is not None
        assert (found.rank, found.size) == (i, i % 7)
    for missing in ("a.bin", "f0000.bin0", "f9999.bin", "zzz"):
        assert folder_files.named(index, folder_id, count, missing) is None
    root = folder_page(index, "", 0, 10, "name")
    assert root is not None
    assert [f.name for f in root.files] == ["top \udcff.txt"]
