"""A version's folders worked out from its parent's and its changes are those of a walk."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from deltaset.core.folders import folder_tree, updated_folders
from deltaset.core.hashing import blob_id_of
from deltaset.core.manifest import Entry, Manifest
from tests.unit.properties import PROPERTY, paths

# A small pool of names so folders appear and empty out; "a-b" sorts before "a/" but after "a".
_segments = st.sampled_from(["a", "a-b", "a.b", "b", ".c", "é", "\udcff", "Z", "a b"])
change_paths = st.one_of(st.lists(_segments, min_size=1, max_size=5).map("/".join), paths)
# One blob id always has one size (content addressing), as changes_since relies on.
change_entries = st.tuples(st.integers(0, 2**40), st.booleans()).map(
    lambda kept: Entry(kept[0], blob_id_of(repr(kept).encode()))
)
file_sets = st.dictionaries(change_paths, change_entries, max_size=40)


def changed_view(
    base: Manifest, puts: dict[str, Entry], gone_at: list[int], renamed: int, emptied: set[str]
) -> Manifest:
    """``base`` with files put, removed (some by position, every one under ``emptied``
    folders) and moved under a new folder."""
    gone = [base.path_at(at % len(base)) for at in gone_at] if base else []
    gone += [path for path in base if any(path.startswith(f"{part}/") for part in emptied)]
    moved = {f"moved/{path}": base[path] for path in list(base)[:renamed]}
    return base.changed({**puts, **moved}, [*gone, *list(base)[:renamed]])


changes = st.tuples(
    file_sets,
    file_sets,
    st.lists(st.integers(0, 60), max_size=30),
    st.integers(0, 5),
    st.sets(_segments, max_size=3),
)


@PROPERTY
@given(changes)
def test_updated_folders_are_those_of_a_walk(
    change: tuple[dict[str, Entry], dict[str, Entry], list[int], int, set[str]],
) -> None:
    before, puts, gone_at, renamed, emptied = change
    base = Manifest(before)
    view = changed_view(base, puts, gone_at, renamed, emptied)
    files, removed = view.changes_since(base)
    found = updated_folders(folder_tree(base).folders, base, files, removed)
    assert found == folder_tree(view).folders
