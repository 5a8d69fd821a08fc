"""A full home disk with the catalog on a server: what the home holds is only an optimisation
(the hash cache) or a convenience (the remembered id), so add and close carry on without it."""

from __future__ import annotations

import json
import os
from pathlib import Path

from tests.conftest import make_files, read_tree, run_cli
from tests.server.inprocess import served
from tests.tmpfs import Mount, fill


def test_add_and_close_carry_on_without_the_hash_cache_on_a_full_home(
    tmp_path: Path,
    tmpfs: Mount,
) -> None:
    files = {f"f{i}.txt": str(i) * 1000 for i in range(500)}
    source = make_files(tmp_path / "source", files)
    for path in source.iterdir():  # settled files: the hash cache is asked to remember them
        os.utime(path, (1_600_000_000, 1_600_000_000))
    home = tmpfs("home", "1m")
    with served(tmp_path / "server") as (url, _):
        cache = str(tmp_path / "cache")  # the pulled files have a disk of their own
        env = {"DELTASET_HOME": str(home), "DELTASET_API_URL": url, "DELTASET_CACHE_DIR": cache}
        created = run_cli("create", "--project", "p", "--name", "n", "--json", env=env)
        assert created.returncode == 0, created.stderr
        version = json.loads(created.stdout)["id"]
        first = make_files(tmp_path / "first", {"first.txt": "known to the hash cache"})
        assert run_cli("add", "--id", version, "--files", str(first), env=env).returncode == 0
        assert (home / "hashes.db").exists()
        fill(home)

        added = run_cli("add", "--id", version, "--files", str(source), env=env)
        assert added.returncode == 0, added.stderr
        warnings = [line for line in added.stderr.splitlines() if "hash cache" in line]
        assert warnings == [
            f"carrying on without the hash cache {home / 'hashes.db'} "
            "(database or disk is full): files are hashed again"
        ], added.stderr
        closed = run_cli("close", "--id", version, env=env)
        assert closed.returncode == 0, closed.stderr

        (home / "filler").unlink()
        pulled = run_cli("get", "--id", version, env=env)
        assert pulled.returncode == 0, pulled.stderr
        expected = {
            k: v.encode() for k, v in {**files, "first.txt": "known to the hash cache"}.items()
        }
        assert read_tree(Path(pulled.stdout.strip())) == expected
