"""The cache keeps to its byte limit, least recently used first, never under a reader."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from deltaset import Dataset
from tests.conftest import make_files, run_cli

HOLDER = """
import sys
from deltaset import Dataset
print(Dataset.get(dataset_id=sys.argv[1]).get_local_copy(), flush=True)
sys.stdin.readline()
"""


def versions(tmp_path: Path, count: int) -> list[str]:
    ids = []
    for i in range(count):
        folder = make_files(
            tmp_path / f"v{i}", {f"file{j}.bin": os.urandom(10_000) for j in range(2)}
        )
        ds = Dataset.create(dataset_name=f"n{i}", dataset_project="p")
        ds.add_files(str(folder))
        ds.finalize(auto_upload=True)
        ids.append(ds.id)
    return ids


def pull(version_id: str) -> Path:
    done = run_cli("get", "--id", version_id)
    assert done.returncode == 0, done.stderr
    return Path(done.stdout.strip().splitlines()[-1])


def test_lru_eviction_by_bytes_skips_folders_in_use(tmp_path: Path) -> None:
    v1, v2, v3, v4 = versions(tmp_path, 4)
    env = {**os.environ, "DELTASET_CACHE_LIMIT": "45KB"}
    os.environ["DELTASET_CACHE_LIMIT"] = "45KB"
    try:
        holder = subprocess.Popen(
            [sys.executable, "-c", HOLDER, v1],
            env=env,
            text=True,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )
        assert holder.stdout is not None
        held = Path(holder.stdout.readline().strip())
        second = pull(v2)
        third = pull(v3)  # over the limit: v1 is older but in use, so v2 goes
        assert held.is_dir()
        assert len(list(held.iterdir())) == 2
        assert not second.exists()
        assert third.is_dir()
        holder.communicate("", timeout=30)
        assert holder.returncode == 0
        pull(v4)  # v1 is free now and the least recently used
        assert not held.exists()
        assert third.is_dir()
        # an evicted version comes back intact on the next pull
        again = pull(v2)
        assert sorted(p.name for p in again.iterdir()) == ["file0.bin", "file1.bin"]
    finally:
        del os.environ["DELTASET_CACHE_LIMIT"]


def test_cache_usage_stays_under_limit(tmp_path: Path) -> None:
    ids = versions(tmp_path, 5)
    os.environ["DELTASET_CACHE_LIMIT"] = "50KB"
    try:
        for version_id in ids:
            pull(version_id)
        cache = Path(os.environ["DELTASET_HOME"]) / "cache" / "blobs"
        used = sum(p.stat().st_size for p in cache.rglob("*") if p.is_file())
        assert used <= 50 * 1024
        assert used >= 20_000  # the last version is still there
    finally:
        del os.environ["DELTASET_CACHE_LIMIT"]
