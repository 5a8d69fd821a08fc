"""Two machines (two catalogs) sharing one storage: a delete on one never frees what a close on
the other relies on, inherited files included, and every wait for a lease says what it waits for.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from deltaset import Dataset
from deltaset.engine import leases
from deltaset.engine.context import default_context
from deltaset.errors import StateError
from deltaset.storage import open_storage
from tests.conftest import make_files, read_tree, run_cli

INHERITED = {f"old/f{i:03d}.bin": os.urandom(200) for i in range(100)}
OWN = {f"new/g{i:02d}.bin": os.urandom(200) for i in range(10)}


class Machine:
    """Another machine: its own home (catalog), the same storage."""

    def __init__(self, home: Path, storage: str) -> None:
        self.env = {"DELTASET_HOME": str(home), "DELTASET_STORAGE": storage}

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        return run_cli(*args, env=self.env)

    def ok(self, *args: str) -> str:
        done = self.run(*args)
        assert done.returncode == 0, done.stderr
        return done.stdout

    def popen(self, *args: str, pause: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [sys.executable, "-m", "deltaset", *args],
            env={**os.environ, **self.env, "DELTASET_PAUSE": pause},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )


def parent_and_child_draft(tmp_path: Path) -> tuple[Dataset, Machine, str, Path]:
    """A final parent of 100 files made here; on another machine, a draft child adding 10."""
    parent = Dataset.create(dataset_name="n", dataset_project="p")
    parent.add_files(str(make_files(tmp_path / "old", INHERITED)))
    parent.finalize(auto_upload=True)
    storage = default_context().storage_url(None)
    other = Machine(tmp_path / "other-machine", storage)
    other.ok("rebuild-catalog")
    draft = json.loads(other.ok("create", "--name", "n", "--parents", parent.id, "--json"))
    child_id = draft["id"] if isinstance(draft, dict) else draft
    other.ok("add", "--id", child_id, "--files", str(make_files(tmp_path / "new", OWN)))
    return parent, other, child_id, Path(storage.removeprefix("file://"))


def test_a_close_refuses_once_a_parent_was_deleted_elsewhere(tmp_path: Path) -> None:
    parent, other, child_id, _ = parent_and_child_draft(tmp_path)
    # This machine does not know the other's draft: nothing stops the delete of its parent.
    deleted = run_cli("delete", "--id", parent.id)
    assert deleted.returncode == 0, deleted.stderr
    refused = other.run("close", "--id", child_id)
    assert refused.returncode == 1, refused.stdout
    assert refused.stderr.strip() == (
        f"error: The parent {parent.id} of dataset version {child_id} was deleted from its "
        "storage; this draft can no longer be closed (delete it, or create a new version)."
    )
    listed = json.loads(other.ok("search", "--not-only-completed", "--json"))
    assert {d["id"]: d["state"] for d in listed}[child_id] == "draft"


def test_a_delete_refuses_while_a_child_closes_on_another_machine(tmp_path: Path) -> None:
    parent, other, child_id, storage = parent_and_child_draft(tmp_path)
    closing = other.popen("close", "--id", child_id, pause="finalize.after_check:120")
    while not list((storage / "locks").glob("close-*.json")) and closing.poll() is None:
        time.sleep(0.05)  # until the close holds its lease and has checked the storage
    for force in ((), ("--force",)):
        refused = run_cli("delete", "--id", parent.id, *force)
        assert refused.returncode == 1, refused.stderr
        assert refused.stderr.startswith(
            f"error: The dataset version {parent.id} is a parent of a version being closed into "
        ), refused.stderr
    closing.send_signal(signal.SIGKILL)
    closing.communicate()
    other.ok("close", "--id", child_id)  # resumes, the parent intact
    assert other.ok("verify", "--id", child_id)
    fresh = Machine(tmp_path / "third-machine", other.env["DELTASET_STORAGE"])
    fresh.ok("rebuild-catalog")
    pulled = fresh.ok("get", "--id", child_id).strip()
    assert read_tree(Path(pulled)) == {**INHERITED, **OWN}


def killed_gc(tmp_path: Path) -> Path:
    """The lease a gc killed while it deletes left in the default storage."""
    doomed = Dataset.create(dataset_name="gone", dataset_project="p")
    doomed.add_files(str(make_files(tmp_path / "gone", {"g.bin": os.urandom(1_000)})))
    doomed.finalize(auto_upload=True)
    Dataset.delete(dataset_id=doomed.id, delete_files=False)
    killed = run_cli("gc", "--delete", env={"DELTASET_FAILPOINT": "gc.before_delete"})
    assert killed.returncode == -9
    root = Path(default_context().storage_url(None).removeprefix("file://"))
    (lease,) = (root / "locks").iterdir()
    return lease


def closed_draft(tmp_path: Path) -> subprocess.CompletedProcess[str]:
    draft = Dataset.create(dataset_name="d", dataset_project="p")
    draft.add_files(str(make_files(tmp_path / "d", {"a.txt": "a"})))
    done = run_cli("close", "--id", draft.id)
    assert done.returncode == 0, done.stderr
    return done


def test_a_close_says_which_gc_lease_it_waits_for_and_for_how_long(tmp_path: Path) -> None:
    lease = killed_gc(tmp_path)
    with subprocess.Popen(["sleep", "60"]) as holder:  # a gc still running on this machine
        try:
            body = {**json.loads(lease.read_text()), "pid": holder.pid}
            lease.write_text(json.dumps(body))
            left = time.time() - leases.TTL_S + 3  # its last renewal: stops counting in 3 s
            os.utime(lease, (left, left))
            done = closed_draft(tmp_path)
        finally:
            holder.kill()
    root = lease.parent.parent
    assert done.stderr.splitlines()[0] == (
        f"waiting at most 15 minutes for the gc lease locks/{lease.name} in {root.as_uri()} to "
        f"end (gc, held by process {holder.pid} on {body['host']} since {body['since']})"
    )


def test_the_lease_of_a_process_dead_on_this_machine_is_released_at_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    lease = killed_gc(tmp_path)
    body = json.loads(lease.read_text())
    monkeypatch.setattr(leases, "WAIT_FOR_GC_S", 0.3)  # were it waited for: a StateError
    monkeypatch.setattr(leases, "POLL_S", 0.1)
    draft = Dataset.create(dataset_name="d", dataset_project="p")
    with caplog.at_level(logging.WARNING, logger="deltaset"):
        draft.finalize(auto_upload=True)
    assert draft.is_final()
    assert [m for m in caplog.messages if "lease" in m] == [
        f"released the lease locks/{lease.name} in {lease.parent.parent.as_uri()}: its holder, "
        f"process {body['pid']} on this machine, is no longer running"
    ]
    assert not lease.exists()


@pytest.mark.parametrize("elsewhere", ["host", "machine"])
def test_a_lease_held_on_another_machine_is_not_released_by_a_process_id(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, elsewhere: str
) -> None:
    lease = killed_gc(tmp_path)
    body = json.loads(lease.read_text())
    # Another machine, or a container sharing this one's host name: its process ids are not ours.
    body[elsewhere] = "other"
    lease.write_text(json.dumps(body))
    monkeypatch.setattr(leases, "WAIT_FOR_GC_S", 0.3)
    monkeypatch.setattr(leases, "POLL_S", 0.1)
    with pytest.raises(StateError, match="A garbage collection or a delete is running"):
        Dataset.create(dataset_name="d", dataset_project="p").finalize(auto_upload=True)
    assert lease.exists()


def test_a_planted_lease_does_not_count_and_is_reported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    draft = Dataset.create(dataset_name="d", dataset_project="p")
    draft.add_files(str(make_files(tmp_path / "d", {"a.txt": "a"})))
    storage = open_storage(draft.get_default_storage())
    storage.put_bytes("locks/gc-evil.json", b"{}")
    storage.put_bytes("locks/gc-junk.json", b"\xff not json")
    monkeypatch.setattr(leases, "WAIT_FOR_GC_S", 0.3)  # were they counted: a StateError
    monkeypatch.setattr(leases, "POLL_S", 0.1)
    with caplog.at_level(logging.WARNING, logger="deltaset"):
        draft.finalize(auto_upload=True)
    assert draft.is_final()
    ignored = f"in {storage.url}: it is not a lease deltaset writes (delete it)"
    assert f"ignored locks/gc-evil.json {ignored}" in caplog.messages
    assert f"ignored locks/gc-junk.json {ignored}" in caplog.messages
