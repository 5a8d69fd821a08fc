"""Uses: every process that reads a version leaves one record of it in the catalog."""

from __future__ import annotations

import logging
import shlex
import socket
import sqlite3
import subprocess
import sys
from pathlib import Path

import fsspec
import pytest

import deltaset
from deltaset import Dataset, config
from deltaset.catalog.base import Use
from deltaset.engine import uses as uses_module
from deltaset.engine.context import default_context
from deltaset.engine.uses import GitState, git_state
from deltaset.errors import InvalidInputError
from tests.backends import EMBEDDED_ONLY
from tests.conftest import forget_context, make_files


def final_version(tmp_path: Path, name: str = "pets") -> Dataset:
    folder = make_files(tmp_path / f"src-{name}", {"a.txt": "alpha", "b/c.txt": "gamma"})
    ds = Dataset.create(dataset_name=name, dataset_project="vision")
    ds.add_files(str(folder))
    ds.finalize(auto_upload=True)
    forget_context()  # the reads below are another process's
    return ds


def uses_of(version_id: str) -> list[Use]:
    return default_context().catalog.uses(version_id)


def test_a_read_records_one_use_with_its_alias_and_origin(tmp_path: Path) -> None:
    ds = final_version(tmp_path)
    got = Dataset.get(dataset_id=ds.id, alias="train-data")
    got.get_local_copy()
    got.get_local_copy()
    with got.open("a.txt") as file:
        assert file.read() == b"alpha"
    [use] = uses_of(ds.id)
    assert (use.version_id, use.alias, use.run_kind) == (ds.id, "train-data", "")
    assert use.host == socket.gethostname()
    assert use.command == shlex.join(sys.orig_argv)  # this process's command line
    head = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True).stdout
    assert use.git_commit == head.strip()  # the tests run in the project's repository
    assert use.git_dirty is not None


def test_every_kind_of_read_records_a_use_named_after_the_dataset(tmp_path: Path) -> None:
    ds = final_version(tmp_path)
    reads = [
        lambda: Dataset.get(dataset_project="vision", dataset_name="pets").get_local_copy(),
        lambda: Dataset.get(dataset_id=ds.id).get_mutable_local_copy(str(tmp_path / "copy")),
        lambda: Dataset.get(dataset_id=ds.id).open("a.txt").close(),
        lambda: fsspec.filesystem("deltaset").cat_file(f"deltaset://id={ds.id}/b/c.txt"),
    ]
    for number, read in enumerate(reads, start=1):
        read()
        found = uses_of(ds.id)
        assert [u.alias for u in found] == ["pets"] * number
        forget_context()  # one use per process: the next read is a new one's


def test_a_run_is_recorded_with_the_use(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ds = final_version(tmp_path)
    with deltaset.run("resnet-lr0.1"):
        Dataset.get(dataset_id=ds.id).get_local_copy()
    Dataset.get(dataset_id=ds.id).get_local_copy()  # outside the run: a use of its own
    monkeypatch.setenv("DELTASET_RUN", "nightly")
    Dataset.get(dataset_id=ds.id).get_local_copy()
    found = uses_of(ds.id)
    assert [(u.run_kind, u.run_name) for u in found] == [
        ("deltaset", "resnet-lr0.1"),
        ("", ""),
        ("deltaset", "nightly"),
    ]
    assert [u.version_id for u in default_context().catalog.uses(run="nightly")] == [ds.id]


def test_a_run_needs_a_name() -> None:
    with pytest.raises(InvalidInputError, match="needs a name"), deltaset.run(" "):
        pass


def test_the_setting_turns_recording_off(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ds = final_version(tmp_path)
    monkeypatch.setenv(config.RECORD_USES_ENV, "off")
    Dataset.get(dataset_id=ds.id).get_local_copy()
    monkeypatch.delenv(config.RECORD_USES_ENV)
    assert uses_of(ds.id) == []


@EMBEDDED_ONLY
def test_a_use_that_cannot_be_recorded_warns_once_and_the_read_goes_on(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    ds = final_version(tmp_path)
    first, second = ds.id, final_version(tmp_path, "other").id
    with sqlite3.connect(config.load().catalog_path) as db:
        db.execute("DROP TABLE uses")
    with caplog.at_level(logging.WARNING, logger="deltaset"):
        for version_id in (first, second):
            folder = Path(Dataset.get(dataset_id=version_id).get_local_copy())
            assert (folder / "a.txt").read_text() == "alpha"
    warnings = [r for r in caplog.records if "could not record" in r.getMessage()]
    assert len(warnings) == 1


def test_git_state_names_the_commit_and_whether_tracked_files_changed(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()

    def git(*args: str) -> str:
        done = subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, check=True)
        return done.stdout.strip()

    git("init", "-q")
    (repo / "train.py").write_text("print(1)\n")
    git("add", "train.py")
    git("-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-qm", "first")
    (repo / "sub").mkdir()
    assert git_state(str(repo / "sub")).commit == git("rev-parse", "HEAD")
    assert git_state(str(repo / "sub")).dirty is False
    (repo / "train.py").write_text("print(2)\n")
    git_state.cache_clear()
    assert git_state(str(repo)).dirty is True
    outside = tmp_path / "no-repo"
    outside.mkdir()
    assert git_state(str(outside)) == GitState()  # no repository: no commit, no flag


def test_a_command_line_and_run_that_are_not_utf8_are_kept_escaped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ds = final_version(tmp_path)
    monkeypatch.setattr(sys, "orig_argv", ["train.py", "--data", "caf\udce9"])
    uses_module._command.cache_clear()
    monkeypatch.setenv("DELTASET_RUN", "run-\udce9")
    Dataset.get(dataset_id=ds.id).get_local_copy()
    uses_module._command.cache_clear()
    [use] = uses_of(ds.id)
    assert use.command == "train.py --data 'caf\\xe9'"
    assert use.run_name == "run-\\xe9"
