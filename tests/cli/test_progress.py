"""Progress (files, bytes, rate) on a terminal's stderr; nothing of it when piped or --quiet."""

from __future__ import annotations

import errno
import os
import pty
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import make_files, run_cli

# "hashing   ━━━━━━━━  5/5 files 976.6 KiB/976.6 KiB ..." as rich draws it
PROGRESS = re.compile(
    r"(hashing|uploading|downloading|verifying)\b.*?(\d+)/(\d+) files\s+[\d.]+ \w+/([\d.]+ \w+)"
)
PAYLOAD = {f"part{i}.bin": bytes([i]) * 200_000 for i in range(5)}


def on_terminal(*args: str, env: dict[str, str]) -> tuple[int, str]:
    """Run ``deltaset ARGS`` with stdin, stdout and stderr on a new pseudo-terminal."""
    master, slave = pty.openpty()
    try:
        process = subprocess.Popen(
            [sys.executable, "-m", "deltaset", *args],
            stdin=slave,
            stdout=slave,
            stderr=slave,
            close_fds=True,
            env={**os.environ, "TERM": "xterm", **env},
        )
    finally:
        os.close(slave)
    chunks = []
    try:
        while True:
            try:
                chunk = os.read(master, 65536)
            except OSError as exc:  # EIO: the terminal's last writer has gone
                if exc.errno != errno.EIO:
                    raise
                break
            if not chunk:
                break
            chunks.append(chunk)
    finally:
        os.close(master)
    code = process.wait(timeout=60)
    return code, b"".join(chunks).decode(errors="replace")


@pytest.fixture
def payload(tmp_path: Path) -> Path:
    return make_files(tmp_path / "payload", PAYLOAD)


def home(tmp_path: Path, name: str) -> dict[str, str]:
    return {"DELTASET_HOME": str(tmp_path / name)}


def test_piped_output_has_no_progress(payload: Path, tmp_path: Path) -> None:
    env = home(tmp_path, "piped")
    assert run_cli("create", "--project", "p", "--name", "n", env=env).returncode == 0
    added = run_cli("add", "--files", str(payload), env=env)
    closed = run_cli("close", env=env)
    got = run_cli("get", "--project", "p", "--name", "n", env=env)
    for result in (added, closed, got):
        assert result.returncode == 0, result.stderr
        assert result.stderr == ""
        assert not PROGRESS.search(result.stdout)
        assert "\x1b[" not in result.stdout  # no cursor movement in a pipe
    assert "5 files added" in added.stdout
    assert Path(got.stdout.strip()).is_dir()


def test_terminal_shows_files_and_bytes_for_hashing_uploading_downloading_and_verifying(
    payload: Path, tmp_path: Path
) -> None:
    env = home(tmp_path, "tty")
    code, _ = on_terminal("create", "--project", "p", "--name", "n", env=env)
    assert code == 0
    code, added = on_terminal("add", "--files", str(payload), env=env)
    assert code == 0, added
    hashing = [m for m in PROGRESS.finditer(added) if m[1] == "hashing"]
    assert hashing, added
    assert (hashing[-1][2], hashing[-1][3], hashing[-1][4]) == ("5", "5", "976.6 KiB"), added
    assert "5 files added" in added
    code, closed = on_terminal("close", env=env)
    assert code == 0, closed
    assert any(m[1] == "uploading" and m[2] == m[3] == "5" for m in PROGRESS.finditer(closed))
    listed = run_cli("list", "--project", "p", "--name", "n", env=env)
    assert listed.stdout.splitlines()[-2].startswith("5 files, 976.6 KiB in ")  # as progress
    cold = {**env, "DELTASET_CACHE_DIR": str(tmp_path / "cold-cache")}
    code, got = on_terminal("get", "--project", "p", "--name", "n", env=cold)
    assert code == 0, got
    assert any(m[1] == "downloading" and m[2] == m[3] == "5" for m in PROGRESS.finditer(got)), got
    pulled = re.sub(r"\x1b\[[?\d;]*[a-zA-Z]", "", got.splitlines()[-1]).strip()
    for where in ([], ["--folder", pulled]):  # the stored bytes, then the pulled folder
        code, verified = on_terminal("verify", "--project", "p", "--name", "n", *where, env=env)
        assert code == 0, verified
        counted = [m for m in PROGRESS.finditer(verified) if m[1] == "verifying"]
        assert (counted[-1][2], counted[-1][3], counted[-1][4]) == ("5", "5", "976.6 KiB"), verified


def test_quiet_hides_progress_on_a_terminal_too(payload: Path, tmp_path: Path) -> None:
    env = home(tmp_path, "quiet")
    code, created = on_terminal("create", "--project", "p", "--name", "n", "--quiet", env=env)
    assert (code, created) == (0, "")
    code, added = on_terminal("add", "--files", str(payload), "--quiet", env=env)
    assert (code, added) == (0, "")
    code, closed = on_terminal("close", "-q", env=env)
    assert (code, closed) == (0, "")
    listed = run_cli("list", "--project", "p", "--name", "n", "--json", env=env)
    assert len(listed.stdout.split('"path"')) == len(PAYLOAD) + 1  # the quiet commands did work
