"""Version semantics a ClearML Data user relies on, and where deltaset does better."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from deltaset import Dataset
from deltaset.engine.context import default_context
from deltaset.errors import InvalidInputError, NotFoundError, StateError
from deltaset.storage import open_storage
from tests.api.helpers import version_of
from tests.conftest import make_files, read_tree, stored_blob_ids


def stored_blobs(ds: Dataset) -> set[str]:
    return stored_blob_ids(ds.get_default_storage())


def test_parents_merge_in_order_later_wins(tmp_path: Path) -> None:
    a = version_of(tmp_path, {"shared.txt": "from a", "only_a.txt": "a"}, name="a")
    b = version_of(tmp_path, {"shared.txt": "from b", "only_b.txt": "b"}, name="b")
    child = Dataset.create(dataset_name="c", parent_datasets=[a.id, b.id])
    assert child.project == "p"  # taken from the last parent
    child.finalize()
    tree = read_tree(Path(child.get_local_copy()))
    assert tree == {"shared.txt": b"from b", "only_a.txt": b"a", "only_b.txt": b"b"}
    reverse = Dataset.create(dataset_name="r", parent_datasets=[b.id, a.id])
    reverse.finalize()
    assert read_tree(Path(reverse.get_local_copy()))["shared.txt"] == b"from a"


def test_multi_parent_dag_graph(tmp_path: Path) -> None:
    root = version_of(tmp_path, {"r.txt": "root"}, name="root")
    left = version_of(tmp_path, {"l.txt": "left"}, name="left", parents=[root.id])
    right = version_of(tmp_path, {"x.txt": "right"}, name="right", parents=[root.id])
    merged = Dataset.create(dataset_name="m", parent_datasets=[left.id, right.id])
    merged.finalize()
    assert merged.get_dependency_graph() == {
        merged.id: [left.id, right.id],
        left.id: [root.id],
        right.id: [root.id],
        root.id: [],
    }
    # sync_folder mirrors its folder, so the left version holds only l.txt
    assert read_tree(Path(merged.get_local_copy())) == {"l.txt": b"left", "x.txt": b"right"}


def test_child_stores_only_its_change_set(tmp_path: Path) -> None:
    files = {f"f{i}.bin": bytes([i]) * 5000 for i in range(10)}
    parent = version_of(tmp_path, files)
    before = stored_blobs(parent)
    child_files = dict(files)
    child_files["f0.bin"] = b"changed" * 100
    child = version_of(tmp_path, child_files, parents=[parent.id])
    assert stored_blobs(child) - before != set()
    assert len(stored_blobs(child) - before) == 1
    assert child.list_modified_files() == ["f0.bin"]
    assert child.list_added_files() == []
    assert child.list_removed_files() == []


def test_moved_renamed_and_readded_files_store_no_bytes(tmp_path: Path) -> None:
    files = {"a/one.bin": b"1" * 4000, "a/two.bin": b"2" * 4000}
    parent = version_of(tmp_path, files)
    before = stored_blobs(parent)
    moved = version_of(
        tmp_path, {"b/renamed.bin": b"1" * 4000, "two.bin": b"2" * 4000}, parents=[parent.id]
    )
    assert stored_blobs(moved) == before
    assert moved.record.stats.stored_bytes == 0
    assert sorted(moved.list_added_files()) == ["b/renamed.bin", "two.bin"]
    assert sorted(moved.list_removed_files()) == ["a/one.bin", "a/two.bin"]
    gone = version_of(tmp_path, {"a/one.bin": b"1" * 4000}, parents=[moved.id])
    back = version_of(
        tmp_path, {"a/one.bin": b"1" * 4000, "a/two.bin": b"2" * 4000}, parents=[gone.id]
    )
    assert stored_blobs(back) == before
    assert back.record.stats.stored_bytes == 0


def test_versions_auto_bump_and_get_returns_highest(tmp_path: Path) -> None:
    v1 = version_of(tmp_path, {"x": "1"})
    v2 = version_of(tmp_path, {"x": "2"}, parents=[v1.id])
    explicit = Dataset.create(dataset_name="n", dataset_project="p", dataset_version="1.0.10")
    explicit.finalize()
    assert (v1.version, v2.version) == ("1.0.0", "1.0.1")
    assert Dataset.get(dataset_project="p", dataset_name="n").id == explicit.id
    assert Dataset.get(dataset_project="p", dataset_name="n", dataset_version="1.0.1").id == v2.id
    following = Dataset.create(dataset_name="n", dataset_project="p")
    assert following.version == "1.0.11"
    with pytest.raises(NotFoundError):
        Dataset.get(dataset_project="p", dataset_name="n", only_published=True)
    assert Dataset.get(dataset_project="p", dataset_name="n", only_completed=True).id == explicit.id
    with pytest.raises(InvalidInputError, match="is empty or holds '/'"):
        Dataset.create(dataset_name="n", dataset_project="p", dataset_version="a/b")


def test_only_final_versions_are_parents_or_pulled(tmp_path: Path) -> None:
    draft = Dataset.create(dataset_name="n", dataset_project="p")
    with pytest.raises(StateError, match="still a draft"):
        Dataset.create(dataset_name="c", parent_datasets=[draft.id])
    with pytest.raises(StateError, match="still a draft"):
        draft.get_local_copy()


def test_delete_parent_refused_then_forced_child_still_pulls(tmp_path: Path) -> None:
    parent = version_of(tmp_path, {"keep.bin": b"k" * 3000, "drop.bin": b"d" * 3000})
    child = version_of(
        tmp_path, {"keep.bin": b"k" * 3000, "new.bin": b"n" * 3000}, parents=[parent.id]
    )
    with pytest.raises(StateError, match="is a parent of 1 other version"):
        Dataset.delete(dataset_id=parent.id)
    Dataset.delete(dataset_id=parent.id, force=True)
    with pytest.raises(NotFoundError):
        Dataset.get(dataset_id=parent.id)
    assert read_tree(Path(Dataset.get(dataset_id=child.id).get_local_copy())) == {
        "keep.bin": b"k" * 3000,
        "new.bin": b"n" * 3000,
    }
    assert child.get_dependency_graph() == {child.id: [parent.id], parent.id: []}
    # the parent's pack still holds keep.bin, which the child uses, so it stays whole
    assert {e.hash for e in child.file_entries} <= stored_blobs(child)


def test_deleting_a_leaf_frees_the_packs_only_it_used(tmp_path: Path) -> None:
    kept = os.urandom(3000)
    parent = version_of(tmp_path, {"keep.bin": kept})
    leaf = version_of(
        tmp_path, {"keep.bin": b"", "own.bin": os.urandom(5000)}, name="leaf", parents=[parent.id]
    )
    storage = open_storage(leaf.get_default_storage())
    packs = set(storage.list("packs/"))
    assert len(packs) == 2
    Dataset.delete(dataset_id=leaf.id)
    assert len(set(storage.list("packs/"))) == 1
    assert stored_blobs(parent) == {e.hash for e in parent.file_entries}
    assert read_tree(Path(parent.get_local_copy())) == {"keep.bin": kept}


def test_cache_second_pull_reads_nothing_and_child_reads_only_new_bytes(tmp_path: Path) -> None:
    files = {f"f{i}.bin": os.urandom(2000) for i in range(20)}
    parent = version_of(tmp_path, files)
    storage = open_storage(parent.get_default_storage())
    before = (storage.stats.reads, storage.stats.bytes_read)
    Path(parent.get_local_copy())
    assert storage.stats.reads - before[0] == 1  # 20 blobs, one coalesced ranged read
    assert storage.stats.bytes_read - before[1] == 20 * 2000
    before = (storage.stats.reads, storage.stats.bytes_read)
    again = Dataset.get(dataset_id=parent.id).get_local_copy()
    assert (storage.stats.reads, storage.stats.bytes_read) == before
    assert read_tree(Path(again)) == files
    child = version_of(
        tmp_path,
        {**files, "extra.bin": os.urandom(100), "f1.bin": os.urandom(50)},
        parents=[parent.id],
    )
    before = (storage.stats.reads, storage.stats.bytes_read)
    child.get_local_copy()
    assert storage.stats.reads - before[0] == 1
    assert storage.stats.bytes_read - before[1] == 150  # only the two new files


def test_local_copy_is_read_only_links_and_mutable_copy_is_writable(tmp_path: Path) -> None:
    ds = version_of(tmp_path, {"a.txt": "alpha", "d/b.txt": "beta"})
    folder = Path(ds.get_local_copy())
    blob_id = ds.file_entries_dict["a.txt"].hash
    assert default_context().cache.files([blob_id]) == {blob_id: str(folder / "a.txt")}  # its home
    assert not (folder / "a.txt").stat().st_mode & 0o222
    soft = Path(ds.get_local_copy(use_soft_links=True))
    assert (soft / "d/b.txt").is_symlink()
    assert (soft / "d/b.txt").read_text() == "beta"
    target = tmp_path / "work"
    assert ds.get_mutable_local_copy(str(target)) == str(target)
    (target / "a.txt").write_text("edited")
    assert (folder / "a.txt").read_text() == "alpha"
    with pytest.raises(StateError, match="not empty"):
        ds.get_mutable_local_copy(str(target))
    assert ds.get_mutable_local_copy(str(target), raise_on_error=False) is None
    ds.get_mutable_local_copy(str(target), overwrite=True)
    assert read_tree(target) == {"a.txt": b"alpha", "d/b.txt": b"beta"}


def test_a_cold_mutable_copy_mixes_fetched_cached_and_chunked_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Fetched blobs are written into the copy as they arrive, the rest copied from the cache:
    batch by batch, with contents shared between paths and across batches."""
    from deltaset.engine import pull

    monkeypatch.setattr(pull, "FETCH_BATCH", 3)
    big = os.urandom(5 << 20)  # chunked
    files: dict[str, bytes | str] = {f"f{i}.txt": f"file {i % 4}" for i in range(10)}
    files |= {"big.bin": big, "z/also-big.bin": big, "z/cached.txt": "pulled before"}
    ds = version_of(tmp_path, files)
    ds.get_local_copy(files=["z/cached.txt"])  # one file already in the cache
    target = tmp_path / "copy"
    ds.get_mutable_local_copy(str(target))
    expected = {p: v.encode() if isinstance(v, str) else v for p, v in files.items()}
    assert read_tree(target) == expected
    (target / "f0.txt").write_text("edited")  # a copy, never a link into the cache
    assert (target / "f4.txt").read_text() == "file 0"
    assert ds.verify_dataset_hash() == []


