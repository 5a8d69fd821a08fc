"""Small files stored in groups (one zstd frame for many, see packs/groups.py): closed, pulled,
verified, repacked and pushed byte for byte, beside blobs stored one by one by earlier
releases; damage to a group found by verify."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from deltaset import Dataset
from deltaset.engine.context import default_context
from deltaset.engine.gc import collect
from deltaset.errors import IntegrityError
from deltaset.objects.store import BlobStore
from deltaset.packs import groups
from deltaset.packs.codec import Codec
from deltaset.packs.writer import pack_key
from deltaset.storage import open_storage
from tests.conftest import forget_context, verify_stored_packs
from tests.integration.test_deltas import close, cold_copy


def module(seed: int, functions: int = 60) -> str:
    rng = random.Random(seed)
    return "".join(
        f"def f{i}(value):\n    return value * {rng.randint(0, 10**6)} + {rng.randint(0, 99)}\n"
        for i in range(functions)
    )


def source_tree(seed: int, count: int = 12) -> dict[str, bytes | str]:
    return {f"pkg/m{seed}_{i}.py": module(seed * 100 + i) for i in range(count)}


def codecs(ds: Dataset) -> set[int]:
    store = BlobStore(open_storage(ds.get_default_storage()))
    return {loc.entry.codec for loc in store.index.locations()}


def as_bytes(files: dict[str, bytes | str]) -> dict[str, bytes]:
    return {k: v.encode() if isinstance(v, str) else v for k, v in files.items()}


def storage_root(ds: Dataset) -> Path:
    return Path(ds.get_default_storage().removeprefix("file://"))


def test_small_files_are_stored_in_a_group_and_pulled_byte_for_byte(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    files = source_tree(1)
    ds = close(tmp_path, files, None)
    assert codecs(ds) == {Codec.GROUP}
    assert cold_copy(tmp_path, monkeypatch, ds) == as_bytes(files)
    Dataset.get(dataset_id=ds.id).verify_storage()
    verify_stored_packs(storage_root(ds))


def test_verify_detects_a_damaged_group(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ds = close(tmp_path, source_tree(2), None)
    store = BlobStore(open_storage(ds.get_default_storage()))
    member = store.index.locations()[0]
    pack = storage_root(ds) / pack_key(member.pack_id)
    data = bytearray(pack.read_bytes())
    data[member.entry.offset + member.entry.length // 2] ^= 0x04
    pack.write_bytes(bytes(data))
    monkeypatch.setenv("DELTASET_CACHE_DIR", str(tmp_path / "cold"))
    forget_context()
    with pytest.raises(IntegrityError):
        Dataset.get(dataset_id=ds.id).verify_storage()


def test_blobs_stored_one_by_one_by_the_current_release_read_beside_groups(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first_files = source_tree(3)
    with monkeypatch.context() as earlier:  # nothing grouped: as the current release stores
        earlier.setattr(groups, "MEMBER_MAX", 0)
        first = close(tmp_path, first_files, None)
    assert codecs(first) == {Codec.ZSTD}
    second_files = {**first_files, **source_tree(4)}
    second = close(tmp_path, second_files, first)
    assert Codec.GROUP in codecs(second)
    assert cold_copy(tmp_path, monkeypatch, first) == as_bytes(first_files)
    assert cold_copy(tmp_path, monkeypatch, second) == as_bytes(second_files)
    Dataset.get(dataset_id=second.id).verify_storage()


def test_gc_repack_and_push_keep_grouped_files_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first_files = source_tree(5)
    first = close(tmp_path, first_files, None)
    second_files = {k: v for k, v in first_files.items() if not k.endswith("_0.py")}
    second_files |= source_tree(6, count=4)
    second = close(tmp_path, second_files, first)
    url = second.get_default_storage()
    Dataset.delete(dataset_id=first.id, force=True)
    collect(default_context(), url, delete=True, keep_recent=0, repack=True)
    verify_stored_packs(storage_root(second))
    assert cold_copy(tmp_path, monkeypatch, second) == as_bytes(second_files)
    source = BlobStore(open_storage(url))
    elsewhere = BlobStore(open_storage((tmp_path / "pushed").as_uri()))
    wanted = {loc.entry.blob_id for loc in source.index.locations()}
    source.copy_to(elsewhere, wanted)  # a push's copy: members grouped again, read back whole
    assert Codec.GROUP in {loc.entry.codec for loc in elsewhere.index.locations()}
    assert verify_stored_packs(tmp_path / "pushed").indexed == wanted
