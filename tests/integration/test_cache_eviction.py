"""The cache keeps to its byte limit, least recently used first, never under a reader."""

from __future__ import annotations

import json
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
        cache = Path(os.environ["DELTASET_HOME"]) / "cache"
        # Blobs under blobs/ and in the folders that are their homes: each file once.
        files = [p for d in ("blobs", "trees") for p in (cache / d).rglob("*") if p.is_file()]
        used = sum({p.stat().st_ino: p.stat().st_size for p in files}.values())
        assert used <= 50 * 1024
        assert used >= 20_000  # the last version is still there
    finally:
        del os.environ["DELTASET_CACHE_LIMIT"]


def _cache_info() -> dict[str, object]:
    done = run_cli("cache", "info", "--json")
    assert done.returncode == 0, done.stderr
    found: dict[str, object] = json.loads(done.stdout)
    return found


def test_cache_info_purge_and_limit_from_the_cli(tmp_path: Path) -> None:
    v1, v2, v3 = versions(tmp_path, 3)
    for version_id in (v1, v2, v3):
        pull(version_id)
    info = _cache_info()
    assert info["bytes"] == 60_000
    assert info["files"] == 6
    assert info["limit"] is None
    assert [v["version"] for v in info["versions"]] == [v3, v2, v1]  # type: ignore[attr-defined]
    assert info["versions"][0]["dataset"] == "p/n2 1.0.0"  # type: ignore[index]
    limited = run_cli("cache", "--limit", "25KB")
    assert limited.returncode == 0, limited.stderr
    assert "freed 39.1 KiB" in limited.stdout
    info = _cache_info()
    assert info["limit"] == 25 * 1024
    assert [v["version"] for v in info["versions"]] == [v3]  # type: ignore[index]
    shown = json.loads(run_cli("config", "show", "--json").stdout)
    assert shown["cache-limit"]["value"] == 25 * 1024  # kept for the next pulls
    pull(v1)  # over the limit again: the older v3 goes
    assert [v["version"] for v in _cache_info()["versions"]] == [v1]  # type: ignore[attr-defined]
    assert run_cli("cache", "--limit", "0").returncode == 0
    assert _cache_info()["limit"] is None
    bad = run_cli("cache", "--limit", "lots")
    assert bad.returncode == 1
    assert bad.stderr.strip() == "error: The size 'lots' is not a size such as 512MB or 20GB."


def test_purge_keeps_what_a_running_process_reads(tmp_path: Path) -> None:
    v1, v2 = versions(tmp_path, 2)
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, v1],
        text=True,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    assert holder.stdout is not None
    try:
        held = Path(holder.stdout.readline().strip())
        pull(v2)
        purged = run_cli("cache", "purge", "--json")
        assert purged.returncode == 0, purged.stderr
        assert json.loads(purged.stdout) == {"freed": 20_000, "bytes": 20_000, "files": 2}
        assert sorted(p.name for p in held.iterdir()) == ["file0.bin", "file1.bin"]
        assert [v["version"] for v in _cache_info()["versions"]] == [v1]  # type: ignore[attr-defined]
    finally:
        holder.communicate("", timeout=30)
    assert json.loads(run_cli("cache", "purge", "--json").stdout)["bytes"] == 0
    assert _cache_info()["files"] == 0


def test_purge_removes_what_the_index_never_recorded(tmp_path: Path) -> None:
    """Files written when the index could not name them (a full disk, a kill) are freed too."""
    (v1,) = versions(tmp_path, 1)
    cache = pull(v1).parent.parent
    stray = cache / "blobs" / "ab" / ("ab" * 32)
    stray.parent.mkdir(exist_ok=True)
    stray.write_bytes(b"x" * 5000)
    make_files(cache / "trees" / "unrecorded", {"f.bin": b"y" * 100})
    purged = run_cli("cache", "purge", "--json")
    assert purged.returncode == 0, purged.stderr
    assert json.loads(purged.stdout) == {"freed": 25_000, "bytes": 0, "files": 0}
    assert not stray.exists()
    assert list((cache / "trees").iterdir()) == []


def test_cache_shows_and_purges_storage_manager_downloads(tmp_path: Path) -> None:
    from tests.api import web

    with web.served(tmp_path / "www") as site:
        (site.folder / "data.csv").write_bytes(b"x,y\n" * 1000)
        script = "import sys; from deltaset import StorageManager as S; "
        script += "print(S.get_local_copy(sys.argv[1]))"
        url = f"{site.url}/data.csv"
        fetched = subprocess.run(
            [sys.executable, "-c", script, url], capture_output=True, text=True
        )
    local = Path(fetched.stdout.strip())
    assert local.read_bytes() == b"x,y\n" * 1000, fetched.stderr
    assert _cache_info()["downloads"] == {"bytes": 4000, "files": 1}
    assert "downloads     1 files, " in run_cli("cache").stdout
    purged = run_cli("cache", "purge", "--json")
    assert json.loads(purged.stdout) == {"freed": 4000, "bytes": 0, "files": 0}
    assert _cache_info()["downloads"] == {"bytes": 0, "files": 0}
    assert not local.exists()
