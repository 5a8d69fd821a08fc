"""A cold get writes each fetched blob straight into the folder it builds, its home, and
nowhere else: only bytes checked against their hash get there, and a kill at any step leaves
neither a partial blob in the cache nor a partial folder in view. A get of symbolic links
caches each blob under ``blobs/`` and accounts for it as it goes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from deltaset import Dataset
from deltaset.cache.index import CacheIndex
from deltaset.cache.trees import stat_of
from tests.conftest import make_files, read_tree, run_cli, verify_cached_blobs
from tests.damage import cached_blob_in, flip_a_byte

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
    [folder, log] = sorted(leftovers(cache))  # the unpublished folder, its (locked) log
    assert log == f"{folder}.linked"
    assert cache_info()["bytes"] == 0  # swept: nothing left to account for

    pulled = run_cli("get", "--id", version)
    assert pulled.returncode == 0, pulled.stderr
    assert read_tree(Path(pulled.stdout.strip())) == expected
    assert len(verify_cached_blobs(cache)) == len(expected) - 1  # the duplicate once
    assert leftovers(cache) == []  # swept at once: their process is gone


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


def test_two_processes_pulling_one_version_cold_share_its_blobs(
    tmp_path: Path, isolation: Path
) -> None:
    """Both write the same blobs at once (a pause after each is written widens the window):
    both give the whole version, one folder is published, and the index names its files,
    with their stats, as the blobs' homes (the other's rows, naming files that went with its
    staging folder, are never written)."""
    version, expected = final_version(tmp_path)
    env = {**os.environ, "DELTASET_PAUSE": "pull.blob_staged:0.02"}

    def pull() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "deltaset", "get", "--id", version, "--max-workers", "1"],
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
            check=False,
        )

    with ThreadPoolExecutor(2) as pool:
        done = list(pool.map(lambda _: pull(), range(2)))
    for result in done:
        assert result.returncode == 0, result.stderr
        assert read_tree(Path(result.stdout.strip())) == expected
    cache = isolation / "cache"
    assert len(verify_cached_blobs(cache)) == len(expected) - 1
    tree = cache / "trees" / version
    assert not any((cache / "blobs").iterdir())
    homes = {cached_blob_in(cache, blob_id) for blob_id in verify_cached_blobs(cache)}
    assert all(p.is_relative_to(tree) for p in homes)
    recorded = CacheIndex(cache / "index.db").stats(verify_cached_blobs(cache))
    assert {blob_id: stat_of(cached_blob_in(cache, blob_id).stat()) for blob_id in recorded} == (
        recorded
    )
    assert leftovers(cache) == []


def test_a_blob_left_unaccounted_by_a_killed_get_is_checked_before_it_is_served(
    tmp_path: Path, isolation: Path
) -> None:
    """A get of symbolic links killed after caching a blob, before writing its rows, leaves
    a blob the cache index never heard of: the next get fetches it again and serves it only
    if the file holds the fetched bytes (here, changed meanwhile, it is replaced)."""
    version, expected = final_version(tmp_path)
    cache = isolation / "cache"
    killed = {"DELTASET_FAILPOINT": "pull.after_blob"}
    done = run_cli("get", "--id", version, "--soft-links", env=killed)
    assert done.returncode == KILLED, done.stderr
    [orphan] = [p for p in (cache / "blobs").rglob("*") if p.is_file()]
    flip_a_byte(orphan)

    pulled = run_cli("get", "--id", version)
    assert pulled.returncode == 0, pulled.stderr
    assert read_tree(Path(pulled.stdout.strip())) == expected
    assert len(verify_cached_blobs(cache)) == len(expected) - 1


def cache_info() -> dict[str, int]:
    done = run_cli("cache", "info", "--json")
    assert done.returncode == 0, done.stderr
    info: dict[str, int] = json.loads(done.stdout)
    return info


def blob_files(cache: Path) -> list[Path]:
    return [p for p in (cache / "blobs").rglob("*") if p.is_file()]


def test_the_next_cache_operation_accounts_for_what_a_killed_get_linked(
    tmp_path: Path, isolation: Path
) -> None:
    """A get of symbolic links killed after caching a blob, before writing its rows: the
    next command that opens the cache gives it its row, so the cache's size counts it and
    eviction under a limit removes it. (A get of hard links killed there leaves nothing
    under ``blobs/``: see the first test.)"""
    version, _ = final_version(tmp_path)
    cache = isolation / "cache"
    killed = {"DELTASET_FAILPOINT": "pull.after_blob"}
    done = run_cli("get", "--id", version, "--soft-links", env=killed)
    assert done.returncode == KILLED, done.stderr
    [orphan] = blob_files(cache)

    info = cache_info()
    assert info["bytes"] == orphan.stat().st_size == 3000
    assert info["files"] == 1
    assert leftovers(cache) == []  # its staging folder and log went with the sweep
    limited = run_cli("cache", "--limit", "1KB")
    assert limited.returncode == 0, limited.stderr
    assert blob_files(cache) == []
    assert cache_info()["bytes"] == 0


def test_a_blob_a_killed_get_left_that_was_changed_since_is_removed_not_adopted(
    tmp_path: Path, isolation: Path
) -> None:
    version, expected = final_version(tmp_path)
    cache = isolation / "cache"
    killed = {"DELTASET_FAILPOINT": "pull.after_blob"}
    done = run_cli("get", "--id", version, "--soft-links", env=killed)
    assert done.returncode == KILLED, done.stderr
    [orphan] = blob_files(cache)
    flip_a_byte(orphan)

    info = cache_info()
    assert blob_files(cache) == []
    assert (info["bytes"], info["files"]) == (0, 0)
    pulled = run_cli("get", "--id", version)
    assert pulled.returncode == 0, pulled.stderr
    assert read_tree(Path(pulled.stdout.strip())) == expected


def test_what_a_killed_get_of_symbolic_links_cached_is_accounted_for_next(
    tmp_path: Path, isolation: Path
) -> None:
    """Without a folder of hard links to write into, a pull caches each blob on its own and
    writes their rows once the batch is fetched: a kill before then is swept the same way."""
    version, expected = final_version(tmp_path)
    cache = isolation / "cache"
    killed = {"DELTASET_FAILPOINT": "pull.after_blob"}
    done = run_cli("get", "--id", version, "--soft-links", env=killed)
    assert done.returncode == KILLED, done.stderr
    [orphan] = blob_files(cache)

    assert cache_info()["bytes"] == orphan.stat().st_size == 3000
    assert leftovers(cache) == []
    pulled = run_cli("get", "--id", version, "--soft-links")
    assert pulled.returncode == 0, pulled.stderr
    assert read_tree(Path(pulled.stdout.strip())) == expected
    assert cache_info()["bytes"] == 3000 * (len(expected) - 1)
