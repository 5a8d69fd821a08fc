"""Files that change while deltaset reads them: the stored bytes always match the stored hash.

A file truncated while it is hashed or packed once killed the process with SIGBUS (a memory
map); a file rewritten between the walk and the hash was recorded with its old size. Now a file
is read with read calls, hashed with the size it had while read, and one that keeps changing is
named in one sentence (or skipped, with --ignore-failed-read).
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from deltaset.api.dataset import Dataset
from deltaset.engine import scan
from tests.conftest import make_files, read_tree, run_cli

BIG = 24 << 20  # chunked, and large enough for a read to overlap a truncation


@contextmanager
def truncating(path: Path) -> Iterator[None]:
    """Another writer that shrinks ``path`` to nothing and grows it back, again and again."""
    stop = threading.Event()

    def loop() -> None:
        while not stop.is_set():
            os.truncate(path, 0)
            os.truncate(path, BIG)

    worker = threading.Thread(target=loop, daemon=True)
    worker.start()
    try:
        yield
    finally:
        stop.set()
        worker.join()


def created(name: str) -> str:
    done = run_cli("create", "--project", "p", "--name", name, "--json")
    assert done.returncode == 0, done.stderr
    return str(json.loads(done.stdout)["id"])


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    data = make_files(tmp_path / "data", {"small.txt": "small"})
    (data / "big.bin").write_bytes(os.urandom(BIG))
    return data


def test_a_file_that_keeps_shrinking_while_add_reads_it_is_named_not_a_bus_error(
    folder: Path,
) -> None:
    draft = created("shrinking")
    pause = {"DELTASET_PAUSE": "scan.read:0.2"}  # every read overlaps several truncations
    with truncating(folder / "big.bin"):
        done = run_cli("add", "--id", draft, "--files", str(folder), env=pause)
        skipped = run_cli(
            "add", "--id", draft, "--files", str(folder), "--ignore-failed-read", env=pause
        )
    assert done.returncode == 1, done.stderr  # not -7 (SIGBUS)
    assert done.stderr.splitlines() == [
        f"error: Cannot add {folder / 'big.bin'}: it changed while it was read (3 times); "
        "--ignore-failed-read skips such files."
    ]
    assert skipped.returncode == 0, skipped.stderr
    assert skipped.stderr.splitlines() == [
        f"skipped {folder / 'big.bin'}: it changed while it was read (3 times)."
    ]
    listed = run_cli("list", "--id", draft, "--json")
    assert [f["path"] for f in json.loads(listed.stdout)] == ["small.txt"]


def test_add_and_close_of_a_file_truncated_in_a_loop_never_die_of_a_bus_error(
    folder: Path,
) -> None:
    """Without the pause: the natural race, as found. Each run ends with a sentence or
    succeeds with what it read whole; none is killed by a signal."""
    for attempt in range(3):
        draft = created(f"race-{attempt}")
        with truncating(folder / "big.bin"):
            added = run_cli("add", "--id", draft, "--files", str(folder))
        assert added.returncode in (0, 1), added.stderr
        if added.returncode == 1:
            assert "changed while it was read" in added.stderr
            continue
        with truncating(folder / "big.bin"):
            closed = run_cli("close", "--id", draft)
        assert closed.returncode in (0, 1), closed.stderr
        if closed.returncode == 0:  # it read what the add hashed: the version is whole
            assert run_cli("verify", "--id", draft).returncode == 0


def test_a_file_rewritten_while_close_packs_it_is_refused_and_the_next_close_is_whole(
    folder: Path, tmp_path: Path
) -> None:
    draft = created("rewritten")
    assert run_cli("add", "--id", draft, "--files", str(folder)).returncode == 0
    with truncating(folder / "big.bin"):
        closed = run_cli("close", "--id", draft)
    assert closed.returncode == 1, closed.stderr  # not -7 (SIGBUS)
    assert "changed after it was added" in closed.stderr
    (folder / "big.bin").write_bytes(os.urandom(BIG))
    assert run_cli("add", "--id", draft, "--files", str(folder)).returncode == 0
    closed = run_cli("close", "--id", draft)
    assert closed.returncode == 0, closed.stderr
    assert run_cli("verify", "--id", draft).returncode == 0
    copy = tmp_path / "copy"
    assert run_cli("get", "--id", draft, "--copy", str(copy)).returncode == 0
    assert read_tree(copy) == read_tree(folder)


@pytest.fixture
def between_walk_and_hash(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """Files to rewrite (to twice their length) after the walk saw them, before they are
    hashed: the test appends to it."""
    doomed: list[Path] = []
    hash_files = scan.hash_files

    def late(*args: object, **kwargs: object) -> Iterator[scan.HashedFile]:
        for path in doomed:
            path.write_bytes(path.read_bytes() * 2)
        return hash_files(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(scan, "hash_files", late)
    return doomed


@pytest.mark.parametrize("size", [5, 2 << 20, 6 << 20], ids=["small", "medium", "chunked"])
def test_a_file_rewritten_after_the_walk_is_stored_as_read_and_verifies(
    tmp_path: Path, between_walk_and_hash: list[Path], size: int
) -> None:
    data = make_files(tmp_path / "data", {"a.bin": os.urandom(size), "b.txt": "b"})
    between_walk_and_hash.append(data / "a.bin")
    ds = Dataset.create(dataset_name="n", dataset_project="p")
    ds.add_files(str(data))
    ds.finalize(auto_upload=True)
    ds.verify_storage()
    assert read_tree(Path(ds.get_local_copy())) == read_tree(data)
    assert ds.verify_dataset_hash() == []


def test_a_file_that_vanishes_after_the_walk_is_named_or_skipped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    data = make_files(tmp_path / "data", {"gone.txt": "gone", "kept.txt": "kept"})
    hash_files = scan.hash_files

    def late(*args: object, **kwargs: object) -> Iterator[scan.HashedFile]:
        (data / "gone.txt").unlink(missing_ok=True)
        return hash_files(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(scan, "hash_files", late)
    ds = Dataset.create(dataset_name="n", dataset_project="p")
    with pytest.raises(Exception, match="it vanished while the folder was read") as failed:
        ds.add_files(str(data))
    assert f"Cannot add {data / 'gone.txt'}" in str(failed.value)
    assert "--ignore-failed-read" in str(failed.value)
    assert ds.list_files() == []
    (data / "gone.txt").write_text("gone")
    assert ds.add_files(str(data), ignore_failed_read=True) == 1
    assert ds.list_files() == ["kept.txt"]
    assert f"skipped {data / 'gone.txt'}: it vanished while the folder was read." in caplog.text
