"""A full disk under the storage or the cache fails in one sentence and leaves nothing half-done.

Each test mounts a small tmpfs (see :mod:`tests.tmpfs`) and unmounts it when done.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import blake3
import pytest

from deltaset import Dataset
from deltaset.core.hashing import blob_id_of
from deltaset.objects.store import BlobStore
from deltaset.packs.codec import Codec
from deltaset.packs.writer import PackWriter
from deltaset.storage import open_storage
from deltaset.storage.layout import manifest_key, record_key
from tests.conftest import make_files, read_tree, run_cli, verify_cached_blobs, verify_stored_packs
from tests.tmpfs import Mount, fill


def remount(folder: Path, size: str) -> None:
    subprocess.run(["mount", "-o", f"remount,size={size}", str(folder)], check=True)


def random_files(root: Path, count: int, size: int) -> dict[str, bytes]:
    """Incompressible files (compression cannot make them fit), plus one compressible file."""
    files: dict[str, bytes | str] = {
        f"part{i % 3}/f{i:03d}.bin": os.urandom(size) for i in range(count)
    }
    files["labels.csv"] = "".join(f"{i},dog\n" for i in range(5000))
    make_files(root, files)
    return read_tree(root)


def one_sentence(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode != 0, done.stdout
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("error: "), lines[0]
    assert "no space left" in lines[0].lower(), lines[0]
    return lines[0]


def leftovers(folder: Path) -> list[Path]:
    """Files in a ``tmp/`` staging folder: a failed write must not leave them to fill the disk."""
    tmp = folder / "tmp"
    return sorted(p for p in tmp.rglob("*") if p.is_file()) if tmp.is_dir() else []


def staged(version_id: str) -> list[tuple[str, int, str]]:
    return [(e.relative_path, e.size, e.hash) for e in Dataset.get(version_id).file_entries]


def pulled_tree(version_id: str) -> dict[str, bytes]:
    done = run_cli("get", "--id", version_id)
    assert done.returncode == 0, done.stderr
    return read_tree(Path(done.stdout.strip()))


def test_close_on_full_storage_keeps_a_draft_that_closes_elsewhere(
    tmp_path: Path, tmpfs: Mount
) -> None:
    small = tmpfs("small-storage", "2m")
    expected = random_files(tmp_path / "data", count=12, size=256 * 1024)  # 3 MB
    ds = Dataset.create(dataset_name="big", dataset_project="disk", output_uri=str(small))
    ds.add_files(str(tmp_path / "data"))
    before = staged(ds.id)

    packed: dict[str, str] = {}
    for _ in range(2):  # a second attempt on the same full disk fails the same way
        # in packs of 1 MB, so the first pack fits and the second one does not
        line = one_sentence(run_cli("close", "--id", ds.id, "--chunk-size", "1"))
        assert str(small) in line
        assert Dataset.get(ds.id).is_final() is False
        stored = verify_stored_packs(small)  # no partial pack is visible under packs/
        assert 0 < len(stored.packed) < len(expected)  # some blobs fitted, in whole packs
        assert stored.unindexed == set()  # and are named already, for the next attempt
        assert packed.items() <= stored.packed.items()  # and stay there, sent once
        packed = stored.packed
        assert leftovers(small) == []  # the pack that did not fit left no trace
        assert not (small / manifest_key(ds.id)).exists()
        assert not (small / record_key(ds.id)).exists()
        assert staged(ds.id) == before
    search = run_cli("search", "--not-only-completed", "--json")
    assert [d["state"] for d in json.loads(search.stdout)] == ["draft"]

    roomy = tmp_path / "roomy-storage"
    done = run_cli("close", "--id", ds.id, "--storage", str(roomy))
    assert done.returncode == 0, done.stderr
    assert Dataset.get(ds.id).is_final()
    assert Dataset.get(ds.id).get_default_storage() == roomy.as_uri()
    assert {blake3.blake3(b).hexdigest() for b in expected.values()} <= verify_stored_packs(
        roomy
    ).indexed
    assert pulled_tree(ds.id) == expected


def test_full_storage_while_finalizing_keeps_a_draft(tmp_path: Path, tmpfs: Mount) -> None:
    """The bytes are all stored, then the disk fills: the manifest or record cannot be written."""
    small = tmpfs("small-storage", "4m")
    expected = random_files(tmp_path / "data", count=4, size=200 * 1024)
    ds = Dataset.create(dataset_name="big", dataset_project="disk", output_uri=str(small))
    ds.add_files(str(tmp_path / "data"))
    uploaded = run_cli("upload", "--id", ds.id)
    assert uploaded.returncode == 0, uploaded.stderr
    filler = fill(small)

    one_sentence(run_cli("close", "--id", ds.id, "--disable-upload"))
    assert Dataset.get(ds.id).is_final() is False
    assert not (small / manifest_key(ds.id)).exists()
    assert not (small / record_key(ds.id)).exists()
    assert leftovers(small) == []
    pull = run_cli("get", "--id", ds.id)
    assert pull.returncode != 0
    assert "draft" in pull.stderr

    filler.unlink()
    done = run_cli("close", "--id", ds.id, "--disable-upload")
    assert done.returncode == 0, done.stderr
    assert pulled_tree(ds.id) == expected


def test_get_with_full_cache_fails_cleanly_then_pulls_whole(
    tmp_path: Path, tmpfs: Mount, monkeypatch: pytest.MonkeyPatch
) -> None:
    expected = random_files(tmp_path / "data", count=12, size=256 * 1024)
    ds = Dataset.create(dataset_name="big", dataset_project="disk")
    ds.add_files(str(tmp_path / "data"))
    ds.finalize(auto_upload=True)
    cache = tmpfs("small-cache", "1m")
    monkeypatch.setenv("DELTASET_CACHE_DIR", str(cache))

    get_refused_on_a_full_cache(ds.id, cache)

    remount(cache, "16m")
    assert pulled_tree(ds.id) == expected
    assert verify_cached_blobs(cache) == {blake3.blake3(b).hexdigest() for b in expected.values()}


def get_refused_on_a_full_cache(version_id: str, cache: Path) -> None:
    """Twice (the second attempt meets the same full disk): one sentence, only verified
    blobs, no staging leftovers and no half-made folder."""
    for _ in range(2):
        full_cache_sentence(run_cli("get", "--id", version_id), cache)
        verify_cached_blobs(cache)
        assert leftovers(cache) == []
        assert not (cache / "trees" / version_id).exists()


def full_cache_sentence(done: subprocess.CompletedProcess[str], cache: Path) -> str:
    """One sentence naming the cache folder and what frees it."""
    line = one_sentence(done)
    assert str(cache) in line, line
    assert "deltaset cache purge" in line, line
    assert "deltaset cache --limit" in line, line
    return line


def closed(name: str, folder: Path) -> Dataset:
    ds = Dataset.create(dataset_name=name, dataset_project="disk")
    ds.add_files(str(folder))
    ds.finalize(auto_upload=True)
    return ds


def test_a_full_cache_index_is_one_sentence_and_a_warm_get_still_works(
    tmp_path: Path, tmpfs: Mount, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A version whose files are all cached needs no byte of blob, only a row of the index."""
    expected = random_files(tmp_path / "data", count=3, size=100 * 1024)
    first, same = closed("first", tmp_path / "data"), closed("same", tmp_path / "data")
    cache = tmpfs("cache", "4m")
    monkeypatch.setenv("DELTASET_CACHE_DIR", str(cache))
    assert pulled_tree(first.id) == expected
    filler = fill(cache)

    for _ in range(2):
        line = full_cache_sentence(run_cli("get", "--id", same.id), cache)
        assert "(its index)" in line
        assert not (cache / "trees" / same.id).exists()  # none the index does not know
        assert pulled_tree(first.id) == expected  # checking a folder writes nothing it needs
    purged = run_cli("cache", "purge")  # what the sentence advises works on the full disk
    assert purged.returncode == 0, purged.stderr
    assert verify_cached_blobs(cache) == set()
    assert shutil.disk_usage(cache).free >= 3 * 100 * 1024
    filler.unlink()
    assert pulled_tree(same.id) == expected