def test_unchanged_files_are_not_read_again(tmp_path: Path) -> None:
    data = make_files(tmp_path / "data", {"a.txt": "original"})
    old = (data / "a.txt").stat()
    # back-date the file so its hash is trusted (not "racy")
    import os

    os.utime(data / "a.txt", ns=(old.st_atime_ns, old.st_mtime_ns - 10**10))
    first = Dataset.create(dataset_name="n", dataset_project="p")
    first.add_files(str(data))
    stamp = (data / "a.txt").stat()
    # Same inode, size and mtime: a re-add trusts the remembered hash without reading the file.
    with (data / "a.txt").open("r+b") as handle:
        handle.write(b"ORIGINAL")
    os.utime(data / "a.txt", ns=(stamp.st_atime_ns, stamp.st_mtime_ns))
    second = Dataset.create(dataset_name="m", dataset_project="p")
    second.add_files(str(data))
    assert second.file_entries[0].hash == first.file_entries[0].hash
    # Any real change of size or mtime is seen.
    (data / "a.txt").write_text("changed!!")
    third = Dataset.create(dataset_name="o", dataset_project="p")
    third.add_files(str(data))
    assert third.file_entries[0].hash != first.file_entries[0].hash


def test_add_files_wildcards_base_folder_and_dataset_path(tmp_path: Path) -> None:
    data = make_files(tmp_path / "data", {"a.jpg": "1", "b.txt": "2", "sub/c.jpg": "3"})
    ds = Dataset.create(dataset_name="n", dataset_project="p")
    assert ds.add_files(str(data), wildcard="*.jpg", dataset_path="images") == 2
    assert ds.list_files() == ["images/a.jpg", "images/sub/c.jpg"]
    assert ds.add_files(str(data / "sub" / "c.jpg"), local_base_folder=str(data)) == 1
    assert "sub/c.jpg" in ds.list_files()
    assert ds.add_files(str(data), recursive=False, dataset_path="top") == 2
    assert sorted(p for p in ds.list_files() if p.startswith("top/")) == ["top/a.jpg", "top/b.txt"]
    assert ds.add_files(str(data / "*.txt")) == 1
    assert ds.remove_files("images/*.jpg") == 2
    assert ds.remove_files("top", recursive=True) == 2
    assert ds.list_files() == ["b.txt", "sub/c.jpg"]


