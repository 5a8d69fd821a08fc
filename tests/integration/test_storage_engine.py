"""The storage engine: packs, content-defined chunks, partial reads, resumable pack uploads."""

from __future__ import annotations

import os
import signal
from pathlib import Path

from deltaset import Dataset
from deltaset.storage import open_storage
from tests.conftest import make_files, read_tree, run_cli, stored_blob_ids

MIB = 1 << 20


def closed(
    tmp_path: Path,
    files: dict[str, bytes | str],
    name: str = "n",
    parents: list[str] | None = None,
    chunk_size: int | None = None,
) -> Dataset:
    folder = make_files(tmp_path / f"src-{len(list(tmp_path.iterdir()))}", files)
    ds = Dataset.create(dataset_name=name, dataset_project="p", parent_datasets=parents)
    ds.sync_folder(str(folder))
    ds.upload(chunk_size=chunk_size)
    ds.finalize()
    return ds


def pack_bytes(ds: Dataset) -> int:
    storage = open_storage(ds.get_default_storage())
    return sum(storage.size(key) for key in storage.list("packs/"))


def test_small_files_share_packs_of_the_chunk_size(tmp_path: Path) -> None:
    files = {f"f{i:03d}.bin": os.urandom(20_000) for i in range(200)}
    ds = closed(tmp_path, files, chunk_size=1)
    packs = list(open_storage(ds.get_default_storage()).list("packs/"))
    assert 3 <= len(packs) <= 5  # 4 MB of blobs in packs of about 1 MB, not 200 objects
    assert read_tree(Path(ds.get_local_copy())) == {k: v for k, v in files.items()}


def test_pulling_one_percent_reads_about_one_percent(tmp_path: Path) -> None:
    files = {f"d{i % 10}/f{i:04d}.bin": os.urandom(4096) for i in range(2000)}
    ds = closed(tmp_path, files)
    storage = open_storage(ds.get_default_storage())
    stored = pack_bytes(ds)
    before = storage.stats.bytes_read
    wanted = sorted(files)[::100]  # 1 %, spread over the version
    folder = Path(ds.get_local_copy(files=wanted))
    assert sorted(read_tree(folder)) == sorted(wanted)
    assert storage.stats.bytes_read - before <= 0.02 * stored
    part = Path(ds.get_local_copy(part=1, num_parts=100))
    assert len(read_tree(part)) == 20


def test_an_insertion_in_a_large_file_stores_a_few_chunks(tmp_path: Path) -> None:
    big = os.urandom(16 * MIB)
    v1 = closed(tmp_path, {"big.bin": big})
    first = pack_bytes(v1)
    changed = big[: 5 * MIB] + os.urandom(MIB) + big[5 * MIB : 9 * MIB] + os.urandom(MIB // 4)
    changed += big[9 * MIB + MIB // 4 :]
    v2 = closed(tmp_path, {"big.bin": changed}, parents=[v1.id])
    assert 16 * MIB <= first < 17 * MIB
    assert pack_bytes(v2) - first < 4 * MIB  # 1.25 MiB new, plus the chunks around each edit
    assert (Path(v2.get_local_copy()) / "big.bin").read_bytes() == changed
    assert (Path(v1.get_local_copy()) / "big.bin").read_bytes() == big


def test_chunks_dedup_across_datasets(tmp_path: Path) -> None:
    big = os.urandom(6 * MIB)
    a = closed(tmp_path, {"x.bin": big}, name="a")
    chunks = stored_blob_ids(a.get_default_storage())
    b = closed(tmp_path, {"renamed/y.bin": big}, name="b")
    assert b.record.stats.stored_bytes == 0
    assert stored_blob_ids(b.get_default_storage()) == chunks
    assert (Path(b.get_local_copy()) / "renamed/y.bin").read_bytes() == big


def test_a_pack_published_before_a_kill_is_not_sent_again(tmp_path: Path) -> None:
    data = make_files(tmp_path / "data", {f"f{i:03d}.bin": os.urandom(50_000) for i in range(60)})
    assert run_cli("create", "--project", "p", "--name", "n").returncode == 0
    assert run_cli("add", "--files", str(data)).returncode == 0
    killed = run_cli(
        "close", "--chunk-size", "1", env={"DELTASET_FAILPOINT": "packs.after_publish"}
    )
    assert killed.returncode == -signal.SIGKILL
    storage_root = Path(os.environ["DELTASET_HOME"]) / "storage"
    published = list((storage_root / "packs").rglob("*.pack"))
    assert published  # the first, and under load perhaps another upload thread's
    assert not list((storage_root / "index").glob("*.idx"))  # killed before naming it
    done = run_cli("close", "--chunk-size", "1")
    assert done.returncode == 0, done.stderr
    total = sum(p.stat().st_size for p in (storage_root / "packs").rglob("*.pack"))
    assert total < 60 * 50_000 * 1.01  # the first pack was indexed, not uploaded twice
    pulled = run_cli("get", "--project", "p", "--name", "n")
    assert read_tree(Path(pulled.stdout.strip().splitlines()[-1])) == read_tree(data)


def test_pulling_a_child_reuses_the_cached_chunks_of_its_parent(tmp_path: Path) -> None:
    big = os.urandom(12 * MIB)
    v1 = closed(tmp_path, {"big.bin": big, "small.txt": "s"})
    storage = open_storage(v1.get_default_storage())
    Path(v1.get_local_copy())
    changed = big[: 6 * MIB] + os.urandom(MIB // 2) + big[6 * MIB :]
    written_before_v2 = storage.stats.bytes_written
    v2 = closed(tmp_path, {"big.bin": changed, "small.txt": "s"}, parents=[v1.id])
    stored_by_v2 = storage.stats.bytes_written - written_before_v2
    before = storage.stats.bytes_read
    assert (Path(v2.get_local_copy()) / "big.bin").read_bytes() == changed
    read = storage.stats.bytes_read - before
    # Only what v2 stored (the chunks around the insertion, up to 1 MiB each, and its
    # manifest) is read; never the 12.5 MiB file again.
    assert read <= stored_by_v2
    assert stored_by_v2 < 4 * MIB


def test_a_long_running_process_sees_versions_uploaded_after_it_started(tmp_path: Path) -> None:
    first = closed(tmp_path, {"a.txt": "first"})
    Path(first.get_local_copy())  # this process has now read the storage's indexes
    data = make_files(tmp_path / "later", {"b.txt": "uploaded by another process"})
    assert run_cli("create", "--project", "p", "--name", "later").returncode == 0
    assert run_cli("add", "--files", str(data)).returncode == 0
    assert run_cli("close").returncode == 0
    later = Dataset.get(dataset_project="p", dataset_name="later")
    assert read_tree(Path(later.get_local_copy())) == {"b.txt": b"uploaded by another process"}
