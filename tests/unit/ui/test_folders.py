"""A folder of a version, a page at a time, from the manifest alone."""

from __future__ import annotations

import pytest

from deltaset.core.manifest import Entry, Manifest
from deltaset.errors import InvalidInputError, NotFoundError
from deltaset.ui.folders import breadcrumbs, list_folder

BLOB = "0" * 64


def manifest(sizes: dict[str, int]) -> Manifest:
    return Manifest({path: Entry(size, BLOB) for path, size in sizes.items()})


VIEW = manifest(
    {"a.txt": 1, "a/x/1": 10, "a/x/2": 20, "a/y": 5, "b/deep/er/f": 7, "c.csv": 3, "a-b": 2}
)


def test_the_top_lists_files_and_folders_with_their_counts_and_sizes() -> None:
    listing = list_folder(VIEW, "")
    got = [(c.name, c.is_folder, c.files, c.size) for c in listing.children]
    assert got == [
        ("a-b", False, 1, 2),
        ("a.txt", False, 1, 1),
        ("a", True, 3, 35),
        ("b", True, 1, 7),
        ("c.csv", False, 1, 3),
    ]
    assert listing.files_below == 7
    assert not listing.has_next


def test_a_sub_folder_is_named_by_its_path_with_or_without_slashes() -> None:
    for folder in ("a", "a/", "/a/"):
        listing = list_folder(VIEW, folder)
        assert listing.folder == "a/"
        assert [c.path for c in listing.children] == ["a/x/", "a/y"]


def test_pages_split_a_flat_folder_without_losing_or_repeating_a_file() -> None:
    flat = manifest({f"f/{i:05d}": 1 for i in range(250)})
    pages = [list_folder(flat, "f", page, per_page=100) for page in (1, 2, 3)]
    assert [p.has_next for p in pages] == [True, True, False]
    names = [c.name for p in pages for c in p.children]
    assert names == [f"{i:05d}" for i in range(250)]


@pytest.mark.parametrize("folder", ["..", "a/../b", "./a", "a\\b"])
def test_a_folder_reaching_outside_is_refused(folder: str) -> None:
    with pytest.raises(InvalidInputError, match="is not a path inside the dataset"):
        list_folder(VIEW, folder)


def test_a_missing_folder_and_a_bad_page_are_refused() -> None:
    with pytest.raises(NotFoundError, match="no folder 'nowhere'"):
        list_folder(VIEW, "nowhere")
    with pytest.raises(InvalidInputError, match="not a page number"):
        list_folder(VIEW, "", page=0)


def test_breadcrumbs_lead_from_the_top_to_the_folder() -> None:
    assert breadcrumbs("a/b/") == [("a", "a/"), ("b", "a/b/")]
    assert breadcrumbs("") == []