@pytest.mark.parametrize("base", ["sub/c.jpg", "elsewhere"])
def test_add_files_refuses_a_base_folder_the_file_is_not_inside(tmp_path: Path, base: str) -> None:
    data = make_files(tmp_path / "data", {"sub/c.jpg": "3"})
    ds = Dataset.create(dataset_name="n", dataset_project="p")
    with pytest.raises(InvalidInputError, match="is not inside the local base folder"):
        ds.add_files(str(data / "sub" / "c.jpg"), local_base_folder=str(data / base))
    assert ds.list_files() == []


def test_list_datasets_and_search_by_partial_name_and_tags(tmp_path: Path) -> None:
    a = Dataset.create(
        dataset_name="cats-train", dataset_project="vision/pets", dataset_tags=["train"]
    )
    a.finalize()
    b = Dataset.create(dataset_name="dogs-test", dataset_project="vision", dataset_tags=["test"])
    b.finalize()
    Dataset.create(dataset_name="draft", dataset_project="vision")
    assert {d["id"] for d in Dataset.list_datasets(dataset_project="vision")} == {a.id, b.id}
    assert [
        d["id"]
        for d in Dataset.list_datasets(dataset_project="vision", recursive_project_search=False)
    ] == [b.id]
    assert [d["id"] for d in Dataset.list_datasets(partial_name="cat")] == [a.id]
    assert [d["id"] for d in Dataset.list_datasets(tags=["test"])] == [b.id]
    assert len(Dataset.list_datasets(only_completed=False)) == 3
    first = Dataset.list_datasets(ids=[a.id])[0]
    assert set(first) == {"name", "created", "project", "id", "tags", "version", "state", "status"}


