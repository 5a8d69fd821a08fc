from __future__ import annotations

import json
from collections.abc import Callable
from posixpath import splitext
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from deltaset.core.content import NO_EXTENSION, ROOT, summarize, summarize_change
from deltaset.core.hashing import blob_id_of
from deltaset.core.manifest import Entry, Manifest
from tests.unit.properties import PROPERTY, paths

NAMES = [
    "a.txt", "A.JSON", ".bashrc", "d/.bashrc", "d/..a", "..a", "d/a..b", "d.e/f", "d.e/f.G",
    "x", "a.", "d/a.", "...", "d/...", "d/.a.b", "a/b/c.tar.gz", "a.b/c", "a/b.c/d",
]  # fmt: skip


def _expected(paths: list[tuple[str, int]]) -> tuple[dict[str, int], dict[str, int]]:
    by_extension: dict[str, int] = {}
    by_folder: dict[str, int] = {}
    for path, size in paths:
        extension = splitext(path.rsplit("/", 1)[-1])[1].lower() or NO_EXTENSION
        folder = path.split("/", 1)[0] if "/" in path else ROOT
        by_extension[extension] = by_extension.get(extension, 0) + size
        by_folder[folder] = by_folder.get(folder, 0) + size
    return by_extension, by_folder


def _bytes(totals: dict[str, dict[str, int]]) -> dict[str, int]:
    return {key: found["bytes"] for key, found in totals.items()}


def test_extensions_and_folders_are_those_of_splitext_for_odd_names() -> None:
    files = [(name, 1 + at) for at, name in enumerate(NAMES)]
    summary = summarize(files)
    assert (_bytes(summary["by_extension"]), _bytes(summary["by_folder"])) == _expected(files)
    assert summary["files"] == len(NAMES)


@PROPERTY
@given(st.lists(st.tuples(st.text("ab./X", min_size=1, max_size=8), st.integers(0, 9))))
def test_summary_counts_every_file_once(files: list[tuple[str, int]]) -> None:
    summary = summarize(files)
    assert (_bytes(summary["by_extension"]), _bytes(summary["by_folder"])) == _expected(files)
    assert sum(f["files"] for f in summary["by_extension"].values()) == len(files)


# -- a summary worked out from the parent's and the changes -----------------------------------

_odd_segments = st.sampled_from(["a", "a.b", ".c", "d.E", "x-y", "a-b", "é.ü", "\udcff.bin", "..a"])
_change_paths = st.one_of(
    st.lists(_odd_segments, min_size=1, max_size=5).map("/".join), paths
)  # a small pool: folders appear and empty out, and changes meet existing paths
# One blob id always has one size (content addressing), as changes_since relies on.
_entries = st.tuples(st.integers(0, 2**40), st.booleans()).map(
    lambda kept: Entry(kept[0], blob_id_of(repr(kept).encode()))
)
_files = st.dictionaries(_change_paths, _entries, max_size=40)


def _ordered_form(summary: dict[str, Any] | None) -> str:
    return json.dumps(summary)  # the order of each table counts as much as its values


def _changed(base: Manifest, puts: dict[str, Entry], gone: list[str], renamed: int) -> Manifest:
    moved = {f"moved/{path}": base[path] for path in list(base)[:renamed]}
    return base.changed({**puts, **moved}, [*gone, *list(base)[:renamed]])


@PROPERTY
@given(
    _files,
    _files,
    st.lists(st.integers(0, 60), max_size=30),
    st.integers(0, 5),
    st.sets(_odd_segments, max_size=3),
)
def test_a_summary_from_the_parents_and_the_changes_is_the_whole_one(
    before: dict[str, Entry],
    puts: dict[str, Entry],
    gone_at: list[int],
    renamed: int,
    emptied: set[str],
) -> None:
    """Adds, changes, removals, renames, and whole folders and extensions that empty out."""
    base = Manifest(before)
    gone = [base.path_at(at % len(base)) for at in gone_at] if base else []
    gone += [path for path in base if any(part in path for part in emptied)]
    view = _changed(base, puts, gone, renamed)
    files, removed = view.changes_since(base)
    found = summarize_change(summarize(base.path_sizes()), base, files, removed, view)
    assert _ordered_form(found) == _ordered_form(summarize(view.path_sizes()))


@PROPERTY
@given(_files.filter(bool), _files)
def test_a_summary_from_a_stored_summary_is_the_whole_one(
    before: dict[str, Entry], puts: dict[str, Entry]
) -> None:
    """As the catalog gives it back: keys sorted, read from JSON."""
    base, view = Manifest(before), Manifest(before).changed(puts)
    files, removed = view.changes_since(base)
    stored = json.loads(json.dumps(summarize(base.path_sizes()), sort_keys=True))
    found = summarize_change(stored, base, files, removed, view)
    assert _ordered_form(found) == _ordered_form(summarize(view.path_sizes()))


def _many() -> Manifest:
    return Manifest({f"d{at % 3}/f{at}.txt": Entry(at, "0" * 64) for at in range(50)})


@pytest.mark.parametrize(
    "damage",
    [
        lambda s: s.update(files=s["files"] + 1),
        lambda s: s.update(bytes=s["bytes"] - 1),
        lambda s: s.update(sample=s["sample"][::-1]),
        lambda s: s["by_folder"]["d0"].update(files=0),
        lambda s: s["by_folder"]["d0"].update(bytes=s["by_folder"]["d0"]["bytes"] + 1),
        lambda s: s["by_extension"][".txt"].update(bytes=1),
        lambda s: s["by_extension"].update({".txt": [1, 2]}),
        lambda s: s.update(by_folder=None),
        lambda s: s["by_extension"].update({".x": {"files": 1.0, "bytes": 0}}),
    ],
)
def test_a_summary_that_is_not_the_parents_is_not_built_on(
    damage: Callable[[dict[str, Any]], None],
) -> None:
    base = _many()
    view = base.changed({"d0/new.txt": Entry(7, "1" * 64)})
    files, removed = view.changes_since(base)
    before = summarize(base.path_sizes())
    assert summarize_change(before, base, files, removed, view) is not None
    damage(before)
    assert summarize_change(before, base, files, removed, view) is None
