"""Shared fixtures: every test runs in its own deltaset home, cache and storage."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from deltaset.cli.main import build_parser, run
from deltaset.engine import context as context_module


@pytest.fixture(autouse=True)
def isolation(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    home = tmp_path / "home"
    monkeypatch.setenv("DELTASET_HOME", str(home))
    for name in (
        "DELTASET_CACHE_DIR",
        "DELTASET_CACHE_LIMIT",
        "DELTASET_STORAGE",
        "DELTASET_FAILPOINT",
        "DELTASET_DEBUG",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.setenv("COLUMNS", "80")
    context_module._default = None
    yield home
    context_module._default = None


@dataclass
class Result:
    exit_code: int
    stdout: str
    stderr: str


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]) -> Callable[..., Result]:
    """Run ``deltaset ARGS`` in this process and capture exit code and output."""

    def invoke(*args: str) -> Result:
        capsys.readouterr()
        try:
            code = run(build_parser().parse_args(list(args)))
        except SystemExit as exc:  # argparse usage errors
            code = int(exc.code or 0)
        out = capsys.readouterr()
        return Result(code, out.out, out.err)

    return invoke


def run_cli(
    *args: str, env: dict[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """Run ``deltaset ARGS`` as a real process (for kill, pipe and concurrency tests)."""
    return subprocess.run(
        [sys.executable, "-m", "deltaset", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=timeout,
        check=False,
    )


def make_files(root: Path, files: dict[str, bytes | str]) -> Path:
    for rel, content in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, str):
            path.write_text(content)
        else:
            path.write_bytes(content)
    return root


def read_tree(root: Path) -> dict[str, bytes]:
    """Every file under ``root`` (following links) by relative POSIX path."""
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }
