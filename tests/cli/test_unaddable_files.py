"""Files that cannot be added: names a pull would refuse, and special files (FIFOs, devices).

Named on the command line, such a file is an error in one sentence; found in a folder or by a
wildcard, it is skipped with one warning line naming it, and everything else is added. Either
way every version that closes can be pulled whole.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.cli.helpers import Flow, assert_error
from tests.conftest import make_files, read_tree, run_cli

BAD_NAMES = ("..\\..\\x.txt", "C:\\evil.txt", "sub\\..\\..\\up.txt")
TIMEOUT = 60  # before the fix, reading a FIFO waited forever: a test must end regardless


def deltaset(*args: str) -> subprocess.CompletedProcess[str]:
    return run_cli(*args, timeout=TIMEOUT)


def warnings_of(done: subprocess.CompletedProcess[str]) -> list[str]:
    assert done.returncode == 0, done.stderr
    return done.stderr.splitlines()


@pytest.fixture
def badly_named(tmp_path: Path) -> Path:
    """A folder of good files and of files whose names are legal on Linux only."""
    files: dict[str, bytes | str] = {"ok.txt": "fine", "deep/C:\\kept.txt": "a name, not a drive"}
    files.update({name: name for name in BAD_NAMES})
    folder = make_files(tmp_path / "badly-named", files)
    (folder / "C:").mkdir()  # a folder whose files would land at "C:/...", a Windows drive
    (folder / "C:" / "inside.txt").write_text("inside")
    return folder


def test_a_folder_walk_skips_names_a_pull_refuses_and_the_version_pulls_whole(
    flow: Flow, badly_named: Path, tmp_path: Path
) -> None:
    draft = flow.create()
    lines = warnings_of(deltaset("add", "--id", draft, "--files", str(badly_named)))
    skipped = sorted(line.split(": ", 1)[0] for line in lines)
    assert skipped == sorted(f"skipped {badly_named / name}" for name in (*BAD_NAMES, "C:")), lines
    assert sorted(flow.paths("--id", draft)) == ["deep/C:\\kept.txt", "ok.txt"]
    flow.run("close", "--id", draft)
    kept = {"deep/C:\\kept.txt": b"a name, not a drive", "ok.txt": b"fine"}
    assert flow.pulled("--id", draft) == kept
    copy = tmp_path / "copy"
    flow.run("get", "--id", draft, "--copy", str(copy))
    assert sorted(read_tree(copy)) == ["deep/C:\\kept.txt", "ok.txt"]


def test_sync_skips_the_same_names(flow: Flow, badly_named: Path) -> None:
    draft = flow.create()
    done = deltaset("sync", "--id", draft, "--folder", str(badly_named), "--skip-close")
    assert len(warnings_of(done)) == len(BAD_NAMES) + 1
    assert sorted(flow.paths("--id", draft)) == ["deep/C:\\kept.txt", "ok.txt"]


@pytest.mark.parametrize("name", BAD_NAMES[:2])
def test_a_file_named_explicitly_with_a_refused_name_is_one_error(
    flow: Flow, cli, badly_named: Path, name: str
) -> None:
    draft = flow.create()
    line = assert_error(
        cli("add", "--id", draft, "--files", str(badly_named / "ok.txt"), str(badly_named / name))
    )
    assert str(badly_named / name) in line
    assert flow.paths("--id", draft) == []


def test_a_dataset_folder_a_pull_would_read_as_a_drive_is_refused(
    flow: Flow, cli, badly_named: Path
) -> None:
    draft = flow.create()
    assert_error(
        cli("add", "--id", draft, "--files", str(badly_named / "ok.txt"), "--dataset-folder", "C:"),
        "absolute",
    )


@pytest.fixture
def with_fifo(tmp_path: Path) -> Path:
    folder = make_files(tmp_path / "with-fifo", {"a.txt": "a", "b.txt": "b"})
    os.mkfifo(folder / "pipe.txt")
    return folder


@pytest.mark.parametrize("special", ["pipe.txt", "/dev/null"], ids=["fifo", "device"])
def test_a_special_file_named_explicitly_is_one_error(
    flow: Flow, with_fifo: Path, special: str
) -> None:
    draft = flow.create()
    path = str(with_fifo / special)  # an absolute special stays as it is
    for args in ([path], [str(with_fifo / "a.txt"), path]):
        done = deltaset("add", "--id", draft, "--files", *args)
        assert path in assert_error(done, "not a regular file")
    assert flow.paths("--id", draft) == []


def test_a_wildcard_or_folder_skips_special_files(flow: Flow, with_fifo: Path) -> None:
    draft = flow.create()
    done = deltaset("add", "--id", draft, "--files", str(with_fifo / "*.txt"))
    assert warnings_of(done) == [
        f"skipped {with_fifo / 'pipe.txt'}: it is a named pipe (FIFO), not a regular file."
    ]
    assert flow.paths("--id", draft) == ["a.txt", "b.txt"]
    done = deltaset("add", "--id", draft, "--files", str(with_fifo))
    assert warnings_of(done) == [
        f"skipped {with_fifo / 'pipe.txt'}: it is a named pipe (FIFO), not a regular file."
    ]
    assert flow.paths("--id", draft) == ["a.txt", "b.txt"]
