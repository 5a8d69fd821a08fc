"""A folder storage removes the folders its deletes empty (a gc deleting every pack of a
prefix left 256 of them behind), and a write whose folder was removed that way meanwhile
still lands."""

from __future__ import annotations

from pathlib import Path

from deltaset.storage.local import LocalStorage


def test_deleting_the_last_key_of_a_folder_removes_the_folder_but_not_the_top_one(
    tmp_path: Path,
) -> None:
    storage = LocalStorage(tmp_path)
    storage.put_bytes("packs/ab/one.pack", b"1")
    storage.put_bytes("packs/ab/two.pack", b"2")
    storage.put_bytes("metadata/v1/deep/name.json", b"{}")
    storage.delete("packs/ab/one.pack")
    assert (tmp_path / "packs" / "ab").is_dir()  # its other key is still there
    storage.delete("packs/ab/two.pack")
    storage.delete("metadata/v1/deep/name.json")
    assert not (tmp_path / "packs" / "ab").exists()
    assert not (tmp_path / "metadata" / "v1").exists()
    assert (tmp_path / "packs").is_dir()
    assert (tmp_path / "metadata").is_dir()
    storage.delete("packs/cd/never.pack")  # a key never written: nothing to remove, no error
    assert list(storage.list("packs/")) == []


def test_a_write_whose_folder_a_delete_removed_meanwhile_is_published(tmp_path: Path) -> None:
    root = tmp_path / "store"
    storage = LocalStorage(root)
    storage.put_bytes("packs/ab/old.pack", b"old")
    with storage.writer("packs/ab/new.pack") as handle:
        handle.write(b"new")
        storage.delete("packs/ab/old.pack")  # another process's gc: the folder goes
        assert not (root / "packs" / "ab").exists()
    assert storage.get_bytes("packs/ab/new.pack") == b"new"
    storage.delete("packs/ab/new.pack")
    assert storage.put_bytes("packs/ab/first.pack", b"1", overwrite=False)
    source = tmp_path / "source"
    source.write_bytes(b"file")
    storage.put_file("packs/ef/file.pack", source)
    assert storage.get_bytes("packs/ef/file.pack") == b"file"
