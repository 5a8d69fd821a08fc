"""A cold get writes each fetched blob straight into the folder it builds, then links it into
the cache: only bytes checked against their hash get there, and a kill at any step leaves
neither a partial blob in the cache nor a partial folder in view."""

from __future__ import annotations

import os
import signal
from pathlib import Path

from deltaset import Dataset
from tests.conftest import make_files, read_tree, run_cli, verify_cached_blobs
from tests.damage import flip_a_byte

KILLED = -signal.SIGKILL


def final_version(tmp_path: Path, count: int = 30) -> tuple[str, dict[str, bytes]]:
    """Incompressible files (a flipped byte of a pack lands in one's stored bytes) and a
    duplicate, in a version closed into the home's folder storage."""
    files: dict[str, bytes | str] = {
        f"s{i % 3}/f{i:03d}.bin": os.urandom(3000) for i in range(count)
    }
    files["dup.bin"] = files["s0/f000.bin"]
    data = make_files(tmp_path / "data", files)
    ds = Dataset.create(dataset_name="staged", dataset_project="cold")
    ds.add_files(str(data))
    ds.finalize(auto_upload=True)
    return ds.id, read_tree(data)


def leftovers(cache: Path) -> list[str]:
    return os.listdir(cache / "tmp") if (cache / "tmp").is_dir() else []


def test_a_get_killed_between_staging_a_blob_and_caching_it_then_pulls_whole(
    tmp_path: Path, isolation: Path
) -> None:
    version, expected = final_version(tmp_path)
    cache = isolation / "cache"
    done = run_cli("get", "--id", version, env={"DELTASET_FAILPOINT": "pull.blob_staged"})
    assert done.returncode == KILLED, done.stderr
    assert verify_cached_blobs(cache) == set()  # written into the folder, never linked
    assert not (cache / "trees" / version).exists()
    assert len(leftovers(cache)) == 1  # the unpublished folder, swept once stale

    pulled = run_cli("get", "--id", version)
    assert pulled.returncode == 0, pulled.stderr
    assert read_tree(Path(pulled.stdout.strip())) == expected
    assert len(verify_cached_blobs(cache)) == len(expected) - 1  # the duplicate once


def test_a_cold_get_refuses_a_damaged_pack_byte_and_caches_nothing_from_it(
    tmp_path: Path, isolation: Path
) -> None:
    version, expected = final_version(tmp_path)
    [pack] = (isolation / "storage" / "packs").rglob("*.pack")
    flip_a_byte(pack)
    cache = isolation / "cache"
    pulled = run_cli("get", "--id", version)
    assert pulled.returncode != 0
    lines = pulled.stderr.strip().splitlines()
    assert len(lines) == 1, pulled.stderr
    assert lines[0].startswith("error: ")
    verify_cached_blobs(cache)  # whatever arrived before the damage is whole
    assert len(verify_cached_blobs(cache)) < len(expected) - 1
    assert not (cache / "trees" / version).exists()
    assert leftovers(cache) == []
