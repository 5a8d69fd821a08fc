"""A version stores its change-set, not its whole file list, and stays readable from storage
alone: after the catalog is lost, after a parent is force-deleted, and down long chains."""

from __future__ import annotations

from pathlib import Path

import pytest

from deltaset import Dataset
from deltaset.core.manifest import StoredManifest
from deltaset.engine.context import default_context
from deltaset.engine.finalize import MAX_MANIFEST_DEPTH
from deltaset.engine.rebuild import rebuild_catalog
from deltaset.engine.views import draft_changes, draft_view, own_positions
from deltaset.errors import StateError
from deltaset.storage.layout import manifest_key
from deltaset.storage.registry import open_storage
from tests.conftest import lose_catalog, make_files, read_tree

BASE = {f"shard{i // 50}/item{i:04d}.txt": f"row {i}\n" * 20 for i in range(400)}


def _version(
    tmp_path: Path,
    files: dict[str, str],
    parents: list[str] | None = None,
    remove: tuple[str, ...] = (),
    storage: str | None = None,
) -> Dataset:
    ds = Dataset.create(
        dataset_name="ds", dataset_project="p", parent_datasets=parents, output_uri=storage
    )
    if files:
        ds.add_files(str(make_files(tmp_path / f"src-{ds.id}", files)))
    for path in remove:
        ds.remove_files(path)
    ds.finalize(auto_upload=True)
    return ds


def _stored(ds: Dataset) -> StoredManifest:
    storage = open_storage(ds._record.storage)
    return StoredManifest.from_bytes(storage.get_bytes(manifest_key(ds.id)))


def _pull(ds_id: str) -> dict[str, bytes]:
    return read_tree(Path(Dataset.get(dataset_id=ds_id).get_local_copy()))


def _expected(files: dict[str, str]) -> dict[str, bytes]:
    return {p: c.encode() for p, c in files.items()}


def test_a_small_change_stores_only_the_change_set(tmp_path: Path) -> None:
    first = _version(tmp_path, BASE)
    edits = {"shard0/item0000.txt": "edited\n", "new/extra.txt": "added\n"}
    second = _version(tmp_path, edits, parents=[first.id], remove=("shard7/item0399.txt",))

    assert _stored(first).complete
    assert len(_stored(first).files) == len(BASE)
    stored = _stored(second)
    assert not stored.complete
    assert sorted(stored.files) == sorted(edits)
    assert stored.removed == ("shard7/item0399.txt",)
    assert second._record.stats.manifest_depth == 1
    stats = second._record.stats
    assert (stats.added, stats.modified, stats.removed) == (1, 1, 1)
    expected = {**_expected(BASE), **_expected(edits)}
    del expected["shard7/item0399.txt"]
    assert _pull(second.id) == expected
    assert second.list_files() == sorted(expected)