def test_purge_frees_what_gets_on_a_full_cache_left(
    tmp_path: Path, tmpfs: Mount, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The blobs fit, or some do, and the index cannot name them: purge frees them all the same."""
    expected = random_files(tmp_path / "data", count=3, size=300 * 1024)
    ds = closed("big", tmp_path / "data")
    cache = tmpfs("small-cache", "1m")
    monkeypatch.setenv("DELTASET_CACHE_DIR", str(cache))

    get_refused_on_a_full_cache(ds.id, cache)
    purged = run_cli("cache", "purge")
    assert purged.returncode == 0, purged.stderr
    assert verify_cached_blobs(cache) == set()
    assert shutil.disk_usage(cache).free > 2 * 300 * 1024  # only the index is left
    remount(cache, "16m")
    assert pulled_tree(ds.id) == expected


def test_copy_into_full_folder_fails_cleanly(tmp_path: Path, tmpfs: Mount) -> None:
    expected = random_files(tmp_path / "data", count=12, size=256 * 1024)
    ds = Dataset.create(dataset_name="big", dataset_project="disk")
    ds.add_files(str(tmp_path / "data"))
    ds.finalize(auto_upload=True)
    small = tmpfs("small-target", "1m")

    line = one_sentence(run_cli("get", "--id", ds.id, "--copy", str(small / "copy")))
    assert str(small / "copy") in line
    assert "pulling-" not in line  # the files are named where the user looks for them
    verify_cached_blobs(tmp_path / "home" / "cache")
    # Written into a private folder, published whole: nothing in view, partial or whole.
    assert read_tree(small / "copy") == {}
    assert os.listdir(small / "copy") == []

    roomy = tmp_path / "roomy-copy"
    done = run_cli("get", "--id", ds.id, "--copy", str(roomy))
    assert done.returncode == 0, done.stderr
    assert read_tree(roomy) == expected


def test_a_full_home_disk_is_named_as_such(tmp_path: Path, tmpfs: Mount) -> None:
    home = tmpfs("home", "1m")
    fill(home)
    env = {"DELTASET_HOME": str(home)}
    searched = one_sentence(run_cli("search", env=env))
    assert f"Cannot use the catalog {home / 'catalog.db'}: no space left" in searched
    one_sentence(run_cli("create", "--project", "p", "--name", "n", env=env))


def test_gc_and_delete_free_a_full_storage(tmp_path: Path, tmpfs: Mount) -> None:
    small = tmpfs("small-storage", "5m")
    big = {"a.bin": os.urandom(1100 * 1024), "b.bin": os.urandom(1100 * 1024)}
    base = Dataset.create(dataset_name="base", dataset_project="disk", output_uri=str(small))
    base.add_files(str(make_files(tmp_path / "base", big)))
    base.upload(chunk_size=1)  # a pack each, named by one index file
    base.finalize()
    kept = Dataset.create(dataset_name="kept", parent_datasets=[base.id], output_uri=str(small))
    kept.remove_files("b.bin")
    kept.finalize()
    Dataset.delete(dataset_id=base.id, force=True, delete_files=False)  # b.bin: no longer used
    versions = []
    for name in ("gone", "deleted"):
        files = {f"{name}{i}.bin": os.urandom(200 * 1024) for i in range(2)}
        ds = Dataset.create(dataset_name=name, dataset_project="disk", output_uri=str(small))
        ds.add_files(str(make_files(tmp_path / name, files)))
        ds.finalize(auto_upload=True)
        versions.append(ds.id)
    Dataset.delete(dataset_id=versions[0], delete_files=False)
    left = PackWriter(open_storage(str(small)))  # a whole pack an interrupted upload left unnamed
    left.add(blob_id_of(unnamed := os.urandom(100 * 1024)), Codec.RAW, unnamed, len(unnamed))
    left.close()
    fill(small)

    # The index file naming both packs of base must be rewritten: the room comes first from
    # the packs of gone, which only an index file of their own names.
    swept = run_cli("gc", "--delete", "--keep-recent", "0", "--storage", str(small), "--json")
    assert swept.returncode == 0, swept.stderr
    assert json.loads(swept.stdout)["freed_bytes"] > 1500 * 1024
    assert json.loads(swept.stdout)["orphan_packs"] == 1
    assert not list((small / "locks").iterdir())
    assert verify_stored_packs(small).unindexed == set()
    fill(small)
    deleted = run_cli("delete", "--id", versions[1])  # frees its bytes as well
    assert deleted.returncode == 0, deleted.stderr
    assert shutil.disk_usage(small).free > 300 * 1024
    assert verify_stored_packs(small).unindexed == set()
    assert pulled_tree(kept.id) == {"a.bin": big["a.bin"]}


def test_on_a_full_storage_gc_frees_packs_before_it_rewrites_index_files(
    tmpfs: Mount,
) -> None:
    small = tmpfs("small-storage", "2m")
    storage = open_storage(str(small))
    live = [os.urandom(64) for _ in range(400)]  # their index rows: more than a page

    def pack(blobs: list[bytes]) -> bytes:
        writer = PackWriter(storage, target_size=1 << 30)
        for data in blobs:
            writer.add(blob_id_of(data), Codec.RAW, data, len(data))
        writer.close()
        return bytes(writer.written)

    store = BlobStore(storage)
    # One index file names a pack of live blobs and an unused pack; another only unused ones.
    store.index.publish_rows(pack(live) + pack([os.urandom(64)]))
    store.index.publish_rows(pack([os.urandom(300 * 1024)]))
    fill(small)
    freed = BlobStore(storage).drop_unreferenced({blob_id_of(data) for data in live})
    assert freed > 300 * 1024
    stored = verify_stored_packs(small)
    assert stored.indexed == {blob_id_of(data) for data in live}
    assert len(stored.packs) == 1
