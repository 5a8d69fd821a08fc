"""Adding small files packs them, a hashing group at a time, into the draft's staging store:
the version made is the one made by reading every file again at close, and a kill in the
middle of an add loses nothing."""

from __future__ import annotations

import os
import random
import signal
from pathlib import Path

from deltaset import Dataset
from deltaset.engine.context import default_context
from deltaset.engine.scan import HASH_GROUP, KEEP_BYTES
from deltaset.engine.views import stored_manifest
from deltaset.storage.local import LocalStorage
from tests.conftest import make_files, read_tree, run_cli, verify_stored_packs

COUNT = 5 * HASH_GROUP + 7  # several groups, the last one short


def small_files() -> dict[str, bytes | str]:
    """Many tiny files (some empty, some alike, in several groups), and files whose bytes
    together pass what a group holds before it is packed."""
    pick = random.Random(19)
    files: dict[str, bytes | str] = {
        f"d{at % 9}/f{at:04d}.json": f'{{"id": {at}, "v": "{"x" * pick.randrange(90)}"}}\n'
        for at in range(COUNT)
    }
    files["d0/empty.txt"] = b""
    files["d8/same-as-first.json"] = files["d0/f0000.json"]
    files.update({f"large/part{i}.bin": os.urandom(KEEP_BYTES // 2 + 1) for i in range(3)})
    return files


def add_and_close(data: Path, name: str, *add_args: str, env: dict[str, str] | None = None) -> str:
    made = run_cli("create", "--project", "packing", "--name", name, "--json", env=env)
    assert made.returncode == 0, made.stderr
    added = run_cli("add", "--files", str(data), *add_args, env=env)
    assert added.returncode == 0, added.stderr
    return Dataset.get(dataset_project="packing", dataset_name=name, only_completed=False).id


def test_files_packed_as_added_make_the_version_reading_them_at_close_makes(
    tmp_path: Path, isolation: Path
) -> None:
    files = small_files()
    packed_data = make_files(tmp_path / "packed", files)
    read_data = make_files(tmp_path / "read", files)
    packed = add_and_close(packed_data, "packed")
    for path in packed_data.rglob("*"):  # from now on only the staged packs hold the bytes
        if path.is_file():
            path.write_bytes(b"scribbled over after add")
    assert run_cli("close", "--id", packed).returncode == 0
    read = add_and_close(read_data, "read", "--max-workers", "1", env={"DELTASET_PACK_ON_ADD": "0"})
    assert run_cli("close", "--id", read).returncode == 0

    storage = LocalStorage(isolation / "storage")
    ctx = default_context()
    assert stored_manifest(ctx, storage, packed) == stored_manifest(ctx, storage, read)
    verify_stored_packs(isolation / "storage")  # whole packs, every blob decodes to its id
    for version in (packed, read):
        pulled = run_cli("get", "--id", version)
        assert pulled.returncode == 0, pulled.stderr
        assert read_tree(Path(pulled.stdout.strip())) == read_tree(read_data)


def test_an_add_killed_after_packing_some_files_loses_nothing(
    tmp_path: Path, isolation: Path
) -> None:
    data = make_files(tmp_path / "data", small_files())
    made = run_cli("create", "--project", "packing", "--name", "killed")
    assert made.returncode == 0, made.stderr
    killed = run_cli("add", "--files", str(data), env={"DELTASET_FAILPOINT": "staging.after_keep"})
    assert killed.returncode == -signal.SIGKILL
    draft = Dataset.get(dataset_project="packing", dataset_name="killed", only_completed=False)
    assert draft.list_files() == []  # an add is all or nothing

    assert run_cli("add", "--files", str(data)).returncode == 0
    closed = run_cli("close", "--id", draft.id)
    assert closed.returncode == 0, closed.stderr
    stored = verify_stored_packs(isolation / "storage")
    assert stored.unindexed == set()  # what the killed add packed was never sent
    pulled = run_cli("get", "--id", draft.id)
    assert pulled.returncode == 0, pulled.stderr
    assert read_tree(Path(pulled.stdout.strip())) == read_tree(data)
