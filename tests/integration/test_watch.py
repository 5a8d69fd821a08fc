"""``deltaset watch``: a sync of a watched folder looks only at what changed, and walks the whole
folder whenever the watcher could have missed a change.

Whether a sync walked is proven, not timed: ``DELTASET_FAILPOINT=scan.walk`` kills a process
that starts walking a folder, so a sync run with it either finishes without a walk or dies."""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from deltaset import Dataset
from deltaset.cache.folders import FolderStates
from deltaset.cache.journal import Journal
from tests.conftest import make_files, read_tree, run_cli

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="inotify, /proc")

NO_WALK = {"DELTASET_FAILPOINT": "scan.walk"}
FILES = {"a/one.txt": "1", "a/two.txt": "2", "b/three.txt": "3", "top.txt": "top"}


class Watcher:
    """A ``deltaset watch`` process over ``folder``, ready once it said so."""

    def __init__(self, folder: Path) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "deltaset", "watch", "--folder", str(folder)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        assert self.process.stdout is not None
        ready, _, _ = select.select([self.process.stdout], [], [], 60)
        assert ready, "the watcher never said it was ready"
        line = self.process.stdout.readline()
        assert line.startswith(b"Watching"), line + self.process.stderr.read()  # type: ignore[union-attr]

    def stop(self) -> int:
        """Stop it as Ctrl-C or a service manager would; its exit code."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        _, self.stderr = self.process.communicate(timeout=30)
        return self.process.returncode


@pytest.fixture
def data(tmp_path: Path) -> Path:
    return make_files(tmp_path / "data", FILES)


@pytest.fixture
def watcher(data: Path) -> Iterator[Watcher]:
    started = Watcher(data)
    yield started
    started.stop()


def sync(folder: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return run_cli("sync", "--folder", str(folder), "--project", "p", "--name", "n", env=env)


def synced(folder: Path) -> str:
    done = sync(folder)
    assert done.returncode == 0, done.stderr
    return done.stdout


def walked(folder: Path) -> bool:
    """Whether a sync of ``folder`` walks it (it dies there), or ran without a walk."""
    done = sync(folder, NO_WALK)
    assert done.returncode in (0, -signal.SIGKILL), done.stderr
    return done.returncode != 0


def newest(tmp_path: Path) -> dict[str, bytes]:
    found = Dataset.get(dataset_project="p", dataset_name="n")
    return read_tree(Path(found.get_mutable_local_copy(str(tmp_path / "pulled"), overwrite=True)))


def edit(folder: Path) -> None:
    (folder / "a" / "one.txt").write_text("one, edited")
    (folder / "a" / "one.txt").rename(folder / "a" / "moved.txt")
    (folder / "b" / "three.txt").unlink()
    make_files(folder / "c" / "d", {"new.txt": "new", "deeper/x.txt": "x"})


def test_a_watched_sync_sees_every_change_without_walking(
    tmp_path: Path, data: Path, watcher: Watcher
) -> None:
    assert walked(data)  # the first sync under a watcher walks, to fix where it starts
    synced(data)
    edit(data)
    assert not walked(data)
    assert newest(tmp_path) == read_tree(data)
    assert not walked(data)  # nothing changed since: nothing to do, still no walk
    assert "0 added, 0 modified, 0 removed" in synced(data)


def test_an_add_of_a_watched_folder_uses_the_journal_and_keeps_the_state(
    tmp_path: Path, data: Path, watcher: Watcher
) -> None:
    synced(data)
    synced(data)  # fixes the journal position
    parent = Dataset.get(dataset_project="p", dataset_name="n").id
    assert run_cli("create", "--project", "p", "--name", "n", "--parents", parent).returncode == 0
    added = run_cli("add", "--files", str(data), env=NO_WALK)
    assert added.returncode == 0, added.stderr
    assert run_cli("close").returncode == 0
    edit(data)
    assert not walked(data)
    assert newest(tmp_path) == read_tree(data)


def test_many_changed_paths_are_seen_without_walking(
    tmp_path: Path, data: Path, watcher: Watcher
) -> None:
    synced(data)
    make_files(data / "many", {f"{i}/f.txt": str(i) for i in range(70)})  # past 64 paths
    (data / "a" / "two.txt").write_text("two, edited")
    assert not walked(data)
    assert newest(tmp_path) == read_tree(data)


def test_a_folder_replaced_by_a_file_and_a_file_by_a_folder_are_seen(
    tmp_path: Path, data: Path, watcher: Watcher
) -> None:
    synced(data)
    for name in ("a/one.txt", "a/two.txt"):
        (data / name).unlink()
    (data / "a").rmdir()
    (data / "a").write_text("now a file")
    (data / "top.txt").unlink()
    make_files(data / "top.txt", {"inside.txt": "in"})
    assert not walked(data)
    assert newest(tmp_path) == read_tree(data)


def test_a_watcher_killed_makes_the_next_sync_walk_and_see_every_change(
    tmp_path: Path, data: Path, watcher: Watcher
) -> None:
    synced(data)
    watcher.process.kill()
    watcher.stop()
    edit(data)
    assert walked(data)
    synced(data)
    assert newest(tmp_path) == read_tree(data)


def test_edits_made_before_the_watcher_started_are_seen(tmp_path: Path, data: Path) -> None:
    synced(data)  # a state of no watcher's session
    edit(data)
    watcher = Watcher(data)
    try:
        assert walked(data)
        synced(data)
        assert newest(tmp_path) == read_tree(data)
        (data / "top.txt").write_text("top, edited")
        assert not walked(data)
        assert newest(tmp_path) == read_tree(data)
    finally:
        watcher.stop()


def test_an_overflow_reported_by_the_rust_watcher_makes_the_next_sync_walk(
    tmp_path: Path, data: Path, watcher: Watcher, isolation: Path
) -> None:
    synced(data)
    journal = Journal(isolation / "folders", FolderStates(isolation / "folders").name(str(data)))
    before = journal.read()
    assert before is not None
    edit(data)
    # What notify's inotify backend reports when the kernel's queue overflowed, as watchfiles
    # prints it in debug mode (it passes nothing else on), written where the watcher reads it
    # (again if it lands in a file the watcher swapped out as it was opened).
    report = b"raw-event=Event { kind: Other, paths: [], flag: Some(Rescan) } no paths found\n"
    deadline = time.monotonic() + 30
    while (now := journal.read()) is None or now.header.session == before.header.session:
        assert time.monotonic() < deadline, "the watcher never started a new session"
        with open(f"/proc/{watcher.process.pid}/fd/2", "ab") as stderr:
            stderr.write(report)
        time.sleep(0.3)
    assert walked(data)
    synced(data)
    assert newest(tmp_path) == read_tree(data)


def test_one_watcher_per_folder_and_sigterm_stops_it(
    data: Path, watcher: Watcher, isolation: Path
) -> None:
    second = run_cli("watch", "--folder", str(data), timeout=60)
    assert second.returncode != 0
    assert f"error: Another deltaset watch already watches {data}." in second.stderr
    assert watcher.stop() == 0
    assert list((isolation / "folders").glob("*.journal")) == []
    synced(data)
    assert walked(data)  # no watcher: the folder is walked


def test_watching_a_missing_folder_is_one_clear_error(tmp_path: Path) -> None:
    done = run_cli("watch", "--folder", str(tmp_path / "missing"), timeout=60)
    assert done.returncode != 0
    assert "error:" in done.stderr
    assert "is not a folder" in done.stderr
    assert "Traceback" not in done.stderr
