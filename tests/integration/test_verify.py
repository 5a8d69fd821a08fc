"""verify: stored bytes checked by hash; local copies (and the cache) checked against a version."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from deltaset import Dataset
from deltaset.core.hashing import blob_id_of
from deltaset.engine.context import default_context
from deltaset.engine.views import final_manifest
from deltaset.errors import IntegrityError
from tests.conftest import Result, make_files


def closed(tmp_path: Path) -> Dataset:
    data = make_files(tmp_path / "data", {"a.bin": os.urandom(5000), "d/b.txt": "beta" * 100})
    ds = Dataset.create(dataset_name="n", dataset_project="p")
    ds.add_files(str(data))
    ds.finalize(auto_upload=True)
    return ds


def test_verify_storage_reads_every_byte_and_detects_damage(
    tmp_path: Path, cli: Callable[..., Result]
) -> None:
    ds = closed(tmp_path)
    done = cli("verify", "--id", ds.id)
    assert done.exit_code == 0
    assert "matches its hash" in done.stdout
    pack = next((Path(os.environ["DELTASET_HOME"]) / "storage" / "packs").rglob("*.pack"))
    data = bytearray(pack.read_bytes())
    data[100] ^= 0xFF
    pack.write_bytes(bytes(data))
    failed = cli("verify", "--id", ds.id)
    assert failed.exit_code == 1
    assert failed.stderr.startswith("error: The stored blob")
    with pytest.raises(IntegrityError):
        ds.verify_storage()


def test_verify_folder_names_what_differs(tmp_path: Path, cli: Callable[..., Result]) -> None:
    ds = closed(tmp_path)
    copy = Path(ds.get_mutable_local_copy(str(tmp_path / "copy")) or "")
    assert cli("verify", "--id", ds.id, "--folder", str(copy)).exit_code == 0
    (copy / "d" / "b.txt").write_text("BETA" * 100)  # same size, other bytes
    assert ds.verify_dataset_hash(str(copy)) == ["d/b.txt"]
    assert ds.verify_dataset_hash(str(copy), skip_hash=True) == []
    (copy / "a.bin").unlink()
    make_files(copy, {"d/new.txt": "extra", "z.txt": "extra"})
    done = cli("verify", "--id", ds.id, "--folder", str(copy), "--quiet")
    assert done.exit_code == 1
    assert done.stdout.splitlines() == [
        "differs: d/b.txt",
        "missing: a.bin",
        "extra: d/new.txt",
        "extra: z.txt",
    ]
    assert done.stderr == (
        f"error: {copy} does not match dataset version {ds.id} (1 differs, 1 missing, 2 extra).\n"
    )
    assert ds.verify_dataset_hash(str(copy)) == ["a.bin", "d/b.txt"]  # as ClearML: no extras
    found = json.loads(cli("verify", "--id", ds.id, "--folder", str(copy), "--json").stdout)
    assert (found["differ"], found["missing"], found["extra"]) == (
        ["d/b.txt"],
        ["a.bin"],
        ["d/new.txt", "z.txt"],
    )
    assert found["mismatched"] == ["a.bin", "d/b.txt"]
    sized = cli("verify", "--id", ds.id, "--folder", str(copy), "--filesize")
    assert sized.exit_code == 1
    assert "(1 missing, 2 extra)" in sized.stderr  # same size, other bytes: not seen


def test_a_damaged_cache_entry_is_detected(tmp_path: Path) -> None:
    ds = closed(tmp_path)
    cached = Path(ds.get_local_copy())
    assert ds.verify_dataset_hash() == []
    target = cached / "d" / "b.txt"
    os.chmod(target, 0o644)
    target.write_text("beta" * 99 + "BETA")
    assert ds.verify_dataset_hash() == ["d/b.txt"]


def test_verify_rebuilds_each_chunked_file_from_its_chunks(
    tmp_path: Path, cli: Callable[..., Result]
) -> None:
    """A chunk list naming other (intact) chunks than the file's: every chunk matches its
    hash, yet the file cannot be rebuilt, and verify says so."""
    big = os.urandom(5 << 20)
    first = Dataset.create(dataset_name="first", dataset_project="p")
    first.add_files(str(make_files(tmp_path / "one", {"big.bin": big})))
    first.finalize(auto_upload=True)
    ctx = default_context()
    (entry,) = final_manifest(ctx, ctx.catalog.get(first.id)).values()
    assert entry.chunks
    other = os.urandom(5 << 20)
    ctx.catalog.put_chunk_lists({blob_id_of(other): entry.chunks})
    second = Dataset.create(dataset_name="second", dataset_project="p")
    second.add_files(str(make_files(tmp_path / "two", {"x/other.bin": other})))
    second.finalize(auto_upload=True)  # the wrong list makes it look stored already

    assert cli("verify", "--id", first.id).exit_code == 0
    failed = cli("verify", "--id", second.id)
    assert failed.exit_code == 1
    assert failed.stderr == (
        f"error: 1 files of dataset version {second.id} do not rebuild from the chunks "
        "stored for them (first: x/other.bin).\n"
    )


def test_verify_names_a_pack_the_storage_lost(tmp_path: Path, cli: Callable[..., Result]) -> None:
    ds = closed(tmp_path)
    pack = next((Path(os.environ["DELTASET_HOME"]) / "storage" / "packs").rglob("*.pack"))
    pack.unlink()  # its index file still names it
    failed = cli("verify", "--id", ds.id)
    assert failed.exit_code == 1
    assert failed.stderr.startswith(f"error: The pack packs/{pack.parent.name}/{pack.name}")
    assert "bytes are lost" in failed.stderr
    assert len(failed.stderr.strip().splitlines()) == 1