def test_upload_compression_stored_keeps_bytes_raw(tmp_path: Path) -> None:
    import zipfile

    text = "the same words again and again\n" * 500
    data = make_files(tmp_path / "data", {"a.txt": text})
    raw = Dataset.create(dataset_name="raw", dataset_project="p", output_uri=str(tmp_path / "s1"))
    raw.add_files(str(data))
    raw.upload(compression=zipfile.ZIP_STORED)
    packed = Dataset.create(dataset_name="z", dataset_project="p", output_uri=str(tmp_path / "s2"))
    packed.add_files(str(data))
    packed.upload()
    for ds in (raw, packed):
        ds.finalize()
        assert read_tree(Path(ds.get_local_copy())) == {"a.txt": text.encode()}
    assert raw.record.stats.stored_bytes == len(text)
    assert packed.record.stats.stored_bytes < len(text) // 10


def test_upload_compression_level_and_a_bad_value(tmp_path: Path) -> None:
    text = "".join(f"row {i}, value {i * 7 % 13}\n" for i in range(20000))
    data = make_files(tmp_path / "data", {"a.csv": text})
    sizes = {}
    for name, compression in (("fast", None), ("small", "zstd:9")):
        ds = Dataset.create(dataset_name=name, dataset_project="p", output_uri=str(tmp_path / name))
        ds.add_files(str(data))
        ds.upload(compression=compression)
        ds.finalize()
        assert read_tree(Path(ds.get_local_copy())) == {"a.csv": text.encode()}
        sizes[name] = ds.record.stats.stored_bytes
    assert sizes["small"] < sizes["fast"]
    bad = Dataset.create(dataset_name="bad", dataset_project="p")
    bad.add_files(str(data))
    with pytest.raises(InvalidInputError, match="Unknown compression 'gzip'"):
        bad.upload(compression="gzip")
    assert bad.is_dirty()  # nothing was sent


def test_close_uploads_to_the_given_storage_then_finalizes(tmp_path: Path) -> None:
    import zipfile

    text = "the same words again and again\n" * 500
    data = make_files(tmp_path / "data", {"a.txt": text, "b/c.txt": "c"})
    ds = Dataset.create(dataset_name="n", dataset_project="p")
    ds.add_files(str(data))
    elsewhere = tmp_path / "elsewhere"
    ds.close(output_url=str(elsewhere), compression=zipfile.ZIP_STORED, chunk_size=1)
    assert ds.is_final()
    assert ds.get_default_storage() == elsewhere.as_uri()
    assert ds.record.stats.stored_bytes == len(text) + 1  # stored raw, as asked
    assert read_tree(Path(ds.get_local_copy())) == {"a.txt": text.encode(), "b/c.txt": b"c"}
    with pytest.raises(StateError):
        ds.close()  # a final version is never changed again


