"""A cold get's files are the cached blobs, in the folder it built (their home), with nothing
linked under ``blobs/``: a later get of another version links them from there without
reading storage, a write into one is caught, and evicting their folder keeps the blobs
another folder still links."""

from __future__ import annotations

import json
import os
from pathlib import Path

from deltaset import Dataset
from deltaset.engine.context import default_context
from deltaset.engine.views import final_manifest
from deltaset.storage import open_storage
from tests.conftest import make_files, read_tree, run_cli, verify_cached_blobs
from tests.damage import flip_a_byte

FILES: dict[str, bytes | str] = {f"s{i % 2}/f{i}.bin": os.urandom(2000 + i) for i in range(6)}
SIZES = sum(len(data) for data in FILES.values())


def versions(tmp_path: Path) -> tuple[Dataset, Dataset]:
    """A version, and a child adding one of its files again under a new name (no new blob)."""
    first = Dataset.create(dataset_name="homes", dataset_project="cold")
    first.add_files(str(make_files(tmp_path / "first", FILES)))
    first.finalize(auto_upload=True)
    second = Dataset.create(
        dataset_name="homes", dataset_project="cold", parent_datasets=[first.id]
    )
    second.add_files(str(make_files(tmp_path / "second", {"again.bin": FILES["s0/f0.bin"]})))
    second.finalize(auto_upload=True)
    return first, second


def bytes_read(ds: Dataset) -> int:
    return open_storage(ds.get_default_storage()).stats.bytes_read


def cache_info() -> tuple[int, int]:
    done = run_cli("cache", "info", "--json")
    assert done.returncode == 0, done.stderr
    info = json.loads(done.stdout)
    return int(info["bytes"]), int(info["files"])


def test_a_get_of_another_version_links_the_files_a_cold_get_wrote_without_reading_storage(
    tmp_path: Path, isolation: Path
) -> None:
    first, second = versions(tmp_path)
    home = Path(Dataset.get(dataset_id=first.id).get_local_copy())
    cache = isolation / "cache"
    assert not any((cache / "blobs").iterdir())
    assert len(verify_cached_blobs(cache)) == len(FILES)
    before = bytes_read(second)
    folder = Path(Dataset.get(dataset_id=second.id).get_local_copy())
    assert bytes_read(second) == before  # nothing fetched
    assert read_tree(folder) == {**FILES, "again.bin": FILES["s0/f0.bin"]}
    for path in FILES:
        assert (folder / path).stat().st_ino == (home / path).stat().st_ino
    assert (folder / "again.bin").stat().st_ino == (home / "s0/f0.bin").stat().st_ino
    assert not any((cache / "blobs").iterdir())
    assert cache_info() == (SIZES, len(FILES))


def test_a_home_file_written_into_is_fetched_again_not_linked_and_its_folder_repaired(
    tmp_path: Path, isolation: Path
) -> None:
    first, second = versions(tmp_path)
    home = Path(Dataset.get(dataset_id=first.id).get_local_copy())
    flip_a_byte(home / "s1/f1.bin")  # as root would: times kept, bytes changed
    before = bytes_read(second)
    folder = Path(Dataset.get(dataset_id=second.id).get_local_copy())
    assert bytes_read(second) > before
    assert (folder / "s1/f1.bin").read_bytes() == FILES["s1/f1.bin"]
    assert read_tree(Path(Dataset.get(dataset_id=first.id).get_local_copy())) == FILES
    verify_cached_blobs(isolation / "cache")


def test_evicting_a_home_another_folder_links_keeps_its_blobs_usable_and_counted(
    tmp_path: Path, isolation: Path
) -> None:
    first, second = versions(tmp_path)
    pulled = run_cli("get", "--id", first.id)  # (a folder got here would be held here too)
    assert pulled.returncode == 0, pulled.stderr
    # Held by this process: the purge (another process) must leave it.
    folder = Path(Dataset.get(dataset_id=second.id).get_local_copy())
    purged = run_cli("cache", "purge")
    assert purged.returncode == 0, purged.stderr
    cache = isolation / "cache"
    assert not (cache / "trees" / first.id).exists()
    assert cache_info() == (SIZES, len(FILES))  # every blob still there, in the second
    blobs = {e.blob_id for e in final_manifest(default_context(), second.record).values()}
    assert verify_cached_blobs(cache) == blobs
    before = bytes_read(first)
    again = Path(Dataset.get(dataset_id=first.id).get_local_copy())
    assert bytes_read(first) == before  # linked from the second's files
    assert read_tree(again) == FILES
    assert (again / "s0/f0.bin").stat().st_ino == (folder / "again.bin").stat().st_ino


def test_evicting_a_home_no_other_folder_links_frees_its_blobs(
    tmp_path: Path, isolation: Path
) -> None:
    first, _ = versions(tmp_path)
    pulled = run_cli("get", "--id", first.id)
    assert pulled.returncode == 0, pulled.stderr
    assert cache_info() == (SIZES, len(FILES))
    purged = run_cli("cache", "purge")
    assert purged.returncode == 0, purged.stderr
    assert cache_info() == (0, 0)
    assert os.listdir(isolation / "cache" / "trees") == []
