"""``deltaset close`` and ``deltaset upload``: storage, pending files, finalizing, memory."""

from __future__ import annotations

import json
from pathlib import Path

from deltaset import config
from tests.backends import Backend
from tests.cli.helpers import DATA, Flow, as_bytes, assert_error, ok, stored_blobs
from tests.conftest import make_files, run_cli


def test_close_uploads_finalizes_and_forgets_the_id(
    backend: Backend, flow: Flow, cli, data: Path, isolation: Path
) -> None:
    version_id = flow.create()
    flow.run("add", "--files", str(data))
    assert stored_blobs(backend.storage) == set()
    result = flow.run("close")
    closed, storage, clearml = result.stdout.splitlines()
    assert clearml == "Dataset closed and finalized"  # ClearML's line, for scripts
    assert closed == (
        f"Closed proj/ds version 1.0.0 (6 files, 6 added, 0 modified, 0 removed): id={version_id}"
    )
    assert storage.startswith("Storage: ")
    assert len(stored_blobs(backend.storage)) == len(DATA)
    [found] = flow.search()
    assert (found["id"], found["state"]) == (version_id, "final")
    assert flow.remembered() is None
    assert_error(cli("close"), "No dataset id given")
    assert flow.pulled("--id", version_id) == as_bytes(DATA)


def test_close_counts_changes_against_the_parents(flow: Flow) -> None:
    parent = flow.version({"a": "1", "b": "2", "c": "3"})
    flow.create("--parents", parent)
    flow.run("add", "--files", str(flow.folder({"a": "changed", "d": "4"})))
    flow.run("remove", "--files", "b")
    result = flow.run("close")
    assert "(3 files, 1 added, 1 modified, 1 removed)" in result.stdout


def test_close_by_id_forgets_as_clearml_does(flow: Flow, data: Path) -> None:
    first = flow.create(name="first")
    flow.run("add", "--files", str(data / "a.jpg"))
    flow.create(name="second")
    flow.run("close", "--id", first)  # remembered as given, then forgotten once closed
    assert flow.remembered() is None
    assert flow.search("--not-only-completed", "--name", "^first$")[0]["state"] == "final"


def test_close_with_storage_sends_the_bytes_there(
    backend: Backend, flow: Flow, data: Path, tmp_path: Path, isolation: Path
) -> None:
    bucket = tmp_path / "bucket"
    version_id = flow.create()
    flow.run("add", "--files", str(data))
    flow.run("close", "--storage", str(bucket))
    assert len(stored_blobs(bucket)) == len(DATA)
    assert stored_blobs(backend.storage) == set()
    assert flow.pulled("--id", version_id) == as_bytes(DATA)


def test_close_with_transfer_flags_stores_every_file(
    backend: Backend, flow: Flow, data: Path, isolation: Path
) -> None:
    version_id = flow.create()
    flow.run("add", "--files", str(data))
    flow.run("close", "--max-workers", "1", "--chunk-size", "1")
    assert len(stored_blobs(backend.storage)) == len(DATA)
    assert flow.pulled("--id", version_id) == as_bytes(DATA)


def test_disable_upload_refuses_pending_files_until_they_are_uploaded(
    flow: Flow, cli, data: Path
) -> None:
    version_id = flow.create()
    flow.run("add", "--files", str(data))
    assert_error(cli("close", "--disable-upload"), "6 files", "not uploaded")
    assert flow.search("--not-only-completed")[0]["state"] == "draft"
    assert flow.remembered() == version_id
    uploaded = flow.run("upload")
    assert f"Uploaded {version_id} to " in uploaded.stdout
    closed = flow.run("close", "--disable-upload")
    assert f"id={version_id}" in closed.stdout
    assert flow.pulled("--id", version_id) == as_bytes(DATA)


def test_disable_upload_with_storage_is_a_contradiction(flow: Flow, cli, tmp_path: Path) -> None:
    flow.create()
    assert_error(
        cli("close", "--disable-upload", "--storage", str(tmp_path / "x")), "--disable-upload"
    )
    assert flow.search("--not-only-completed")[0]["state"] == "draft"


