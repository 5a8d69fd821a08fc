"""Packing on add: small files are packed as they are hashed, and upload sends those packs."""

from __future__ import annotations

import os
import shutil
import time
import zipfile
from pathlib import Path

import pytest

from deltaset import Dataset
from deltaset.core.hashing import blob_id_of
from deltaset.errors import InvalidInputError, StateError
from deltaset.packs.codec import Codec, encode_delta, encode_small
from deltaset.packs.reader import read_pack_entries
from deltaset.packs.writer import PackWriter
from deltaset.storage.local import LocalStorage
from tests.backends import Backend
from tests.conftest import make_files, read_tree, stored_blob_ids, verify_stored_packs

FILES = {f"part-{i}.csv": "".join(f"{i},{j},{j * i}\n" for j in range(2000)) for i in range(5)}


def staging_of(home: Path, ds: Dataset) -> Path:
    return home / "staging" / ds.id


def staged_blob_ids(folder: Path) -> set[str]:
    """The blobs of every staged pack, read from the packs' own headers (staging has no index)."""
    storage = LocalStorage(folder)
    packs = [key.rsplit("/", 1)[-1].removesuffix(".pack") for key in storage.list("packs/")]
    return {e.blob_id for pack in packs for e in read_pack_entries(storage, pack)}


def added(tmp_path: Path, files: dict[str, str] = FILES, name: str = "n") -> tuple[Dataset, Path]:
    data = make_files(tmp_path / f"data-{name}", files)
    ds = Dataset.create(dataset_name=name, dataset_project="p")
    ds.add_files(str(data))
    return ds, data


def test_close_sends_what_add_packed_without_reading_the_files_again(
    tmp_path: Path, isolation: Path
) -> None:
    ds, data = added(tmp_path)
    assert staged_blob_ids(staging_of(isolation, ds)) == {
        blob_id_of(t.encode()) for t in FILES.values()
    }
    shutil.rmtree(data)  # every byte upload needs is in the packs add made
    ds.finalize(auto_upload=True)
    assert not staging_of(isolation, ds).exists()  # gone with the draft
    assert stored_blob_ids(ds.get_default_storage()) == {
        blob_id_of(t.encode()) for t in FILES.values()
    }
    assert 0 < ds.record.stats.stored_bytes < sum(len(t) for t in FILES.values()) // 2
    assert read_tree(Path(ds.get_local_copy())) == {p: t.encode() for p, t in FILES.items()}


def test_packs_made_on_add_go_to_the_storage_named_at_upload(tmp_path: Path) -> None:
    ds, data = added(tmp_path)
    shutil.rmtree(data)
    elsewhere = tmp_path / "elsewhere"
    ds.upload(output_url=str(elsewhere))
    ds.finalize()
    assert ds.get_default_storage() == elsewhere.as_uri()
    assert len(stored_blob_ids(elsewhere.as_uri())) == len(FILES)
    assert read_tree(Path(ds.get_local_copy())) == {p: t.encode() for p, t in FILES.items()}


def test_a_pack_holding_a_removed_file_is_not_sent(tmp_path: Path) -> None:
    ds, _ = added(tmp_path)
    ds.remove_files("part-0.csv")
    ds.finalize(auto_upload=True)
    stored = stored_blob_ids(ds.get_default_storage())
    assert blob_id_of(FILES["part-0.csv"].encode()) not in stored  # read again from the files
    assert len(stored) == len(FILES) - 1


def test_another_compression_reads_the_files_again(tmp_path: Path) -> None:
    ds, _ = added(tmp_path)
    ds.upload(compression=zipfile.ZIP_STORED)
    assert ds.record.stats.stored_bytes == sum(len(t) for t in FILES.values())  # raw, as asked
    other, other_data = added(tmp_path, name="other", files={"x.txt": "changed later"})
    (other_data / "x.txt").write_text("changed after add")
    with pytest.raises(StateError, match="changed after it was added"):
        other.upload(compression="zstd:9")


