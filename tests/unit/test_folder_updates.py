"""A folder index made from the parent's and the changes is, row for row, the one a walk over
every file of the version makes."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from deltaset.core.manifest import Entry, Manifest
from deltaset.engine import folder_files
from deltaset.engine.browse import write_folder_index
from deltaset.engine.folder_updates import write_updated
from tests.unit.core.test_updated_folders import change_entries, change_paths, changed_view
from tests.unit.properties import PROPERTY, entries

TABLES = ("folders", "file_pages", "size_pages")


Rows = dict[str, list[tuple[object, ...]]]


def _rows(target: Path) -> Rows:
    db = sqlite3.connect(target)
    try:
        return {table: sorted(db.execute(f"SELECT * FROM {table}")) for table in TABLES}
    finally:
        db.close()


def _both(tmp_path: Path, base: Manifest, view: Manifest) -> tuple[Rows, Rows]:
    """The index of ``view`` made from ``base``'s, and the one a walk makes."""
    for stale in tmp_path.glob("*.sqlite"):
        stale.unlink()
    write_folder_index(base, tmp_path / "parent.sqlite")
    files, removed = view.changes_since(base)
    parent = sqlite3.connect(tmp_path / "parent.sqlite")
    try:
        write_updated(parent, tmp_path / "updated.sqlite", view, base, files, removed)
    finally:
        parent.close()
    write_folder_index(view, tmp_path / "walked.sqlite")
    return _rows(tmp_path / "updated.sqlite"), _rows(tmp_path / "walked.sqlite")


file_sets = st.dictionaries(change_paths, st.one_of(change_entries, entries), max_size=40)


@PROPERTY
@given(
    file_sets,
    file_sets,
    st.lists(st.integers(0, 60), max_size=30),
    st.integers(0, 5),
    st.sets(st.sampled_from(["a", "a-b", "b", "é", "\udcff"]), max_size=3),
)
def test_an_index_from_the_parents_is_the_walked_one(
    tmp_path: Path,
    before: dict[str, Entry],
    puts: dict[str, Entry],
    gone_at: list[int],
    renamed: int,
    emptied: set[str],
) -> None:
    base = Manifest(before)
    view = changed_view(base, puts, gone_at, renamed, emptied)
    updated, walked = _both(tmp_path, base, view)
    assert updated == walked


def _large() -> Manifest:
    files = {f"big/f{i:04d}.bin": Entry(i % 7, f"{i:064x}") for i in range(3 * folder_files.PAGE)}
    files |= {f"other/{i}": Entry(i, f"{i + 9999:064x}") for i in range(5)}
    return Manifest(files)


def test_a_change_inside_a_folder_of_several_pages_shifts_its_later_pages(tmp_path: Path) -> None:
    base = _large()
    view = base.changed(
        {"big/f0100.bin.new": Entry(99, "ef" * 32), "big/f0300.bin": Entry(98, "ee" * 32)},
        ["big/f0001.bin", "other/3"],
    )
    updated, walked = _both(tmp_path, base, view)
    assert updated == walked
    assert len(updated["file_pages"]) == 4  # big's three pages (one more file) and other's


def test_a_new_folder_before_the_others_renumbers_them(tmp_path: Path) -> None:
    base = _large()
    view = base.changed({"a/first": Entry(1, "ab" * 32)}, ["other/0"])
    updated, walked = _both(tmp_path, base, view)
    assert updated == walked
    assert [row[3] for row in updated["folders"]] == [b"", b"a", b"big", b"other"]