def test_upload_with_storage_moves_the_draft_there(
    backend: Backend, flow: Flow, data: Path, tmp_path: Path, isolation: Path
) -> None:
    bucket = tmp_path / "bucket"
    version_id = flow.create()
    flow.run("add", "--files", str(data))
    result = flow.run("upload", "--id", version_id, "--storage", str(bucket))
    assert result.stdout.splitlines() == [
        f"Uploaded {version_id} to {bucket.resolve().as_uri()}",
        "Dataset upload completed",
    ]
    assert len(stored_blobs(bucket)) == len(DATA)
    flow.run("close", "--disable-upload")
    assert stored_blobs(backend.storage) == set()
    assert flow.pulled("--id", version_id) == as_bytes(DATA)


def test_upload_twice_sends_nothing_new(
    backend: Backend, flow: Flow, data: Path, isolation: Path
) -> None:
    flow.create()
    flow.run("add", "--files", str(data))
    flow.run("upload")
    storage = backend.storage

    def stored_objects() -> dict[Path, int]:
        folders = [storage / "packs", storage / "index"]
        return {p: p.stat().st_mtime_ns for f in folders for p in f.rglob("*") if p.is_file()}

    before = stored_objects()
    assert sorted(p.suffix for p in before) == [".idx", ".pack"]  # one pack, one index naming it
    flow.run("upload")
    assert stored_objects() == before
    assert len(stored_blobs(storage)) == len(DATA)


def test_verbose_upload_and_close_report_what_they_send(data: Path, tmp_path: Path) -> None:
    assert run_cli("create", "--project", "proj", "--name", "ds").returncode == 0
    assert run_cli("add", "--files", str(data)).returncode == 0
    quiet = run_cli("upload", "--max-workers", "2", "--chunk-size", "1")
    assert quiet.returncode == 0, quiet.stderr
    assert quiet.stderr == ""
    later = make_files(tmp_path / "later", {"late.txt": "late"})
    assert run_cli("add", "--files", str(later)).returncode == 0
    closed = run_cli("close", "--verbose")
    assert closed.returncode == 0, closed.stderr
    assert "uploaded 1 files to " in closed.stderr  # only what was still pending
    assert "Closed proj/ds version 1.0.0 (7 files, 7 added" in closed.stdout


def test_verbose_upload_names_the_storage(data: Path, tmp_path: Path) -> None:
    bucket = tmp_path / "bucket"
    assert run_cli("create", "--project", "proj", "--name", "ds").returncode == 0
    assert run_cli("add", "--files", str(data)).returncode == 0
    uploaded = run_cli("upload", "--storage", str(bucket), "--verbose")
    assert uploaded.returncode == 0, uploaded.stderr
    assert uploaded.stderr.strip() == f"uploaded 6 files to {bucket.resolve().as_uri()}"
    assert len(stored_blobs(bucket)) == len(DATA)


def test_quiet_close_prints_nothing(flow: Flow, cli, data: Path) -> None:
    flow.create()
    flow.run("add", "--files", str(data))
    result = ok(cli("close", "--quiet"))
    assert result.stdout == ""
    assert flow.search()[0]["state"] == "final"


def test_close_run_again_after_a_kill_once_final_says_it_is_done(flow: Flow, data: Path) -> None:
    """A close killed once the version was final, before it forgot the remembered id: the
    natural next step, running it again, succeeds and says so (an explicit --id still refuses)."""
    version_id = flow.create()
    flow.run("add", "--files", str(data))
    flow.run("close")
    state = config.load().cli_state_path
    state.write_text(json.dumps({"id": version_id}))  # where the kill left it
    again = flow.run("close")
    assert again.stdout.strip() == f"Dataset version {version_id} is already closed; nothing to do."
    assert flow.remembered() is None
    assert_error(flow.cli("close", "--id", version_id), "final")
