"""A staged change as the columns catalogs and the server's API hold, and back."""

from __future__ import annotations

from deltaset.catalog.base import DraftChange
from deltaset.catalog.rows import change_columns, change_of
from deltaset.core import names


def test_a_change_is_its_columns_with_names_as_text_and_back() -> None:
    odd = "caf\udce9.csv"  # a file name that is not UTF-8: held in the escaped text form
    change = DraftChange(odd, False, 7, "ab" * 32, f"/src/{odd}", True, "s3://b/k", "etag-1")
    columns = change_columns(change)
    assert columns == {
        "path": names.to_text(odd),
        "removed": False,
        "size": 7,
        "blob_id": "ab" * 32,
        "source": names.to_text(f"/src/{odd}"),
        "uploaded": True,
        "link": "s3://b/k",
        "etag": "etag-1",
    }
    assert columns["path"] != odd
    assert change_of(columns) == change
