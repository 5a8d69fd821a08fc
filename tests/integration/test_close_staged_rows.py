"""A close drops the draft's staged rows once the version is final, without noting them
uploaded first: a close killed after its upload leaves a draft that still says its files wait,
and the next close finds them held and finishes without sending them again."""

from __future__ import annotations

import signal
from pathlib import Path

from deltaset import Dataset
from deltaset.engine.context import default_context
from deltaset.engine.views import stored_manifest
from deltaset.storage.local import LocalStorage
from tests.conftest import make_files, read_tree, run_cli

FILES = {f"d{i % 3}/f{i:03d}.txt": f"file {i}\n" * (i % 5) for i in range(40)}


def packs(storage: Path) -> set[Path]:
    return set((storage / "packs").rglob("*.pack"))


def test_close_killed_after_its_upload_leaves_a_dirty_draft_that_closes_whole(
    tmp_path: Path, isolation: Path
) -> None:
    data = make_files(tmp_path / "data", FILES)
    ds = Dataset.create(dataset_name="rows", dataset_project="p")
    ds.add_files(str(data))
    storage = isolation / "storage"

    killed = run_cli("close", "--id", ds.id, env={"DELTASET_FAILPOINT": "finalize.after_check"})
    assert killed.returncode == -signal.SIGKILL
    sent = packs(storage)
    assert sent  # the upload ran: storage holds the files
    again = Dataset.get(dataset_id=ds.id)
    assert not again.is_final()
    assert again.is_dirty()  # not marked uploaded: the close never got to drop the rows

    closed = run_cli("close", "--id", ds.id)
    assert closed.returncode == 0, closed.stderr
    assert packs(storage) == sent  # found held, not sent again
    final = Dataset.get(dataset_id=ds.id)
    assert final.is_final()
    assert not final.is_dirty()
    manifest = stored_manifest(default_context(), LocalStorage(storage), ds.id)
    assert set(manifest) == set(FILES)
    target = tmp_path / "pulled"
    assert run_cli("get", "--id", ds.id, "--copy", str(target)).returncode == 0
    assert read_tree(target) == read_tree(data)


def test_upload_alone_still_notes_the_files_uploaded(tmp_path: Path, isolation: Path) -> None:
    ds = Dataset.create(dataset_name="up", dataset_project="p")
    ds.add_files(str(make_files(tmp_path / "data", FILES)))
    assert ds.is_dirty()
    ds.upload()
    assert not ds.is_dirty()