def test_packing_on_add_can_be_turned_off(
    tmp_path: Path, isolation: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DELTASET_PACK_ON_ADD", "0")
    ds, data = added(tmp_path)
    assert not staging_of(isolation, ds).exists()
    ds.finalize(auto_upload=True)
    assert len(stored_blob_ids(ds.get_default_storage())) == len(FILES)
    monkeypatch.setenv("DELTASET_PACK_ON_ADD", "sometimes")
    with pytest.raises(InvalidInputError, match="DELTASET_PACK_ON_ADD='sometimes'"):
        Dataset.create(dataset_name="m", dataset_project="p").add_files(str(data))


def test_a_failure_to_pack_stops_packing_not_the_add(
    tmp_path: Path, isolation: Path, caplog: pytest.LogCaptureFixture
) -> None:
    isolation.mkdir(parents=True, exist_ok=True)
    (isolation / "staging").write_text("a file where the staging folder goes")
    ds, _ = added(tmp_path)
    assert "stopped packing files as they are added" in caplog.text
    ds.finalize(auto_upload=True)  # upload reads the files instead
    assert read_tree(Path(ds.get_local_copy())) == {p: t.encode() for p, t in FILES.items()}


def test_unchanged_files_hashed_again_are_not_packed(tmp_path: Path, isolation: Path) -> None:
    first, data = added(tmp_path)
    first.finalize(auto_upload=True)
    copy = tmp_path / "copied"
    shutil.copytree(data, copy)  # new files, same contents: hashed again, but unchanged
    (copy / "new.txt").write_text("only this one is new")
    second = Dataset.create(dataset_name="n", dataset_project="p", parent_datasets=[first.id])
    second.sync_folder(str(copy))
    assert staged_blob_ids(staging_of(isolation, second)) == {blob_id_of(b"only this one is new")}


def test_a_content_packed_by_two_adds_is_stored_once(
    backend: Backend, tmp_path: Path, isolation: Path
) -> None:
    ds = Dataset.create(dataset_name="n", dataset_project="p")
    ds.add_files(str(make_files(tmp_path / "a", {"x.txt": "same"})))
    ds.add_files(str(make_files(tmp_path / "b", {"y.txt": "same", "z.txt": "other"})))
    assert len(list(LocalStorage(staging_of(isolation, ds)).list("packs/"))) == 2
    ds.finalize(auto_upload=True)
    stored = verify_stored_packs(backend.storage)  # no blob in two packs
    assert set(stored.packed) == {blob_id_of(b"same"), blob_id_of(b"other")}
    assert read_tree(Path(ds.get_local_copy())) == {
        "x.txt": b"same",
        "y.txt": b"same",
        "z.txt": b"other",
    }


def test_deleting_a_draft_forgets_its_packs(tmp_path: Path, isolation: Path) -> None:
    ds, _ = added(tmp_path)
    assert staging_of(isolation, ds).is_dir()
    Dataset.delete(dataset_id=ds.id)
    assert not staging_of(isolation, ds).exists()


def test_files_hashed_before_are_not_packed_again(tmp_path: Path, isolation: Path) -> None:
    data = make_files(tmp_path / "data", FILES)
    for path in data.iterdir():
        os.utime(path, (time.time() - 3600,) * 2)  # old enough for their hashes to be kept
    first = Dataset.create(dataset_name="first", dataset_project="p")
    first.add_files(str(data))
    first.finalize(auto_upload=True)
    again = Dataset.create(dataset_name="again", dataset_project="p")
    again.add_files(str(data))  # known hashes: nothing is read, nothing is packed
    assert not staging_of(isolation, again).exists()
    again.finalize(auto_upload=True)
    assert again.record.stats.stored_bytes == 0


def test_many_batches_of_known_and_new_files_hash_right_and_in_order(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from deltaset.engine import scan
    from deltaset.engine.context import default_context

    monkeypatch.setattr(scan, "STREAM_BATCH", 7)  # the next batch hashes while one is consumed
    monkeypatch.setattr(scan, "HASH_GROUP", 2)
    files = {f"f{i:02d}.txt": f"content {i}" for i in range(40)}
    folder = make_files(tmp_path / "many", files)
    old = time.time() - 60  # past the racy window: their hashes are remembered
    for name in list(files)[::2]:
        os.utime(folder / name, (old, old))
    ctx = default_context()
    found = scan.collect(str(folder), None, None, None, recursive=True)
    first = list(scan.hash_files(ctx, found, 2))
    assert [h.path for h in first] == sorted(files)
    assert all(h.blob_id == blob_id_of(files[h.path].encode()) for h in first)
    assert len(ctx.hashes.lookup(f.key for f in found)) == 20  # only the settled files
    again = list(scan.hash_files(ctx, found, 2))
    assert again == first


def test_a_staged_pack_holding_a_delta_is_sent_with_its_base_named(
    tmp_path: Path, isolation: Path
) -> None:
    base = "".join(f"{j},{j * 7}\n" for j in range(3000)).encode()
    edited = base + b"one more row\n"
    ds, data = added(tmp_path, {"base.csv": base.decode(), "edited.csv": edited.decode()})
    staging = staging_of(isolation, ds)
    shutil.rmtree(staging / "packs")  # in its place, one pack storing edited.csv as a delta
    with PackWriter(LocalStorage(staging), make_rows=False) as writer:
        writer.add(blob_id_of(base), *encode_small(base), len(base))
        delta = encode_delta(edited, base)
        writer.add(blob_id_of(edited), Codec.DELTA, delta, len(edited), blob_id_of(base))
    shutil.rmtree(data)  # every byte is in that pack
    ds.finalize(auto_upload=True)
    assert read_tree(Path(ds.get_local_copy())) == {"base.csv": base, "edited.csv": edited}