def test_storage_alone_rebuilds_a_chain_of_change_sets(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    versions = [_version(tmp_path, BASE)]
    expected = _expected(BASE)
    for step in range(3):
        edit = {f"shard{step}/item{step * 50:04d}.txt": f"edit {step}\n"}
        versions.append(_version(tmp_path, edit, parents=[versions[-1].id]))
        expected = {**expected, **_expected(edit)}
    assert [v._record.stats.manifest_depth for v in versions] == [0, 1, 2, 3]

    lose_catalog(monkeypatch, tmp_path)
    assert rebuild_catalog(default_context()).imported == 4
    assert _pull(versions[-1].id) == expected
    rebuilt = default_context().catalog.get(versions[-1].id)
    assert rebuilt.stats.manifest_depth == 3


def test_a_chain_stores_a_whole_manifest_every_so_often(tmp_path: Path) -> None:
    current = _version(tmp_path, BASE)
    depths = []
    for step in range(MAX_MANIFEST_DEPTH + 2):
        current = _version(tmp_path, {"counter.txt": f"{step}\n"}, parents=[current.id])
        depths.append(current._record.stats.manifest_depth)
    assert depths == [*range(1, MAX_MANIFEST_DEPTH + 1), 0, 1]
    assert _stored(current).files.keys() == {"counter.txt"}
    assert _pull(current.id)["counter.txt"] == f"{MAX_MANIFEST_DEPTH + 1}\n".encode()


def test_a_large_change_or_another_storage_stores_the_whole_manifest(tmp_path: Path) -> None:
    first = _version(tmp_path, BASE)
    rewritten = _version(tmp_path, {p: "new\n" for p in BASE}, parents=[first.id])
    assert _stored(rewritten).complete  # a change-set would save nothing
    assert rewritten._record.stats.manifest_depth == 0

    elsewhere = (tmp_path / "other-storage").as_uri()
    moved = _version(tmp_path, {"one.txt": "1\n"}, parents=[first.id], storage=elsewhere)
    assert _stored(moved).complete  # its parent's manifest is not in its storage
    assert len(_stored(moved).files) == len(BASE) + 1
    assert _pull(moved.id) == {
        **_expected(BASE),
        "one.txt": b"1\n",
    }  # its inherited bytes came along


def test_force_deleting_a_parent_stores_its_children_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = _version(tmp_path, BASE)
    edit = {"shard1/item0050.txt": "changed\n"}
    second = _version(tmp_path, edit, parents=[first.id])
    grandchild = _version(tmp_path, {"late.txt": "late\n"}, parents=[second.id])
    expected = {**_expected(BASE), **_expected(edit)}
    assert not _stored(second).complete

    Dataset.delete(dataset_id=first.id, force=True)
    assert _stored(second).complete  # the same files, now listed whole
    assert not _stored(grandchild).complete  # still relative to second, which remains
    assert _pull(second.id) == expected

    lose_catalog(monkeypatch, tmp_path)
    rebuild_catalog(default_context())
    assert _pull(second.id) == expected  # every byte it inherited was kept
    assert _pull(grandchild.id) == {**expected, "late.txt": b"late\n"}


def test_a_parent_with_a_child_only_storage_knows_needs_force(tmp_path: Path) -> None:
    first = _version(tmp_path, BASE)
    second = _version(tmp_path, {"x.txt": "x\n"}, parents=[first.id])
    default_context().catalog.delete(second.id)  # as if another machine's catalog made it

    with pytest.raises(StateError, match="is a parent of 1 other version"):
        Dataset.delete(dataset_id=first.id)
    Dataset.delete(dataset_id=first.id, force=True)
    assert _stored(second).complete
    rebuild_catalog(default_context())
    assert _pull(second.id) == {**_expected(BASE), "x.txt": b"x\n"}


def test_a_drafts_changes_come_from_what_it_staged_alone(tmp_path: Path) -> None:
    """Close works the change out from the staged rows, not by comparing every file; both
    ways must agree, whatever was added, changed back, removed, or re-added."""
    v1 = _version(tmp_path, BASE)
    draft = Dataset.create(dataset_name="ds", dataset_project="p", parent_datasets=[v1.id])
    changed = {"shard0/item0000.txt": "new", "shard1/item0050.txt": BASE["shard1/item0050.txt"]}
    draft.add_files(str(make_files(tmp_path / "changes", {**changed, "fresh.txt": "f"})))
    draft.remove_files("shard2/*")
    draft.add_files(str(make_files(tmp_path / "back", {"shard2/item0100.txt": "row 100\n" * 20})))
    ctx = default_context()
    record = ctx.catalog.get(draft.id)
    staged = draft_view(ctx, record)
    view, base = staged.view, staged.base
    files, removed = draft_changes(staged, view)
    expected_files, expected_removed = view.changes_since(base)
    assert files == expected_files
    assert sorted(removed) == sorted(expected_removed)
    assert sorted(files) == ["fresh.txt", "shard0/item0000.txt"]
    assert len(removed) == 49  # shard2 less the file added back unchanged
    # Upload and close look only at the staged files: the rest is the parent's, in this storage.
    own = own_positions(ctx, record, staged)
    assert own is not None
    assert [list(view)[at] for at in own] == ["fresh.txt", "shard0/item0000.txt"]
