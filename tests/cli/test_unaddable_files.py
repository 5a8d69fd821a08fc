"""Files that cannot be added: names a pull would refuse, special files (FIFOs, devices),
symbolic links that leave the folder, loop or lead nowhere, and files that cannot be read.

Named on the command line, such a file is an error in one sentence; found in a folder or by a
wildcard, it is skipped with one warning line naming it, and everything else is added. Either
way every version that closes can be pulled whole.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
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


@pytest.fixture
def with_links(tmp_path: Path) -> Path:
    """A folder with every kind of symbolic link, and a secret beside it."""
    (tmp_path / "secret.txt").write_text("outside")
    folder = make_files(tmp_path / "with-links", {"a.txt": "a", "sub/b.txt": "b"})
    (folder / "inside.txt").symlink_to("sub/b.txt")
    (folder / "outside.txt").symlink_to(tmp_path / "secret.txt")
    (folder / "loop1").symlink_to("loop2")
    (folder / "loop2").symlink_to("loop1")
    (folder / "dangling.txt").symlink_to("nowhere.txt")
    (folder / "folder-link").symlink_to("sub")
    return folder


def link_warnings(folder: Path, tmp_path: Path) -> list[str]:
    return [
        f"skipped {folder / 'dangling.txt'}: it is a symbolic link to nowhere.txt, which does "
        "not exist.",
        f"skipped {folder / 'folder-link'}: it is a symbolic link to the folder sub, never "
        "descended.",
        f"skipped {folder / 'loop1'}: it is a symbolic link in a loop of links.",
        f"skipped {folder / 'loop2'}: it is a symbolic link in a loop of links.",
        f"skipped {folder / 'outside.txt'}: it is a symbolic link to {tmp_path / 'secret.txt'}, "
        "outside the folder added; --copy-unsafe-links adds what such links lead to.",
    ]


@pytest.mark.parametrize("command", ["add", "sync"])
def test_links_inside_are_followed_and_the_others_skipped_by_name(
    flow: Flow, with_links: Path, tmp_path: Path, command: str
) -> None:
    draft = flow.create()
    args = ["--files"] if command == "add" else ["--skip-close", "--folder"]
    done = deltaset(command, "--id", draft, *args, str(with_links))
    assert sorted(warnings_of(done)) == link_warnings(with_links, tmp_path)
    assert sorted(flow.paths("--id", draft)) == ["a.txt", "inside.txt", "sub/b.txt"]
    flow.run("close", "--id", draft)
    pulled = flow.pulled("--id", draft)
    assert pulled == {"a.txt": b"a", "inside.txt": b"b", "sub/b.txt": b"b"}


def test_copy_unsafe_links_adds_what_a_link_leaving_the_folder_leads_to(
    flow: Flow, with_links: Path, tmp_path: Path
) -> None:
    draft = flow.create()
    done = deltaset("add", "--id", draft, "--files", str(with_links), "--copy-unsafe-links")
    assert sorted(warnings_of(done)) == link_warnings(with_links, tmp_path)[:-1]
    assert sorted(flow.paths("--id", draft)) == ["a.txt", "inside.txt", "outside.txt", "sub/b.txt"]


def as_plain_user(*args: str) -> subprocess.CompletedProcess[str]:
    """``deltaset ARGS`` with file permission bits applying, even as root (run without the
    capabilities that let root read any file)."""
    drop = ["setpriv", "--bounding-set=-dac_override,-dac_read_search", "--"]
    return subprocess.run(
        [*(drop if os.geteuid() == 0 else []), sys.executable, "-m", "deltaset", *args],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )


@pytest.mark.skipif(
    os.geteuid() == 0 and shutil.which("setpriv") is None, reason="root reads every file"
)
def test_an_unreadable_file_or_folder_fails_the_add_unless_ignore_failed_read(
    flow: Flow, tmp_path: Path
) -> None:
    files = {"a.txt": "a", "locked.txt": "secret", "closed/c.txt": "c"}
    folder = make_files(tmp_path / "locked", files)
    (folder / "locked.txt").chmod(0)
    (folder / "closed").chmod(0)
    draft = flow.create()
    line = assert_error(as_plain_user("add", "--id", draft, "--files", str(folder)), "permission")
    assert str(folder / "closed") in line
    assert "--ignore-failed-read" in line
    assert flow.paths("--id", draft) == []
    done = as_plain_user("add", "--id", draft, "--files", str(folder), "--ignore-failed-read")
    assert warnings_of(done) == [
        f"skipped {folder / 'closed'}: permission denied.",
        f"skipped {folder / 'locked.txt'}: permission denied.",
    ]
    assert flow.paths("--id", draft) == ["a.txt"]


def test_a_wildcard_matching_links_follows_only_those_inside(
    flow: Flow, with_links: Path, tmp_path: Path
) -> None:
    draft = flow.create()
    done = deltaset("add", "--id", draft, "--files", str(with_links / "*.txt"))
    assert sorted(warnings_of(done)) == [
        link_warnings(with_links, tmp_path)[0],
        link_warnings(with_links, tmp_path)[-1],
    ]
    assert sorted(flow.paths("--id", draft)) == ["a.txt", "inside.txt"]
