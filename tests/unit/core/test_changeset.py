from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from deltaset.core.changeset import ChangeSet, apply, diff, merge_parents
from deltaset.core.hashing import blob_id_of
from deltaset.core.manifest import Entry, Manifest
from tests.unit.properties import PROPERTY, pooled_manifests


def _e(content: bytes) -> Entry:
    return Entry(len(content), blob_id_of(content))


def test_merge_parents_later_parent_wins() -> None:
    first = Manifest({"shared.txt": _e(b"first"), "only-first": _e(b"1")})
    second = Manifest({"shared.txt": _e(b"second"), "only-second": _e(b"2")})
    merged = merge_parents([first, second])
    assert merged == {
        "shared.txt": _e(b"second"),
        "only-first": _e(b"1"),
        "only-second": _e(b"2"),
    }
    assert merge_parents([second, first])["shared.txt"] == _e(b"first")


def test_merge_of_no_parents_is_empty() -> None:
    assert merge_parents([]) == Manifest()


def test_merge_of_one_parent_is_that_parent() -> None:
    only = Manifest({"a": _e(b"a")})
    assert merge_parents([only]) == only


@PROPERTY
@given(st.lists(pooled_manifests, max_size=4))
def test_merge_takes_each_path_from_the_last_parent_that_has_it(parents: list[Manifest]) -> None:
    merged = merge_parents(parents)
    assert set(merged) == {p for parent in parents for p in parent}
    for path, entry in merged.items():
        assert entry == next(parent[path] for parent in reversed(parents) if path in parent)


def test_apply_removes_then_puts() -> None:
    base = Manifest({"keep": _e(b"k"), "gone": _e(b"g"), "change": _e(b"old")})
    result = apply(base, {"change": _e(b"new"), "added": _e(b"a")}, ["gone", "not-there"])
    assert result == {"keep": _e(b"k"), "change": _e(b"new"), "added": _e(b"a")}
    assert base["change"] == _e(b"old")  # the base is not changed


def test_apply_puts_win_over_removes_of_the_same_path() -> None:
    base = Manifest({"p": _e(b"old")})
    assert apply(base, {"p": _e(b"new")}, ["p"]) == {"p": _e(b"new")}


def test_diff_classifies_added_modified_removed() -> None:
    base = Manifest({"same": _e(b"s"), "changed": _e(b"v1"), "dropped": _e(b"d")})
    target = Manifest({"same": _e(b"s"), "changed": _e(b"v2"), "new": _e(b"n")})
    changes = diff(base, target)
    assert dict(changes.added) == {"new": _e(b"n")}
    assert dict(changes.modified) == {"changed": _e(b"v2")}
    assert changes.removed == frozenset({"dropped"})
    assert not changes.is_empty
    assert changes.to_dict() == {"added": ["new"], "modified": ["changed"], "removed": ["dropped"]}


def test_a_renamed_file_is_one_removal_and_one_addition() -> None:
    changes = diff(Manifest({"old/name": _e(b"x")}), Manifest({"new/name": _e(b"x")}))
    assert set(changes.added) == {"new/name"}
    assert changes.removed == {"old/name"}
    assert not changes.modified


def test_diff_of_identical_manifests_is_empty() -> None:
    m = Manifest({"a": _e(b"a")})
    assert diff(m, m).is_empty
    assert ChangeSet().is_empty


@PROPERTY
@given(pooled_manifests, pooled_manifests)
def test_apply_of_diff_rebuilds_the_target(base: Manifest, target: Manifest) -> None:
    changes = diff(base, target)
    rebuilt = apply(base, {**changes.added, **changes.modified}, changes.removed)
    assert rebuilt == target


@PROPERTY
@given(pooled_manifests, pooled_manifests)
def test_diff_parts_are_disjoint_and_minimal(base: Manifest, target: Manifest) -> None:
    changes = diff(base, target)
    added, modified, removed = set(changes.added), set(changes.modified), set(changes.removed)
    assert added == set(target) - set(base)
    assert removed == set(base) - set(target)
    assert modified <= set(base) & set(target)
    assert all(base[p].blob_id != target[p].blob_id for p in modified)
    unchanged = (set(base) & set(target)) - modified
    assert all(base[p] == target[p] for p in unchanged)
    assert changes.is_empty == (base == target)


@PROPERTY
@given(pooled_manifests)
def test_diff_against_nothing_adds_everything(target: Manifest) -> None:
    changes = diff(Manifest(), target)
    assert dict(changes.added) == dict(target)
    assert not changes.modified
    assert not changes.removed
    assert diff(target, Manifest()).removed == set(target)


@PROPERTY
@given(pooled_manifests, pooled_manifests)
def test_changes_since_match_the_diff_and_rebuild_the_target(
    base: Manifest, target: Manifest
) -> None:
    changes = diff(base, target)
    files, removed = target.changes_since(base)
    assert dict(files) == {**changes.added, **changes.modified}
    assert set(removed) == changes.removed
    assert list(removed) == sorted(removed)
    assert base.changed(files, removed) == target
