"""The folder tree of a manifest: totals under each folder and subfolders ranked by name."""

from __future__ import annotations

from deltaset.core.folders import ROOT, folder_tree
from deltaset.core.manifest import Entry, Manifest


def manifest_of(sizes: dict[str, int]) -> Manifest:
    return Manifest({p: Entry(s, f"{i:064x}") for i, (p, s) in enumerate(sizes.items())})


def test_every_folder_counts_the_files_and_bytes_under_it() -> None:
    tree = folder_tree(
        manifest_of({"a/b/x": 1, "a/b-c/y": 10, "a/z": 100, "a/b/deep/w": 1000, "top": 5})
    )
    by_path = {f.path: f for f in tree.folders}
    assert set(by_path) == {"", "a", "a/b", "a/b-c", "a/b/deep"}
    assert (by_path[""].files, by_path[""].bytes) == (5, 1116)
    assert (by_path["a"].files, by_path["a"].bytes, by_path["a"].direct_files) == (4, 1111, 1)
    assert (by_path["a/b"].files, by_path["a/b"].bytes, by_path["a/b"].subfolders) == (2, 1001, 1)
    assert by_path["a"].subfolders == 2
    assert by_path[""].direct_files == 1
    assert tree.folders[ROOT].parent == -1


def test_subfolders_rank_by_name_not_by_path_order() -> None:
    # path order puts "b-c/" before "b/" ('-' sorts before '/'); by name "b" comes first
    tree = folder_tree(manifest_of({"b-c/1": 1, "b/1": 1, "a/1": 1}))
    ranks = {f.path: f.rank for f in tree.folders if f.path}
    assert ranks == {"a": 0, "b": 1, "b-c": 2}


def test_each_file_points_at_its_own_folder() -> None:
    manifest = manifest_of({"a/1": 1, "a/b/2": 1, "a/c": 1, "d": 1})
    tree = folder_tree(manifest)
    folders = [tree.folders[i].path for i in tree.folder_of]
    assert folders == ["a", "a/b", "a", ""]  # in the manifest's path order
