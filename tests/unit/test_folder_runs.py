"""A version's folders and its folder index, made a run of files in one folder at a time, are
what looking at each file on its own gives: each file in the folder it is directly in, each
folder's totals, and each file's name, size, content and flags on the folder's pages."""

from __future__ import annotations

import sqlite3

import pytest
from hypothesis import given
from hypothesis import strategies as st

from deltaset.core import folders
from deltaset.core.folders import folder_tree, updated_folders
from deltaset.core.manifest import Entry, Manifest
from deltaset.engine import folder_files
from deltaset.engine.folder_files import CHUNKED, EXTERNAL, StoredFile
from tests.unit.properties import PROPERTY, entries, paths

# A small pool of names, so that folders hold several files and runs of one folder's files
# are broken by the files of its subfolders ("a-b" sorts before "a/", "a.b" after it).
_segments = st.sampled_from(["a", "a-b", "a.b", "b", ".c", "é", "\udcff", "Z"])
_manifests = st.dictionaries(
    st.one_of(st.lists(_segments, min_size=1, max_size=4).map("/".join), paths),
    entries,
    max_size=40,
).map(Manifest)


def _folder(path: str) -> str:
    return path.rpartition("/")[0]


def _flags(entry: Entry) -> int:
    return (EXTERNAL if entry.link else 0) | (CHUNKED if entry.chunks else 0)


@PROPERTY
@given(_manifests)
def test_each_file_is_in_its_own_folder_and_each_folder_totals_the_files_under_it(
    view: Manifest,
) -> None:
    tree = folder_tree(view)
    assert [tree.folders[i].path for i in tree.folder_of] == [_folder(p) for p in view]
    assert tree.folders == updated_folders([], Manifest(), view, ())  # totals file by file


@PROPERTY
@given(_manifests)
def test_a_folder_index_holds_each_file_as_the_manifest_has_it(view: Manifest) -> None:
    tree = folder_tree(view)
    db = sqlite3.connect(":memory:")
    folder_files.fill(db, view, tree.folder_of)
    for folder_id, folder in enumerate(tree.folders):
        direct = [path for path in view if _folder(path) == folder.path]
        assert folder_files.by_name(db, folder_id, 0, len(view) + 1) == [
            StoredFile(
                rank,
                path.rpartition("/")[2],
                view[path].size,
                bytes.fromhex(view[path].blob_id),
                _flags(view[path]),
            )
            for rank, path in enumerate(direct)
        ]


def test_a_folders_files_may_span_the_batches_of_a_walk(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(folders, "_BATCH", 3)
    names = [f"a/{i}" for i in range(7)] + [f"a/b/{i}" for i in range(5)] + ["a/c", "a/d", "z"]
    view = Manifest.from_sorted((name, Entry(1, "ab" * 32)) for name in names)
    tree = folder_tree(view)
    assert [tree.folders[i].path for i in tree.folder_of] == [_folder(p) for p in names]
    a = next(f for f in tree.folders if f.path == "a")
    assert (a.files, a.direct_files, a.bytes, a.subfolders) == (14, 9, 14, 1)
