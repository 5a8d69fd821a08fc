"""Writable copies: from a folder storage on this machine they bypass the cache, from any other
storage they fill it (so the same bytes are never downloaded twice)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from deltaset.core.chunking import CHUNK_FROM
from deltaset.engine import pull
from deltaset.engine.context import default_context
from deltaset.errors import IntegrityError, InvalidInputError
from deltaset.storage import mounts
from tests.api.helpers import version_of
from tests.backends import Backend
from tests.conftest import read_tree

BIG = os.urandom(CHUNK_FROM + 654_321)  # chunked
FILES: dict[str, bytes | str] = {f"f{i}.txt": f"file {i % 4}" for i in range(10)}
FILES |= {"big.bin": BIG, "z/also-big.bin": BIG, "z/other.txt": "other"}
EXPECTED = {p: v.encode() if isinstance(v, str) else v for p, v in FILES.items()}


def cached_blobs() -> int:
    return default_context().cache.usage().blob_count


def storage_is_local(backend: Backend) -> bool:
    return backend.name == "embedded"  # a server's storage is reached over HTTP


@pytest.fixture(autouse=True)
def small_batches(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pull, "FETCH_BATCH", 3)  # the same content in several batches


def test_a_copy_from_a_folder_on_this_disk_is_written_once(
    backend: Backend, tmp_path: Path
) -> None:
    ds = version_of(tmp_path, FILES)
    target = tmp_path / "copy"
    ds.get_mutable_local_copy(str(target))
    assert read_tree(target) == EXPECTED
    assert not [p for p in target.rglob("*") if p.name.endswith(".part")]
    assert cached_blobs() == (0 if storage_is_local(backend) else 6)
    (target / "big.bin").write_bytes(b"edited")  # a copy of its own
    assert (target / "z" / "also-big.bin").read_bytes() == BIG
    assert read_tree(Path(ds.get_local_copy())) == EXPECTED  # the cache, filled now
    second = tmp_path / "second"
    ds.get_mutable_local_copy(str(second))  # from the cache this time
    assert read_tree(second) == EXPECTED


def test_a_copy_from_a_network_folder_fills_the_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ds = version_of(tmp_path, FILES)
    table = tmp_path / "mountinfo"
    table.write_text("22 1 252:0 / / rw,relatime shared:1 - nfs4 server:/export rw\n")
    monkeypatch.setattr(
        pull, "on_local_disk", lambda folder: mounts.on_local_disk(folder, str(table))
    )
    ds.get_mutable_local_copy(str(tmp_path / "copy"))
    assert read_tree(tmp_path / "copy") == EXPECTED
    assert cached_blobs() == 6  # 4 small contents, 1 other, 1 large file


def test_a_damaged_chunk_leaves_no_file_behind_in_the_copy(
    backend: Backend, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ds = version_of(tmp_path, {"big.bin": BIG})
    original = pull.Assembler.finish

    def damaged(self: pull.Assembler) -> None:
        os.pwrite(self._fd, b"\0" * 16, 100)  # a piece written wrong
        original(self)

    monkeypatch.setattr(pull.Assembler, "finish", damaged)
    target = tmp_path / "copy"
    with pytest.raises(IntegrityError, match="do not rebuild its content"):
        ds.get_mutable_local_copy(str(target))
    assert list(target.iterdir()) == []
    assert cached_blobs() == 0


def test_a_copy_never_replaces_the_storage_it_reads(backend: Backend, tmp_path: Path) -> None:
    ds = version_of(tmp_path, FILES)
    storage = default_context().settings.home / "storage"  # the default, even if unused
    storage.mkdir(parents=True, exist_ok=True)
    before = {p for p in storage.rglob("*") if p.is_file()}
    with pytest.raises(InvalidInputError, match=r"deltaset's (storage|home)"):
        ds.get_mutable_local_copy(str(storage), overwrite=True)
    assert {p for p in storage.rglob("*") if p.is_file()} == before
    assert read_tree(Path(ds.get_local_copy())) == EXPECTED
