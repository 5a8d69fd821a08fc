"""A staged change is a value: immutable, hashable, equal by its fields, made by keyword."""

from __future__ import annotations

import pytest

from deltaset.catalog.base import DraftChange


def test_a_change_cannot_be_altered() -> None:
    change = DraftChange("a.txt", size=1, blob_id="ab" * 32)
    with pytest.raises(AttributeError):
        change.size = 2  # type: ignore[misc]
    assert change.size == 1


def test_changes_are_equal_and_hash_alike_by_their_fields() -> None:
    one = DraftChange("a.txt", size=1, blob_id="ab" * 32, source="/src/a.txt")
    same = DraftChange("a.txt", False, 1, "ab" * 32, "/src/a.txt", False, "", "")
    assert one == same
    assert {one, same} == {one}
    assert one != DraftChange("a.txt", size=1, blob_id="ab" * 32, source="/src/b.txt")
    assert one != DraftChange("a.txt", removed=True)


def test_a_removal_names_only_its_path() -> None:
    gone = DraftChange("old.txt", removed=True)
    assert (gone.size, gone.blob_id, gone.source, gone.uploaded, gone.link, gone.etag) == (
        0,
        "",
        "",
        False,
        "",
        "",
    )