def test_verbose_reports_each_file(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    data = make_files(tmp_path / "data", {"a.txt": "alpha", "b.txt": "beta"})
    ds = Dataset.create(dataset_name="n", dataset_project="p")
    ds.add_files(str(data), verbose=True)
    ds.remove_files("b.txt", verbose=True)
    err = capfd.readouterr().err
    assert "added a.txt" in err
    assert "added b.txt" in err
    assert "removed b.txt" in err
    ds.add_files(str(data))
    assert capfd.readouterr().err == ""


def test_force_delete_refuses_to_orphan_a_draft(tmp_path: Path) -> None:
    parent = version_of(tmp_path, {"a.txt": "alpha"})
    draft = Dataset.create(dataset_name="n", dataset_project="p", parent_datasets=[parent.id])
    with pytest.raises(StateError, match=f"parent of the draft {draft.id}"):
        Dataset.delete(dataset_id=parent.id, force=True)
    assert draft.list_files() == ["a.txt"]
    draft.finalize()
    Dataset.delete(dataset_id=parent.id, force=True)
    assert read_tree(Path(draft.get_local_copy())) == {"a.txt": b"alpha"}


def test_a_copy_never_follows_a_symlink_left_in_the_target(tmp_path: Path) -> None:
    """Targets are emptied (links removed, not followed) before any file is written."""
    ds = version_of(tmp_path, {"link/file.txt": "inside"})
    target, outside = tmp_path / "target", tmp_path / "outside"
    target.mkdir()
    outside.mkdir()
    os.symlink(outside, target / "link")
    with pytest.raises(StateError, match="not empty"):
        ds.get_mutable_local_copy(str(target))
    ds.get_mutable_local_copy(str(target), overwrite=True)
    assert not (target / "link").is_symlink()
    assert (target / "link" / "file.txt").read_text() == "inside"
    assert list(outside.iterdir()) == []


def test_list_files_from_a_version_names_what_still_holds_its_content(tmp_path: Path) -> None:
    first = version_of(tmp_path, {"a.txt": "a1", "b.txt": "b1", "c.txt": "c1"})
    second = version_of(
        tmp_path, {"a.txt": "a2", "b.txt": "b1", "c.txt": "c1", "d.txt": "d"}, parents=[first.id]
    )
    third = version_of(
        tmp_path, {"a.txt": "a3", "b.txt": "b1", "c.txt": "c1", "d.txt": "d"}, parents=[second.id]
    )
    assert third.list_files(dataset_id=first.id) == ["b.txt", "c.txt"]
    assert third.list_files(dataset_id=second.id) == ["d.txt"]  # its a.txt was replaced
    assert third.list_files(dataset_id=third.id) == ["a.txt"]


def test_clearml_arguments_deltaset_cannot_honour_say_so(tmp_path: Path) -> None:
    done = version_of(tmp_path, {"a.txt": "a"})
    assert Dataset.get(dataset_id=done.id, silence_alias_warnings=True).id == done.id
    draft = Dataset.create(dataset_name="d", dataset_project="p")
    with pytest.raises(InvalidInputError, match="add_external_files"):
        draft.upload(upload_as_external_links=True)


def test_get_can_create_a_missing_dataset_or_a_writable_child(tmp_path: Path) -> None:
    made = Dataset.get(dataset_project="p", dataset_name="fresh", auto_create=True)
    assert not made.is_final()
    assert (made.project, made.name) == ("p", "fresh")
    assert Dataset.get(dataset_project="p", dataset_name="fresh", auto_create=True).id == made.id
    done = version_of(tmp_path, {"a.txt": "a"}, name="base")
    child = Dataset.get(
        dataset_project="p", dataset_name="base", writable_copy=True, alias="training data"
    )
    assert child.parents == [done.id]
    assert not child.is_final()
    assert child.list_files() == ["a.txt"]
    with pytest.raises(NotFoundError):
        Dataset.get(dataset_id="0" * 32, auto_create=True)  # an id cannot be created
