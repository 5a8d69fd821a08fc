"""A folder's saved state lets a sync skip its unchanged files, and never hides a change."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from deltaset import Dataset
from deltaset.cache.hashes import HashCache
from deltaset.engine import scan
from tests.conftest import make_files, read_tree

FILES = {f"d{i % 3}/f{i}.txt": f"content {i}" for i in range(30)}


def settled(folder: Path, *only: str) -> Path:
    """The files of ``folder`` (or ``only`` these) back-dated a minute: old enough to be
    remembered."""
    for file in [folder / name for name in only] or folder.rglob("*"):
        if file.is_file():
            stamp = file.stat()
            os.utime(file, ns=(stamp.st_atime_ns, stamp.st_mtime_ns - 60 * 10**9))
    return folder


@pytest.fixture
def hashed(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The dataset paths of the files read to be hashed, with the hash cache made forgetful:
    only a folder's saved state can spare a file from being read."""
    seen: list[str] = []
    original = scan._hash

    def spy(ctx: object, item: scan.LocalFile, *rest: object) -> object:
        seen.append(item.path)
        return original(ctx, item, *rest)  # type: ignore[arg-type]

    monkeypatch.setattr(scan, "_hash", spy)
    monkeypatch.setattr(HashCache, "lookup", lambda self, keys: {})
    return seen


def synced(folder: Path, parents: list[str] | None = None, name: str = "n") -> Dataset:
    ds = Dataset.create(dataset_name=name, dataset_project="p", parent_datasets=parents)
    ds.sync_folder(str(folder))
    ds.finalize(auto_upload=True)
    return ds


def test_a_sync_reads_only_what_changed_since_the_last_add(
    tmp_path: Path, hashed: list[str]
) -> None:
    data = settled(make_files(tmp_path / "data", FILES))
    first = Dataset.create(dataset_name="n", dataset_project="p")
    first.add_files(str(data))
    first.finalize(auto_upload=True)
    assert len(hashed) == len(FILES)
    hashed.clear()
    (data / "d0" / "f0.txt").write_text("edited")
    (data / "d1" / "f1.txt").unlink()
    (data / "new.txt").write_text("new")
    second = synced(data, [first.id])
    assert sorted(hashed) == ["d0/f0.txt", "new.txt"]
    assert read_tree(Path(second.get_local_copy())) == read_tree(data)
    hashed.clear()
    again = synced(settled(data, "d0/f0.txt", "new.txt"), [second.id])  # read again, once
    assert sorted(hashed) == ["d0/f0.txt", "new.txt"]
    hashed.clear()
    third = Dataset.create(dataset_name="n", dataset_project="p", parent_datasets=[again.id])
    assert third.sync_folder(str(data)) == (0, 0, 0)
    assert hashed == []


def test_a_recent_file_is_read_again_at_every_sync(tmp_path: Path, hashed: list[str]) -> None:
    data = settled(make_files(tmp_path / "data", FILES))
    first = synced(data)
    (data / "d0" / "f0.txt").write_text("just now")  # may change again within its mtime tick
    second = synced(data, [first.id])
    hashed.clear()
    synced(data, [second.id])
    assert hashed == ["d0/f0.txt"]


def test_the_state_never_hides_what_the_draft_holds_instead(
    tmp_path: Path, hashed: list[str]
) -> None:
    data = settled(make_files(tmp_path / "data", FILES))
    first = synced(data)
    # Another dataset, whose files differ at the same paths: every file is a change for it.
    other = synced(settled(make_files(tmp_path / "other", {p: "other" for p in FILES})), None, "o")
    hashed.clear()
    into_other = Dataset.create(dataset_name="o", dataset_project="p", parent_datasets=[other.id])
    assert into_other.sync_folder(str(data)) == (0, 0, len(FILES))
    # A draft whose file an add from elsewhere replaced after the sync saved the state.
    draft = Dataset.create(dataset_name="n", dataset_project="p", parent_datasets=[first.id])
    draft.sync_folder(str(data))
    elsewhere = make_files(tmp_path / "elsewhere" / "d0", {"f0.txt": "from elsewhere"})
    draft.add_files(str(elsewhere), dataset_path="d0")
    draft.finalize(auto_upload=True)
    mirror = synced(data, [draft.id])
    assert read_tree(Path(mirror.get_local_copy())) == read_tree(data)


def test_a_damaged_state_costs_time_not_correctness(
    tmp_path: Path, isolation: Path, hashed: list[str]
) -> None:
    data = settled(make_files(tmp_path / "data", FILES))
    first = synced(data)
    (state,) = (isolation / "folders").iterdir()
    lines = state.read_bytes().split(b"\n")
    # A line claiming other content for a file: the checksum no longer matches.
    state.write_bytes(b"\n".join([*lines[:-1], lines[-1][:-64] + b"0" * 64]))
    (data / "d0" / "f0.txt").write_text("edited")
    hashed.clear()
    second = synced(data, [first.id])
    assert len(hashed) == len(FILES)
    assert read_tree(Path(second.get_local_copy())) == read_tree(data)


def test_a_folder_added_under_a_dataset_folder_is_read_once(
    tmp_path: Path, hashed: list[str]
) -> None:
    data = settled(make_files(tmp_path / "data", FILES))
    first = Dataset.create(dataset_name="n", dataset_project="p")
    first.add_files(str(data), dataset_path="under/here")
    first.finalize(auto_upload=True)
    hashed.clear()
    (data / "d2" / "f2.txt").write_text("edited")
    settled(data, "d2/f2.txt")
    (data / "d1" / "f1.txt").unlink()
    second = Dataset.create(dataset_name="n", dataset_project="p", parent_datasets=[first.id])
    second.add_files(str(data), dataset_path="under/here")
    assert hashed == ["under/here/d2/f2.txt"]
    hashed.clear()
    assert second.sync_folder(str(data), dataset_path="under/here") == (1, 0, 0)
    assert hashed == []
    second.finalize(auto_upload=True)
    assert read_tree(Path(second.get_local_copy()) / "under" / "here") == read_tree(data)
