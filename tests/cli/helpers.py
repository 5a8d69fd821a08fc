"""Assertions and small builders shared by the CLI end-to-end tests."""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from tests.conftest import Result, make_files, read_tree, stored_blob_ids, verify_stored_packs

ID_RE = re.compile(r"id=([0-9a-f]{32})\b")

# A small tree with files at three depths and two extensions.
DATA: dict[str, bytes | str] = {
    "a.jpg": "alpha",
    "b.jpg": "bravo",
    "notes.txt": "some notes",
    "sub/c.jpg": "charlie",
    "sub/d.txt": "delta",
    "sub/deep/e.jpg": "echo",
}


def _code_and_err(result: Result | subprocess.CompletedProcess[str]) -> tuple[int, str]:
    if isinstance(result, Result):
        return result.exit_code, result.stderr
    return result.returncode, result.stderr


def ok(result: Result) -> Result:
    """``result`` after checking that the command succeeded."""
    assert result.exit_code == 0, f"exit {result.exit_code}: {result.stderr}"
    assert result.stderr == "", result.stderr
    return result


def assert_error(result: Result | subprocess.CompletedProcess[str], *fragments: str) -> str:
    """Check a failure: non-zero exit and exactly one ``error: ...`` line on stderr."""
    code, err = _code_and_err(result)
    assert code != 0, f"expected a failure, got exit 0 and stderr {err!r}"
    lines = err.splitlines()
    assert len(lines) == 1, f"expected one line on stderr, got {err!r}"
    line = lines[0]
    assert line.startswith("error: "), line
    assert "Traceback" not in err
    for fragment in fragments:
        assert fragment in line, f"{fragment!r} not in {line!r}"
    return line


def id_of(result: Result) -> str:
    """The id of the version a command made: the last one its output names (sync names its
    parents first)."""
    found = ID_RE.findall(ok(result).stdout)
    assert found, result.stdout
    return str(found[-1])


def stored_blobs(storage: Path) -> set[str]:
    """Ids of the blobs a folder storage holds, as its pack indexes name them."""
    return stored_blob_ids(storage.resolve().as_uri())


def stored_packs(storage: Path) -> set[str]:
    """Ids of the packs a folder storage holds (every one checked whole)."""
    return verify_stored_packs(storage).packs


class Flow:
    """Drives the in-process CLI through the multi-step setups many tests share."""

    def __init__(self, cli: Callable[..., Result], root: Path) -> None:
        self.cli = cli
        self.root = root
        self._sources = 0

    def run(self, *args: str) -> Result:
        return ok(self.cli(*args))

    def folder(self, files: dict[str, bytes | str]) -> Path:
        self._sources += 1
        return make_files(self.root / f"src{self._sources}", files)

    def create(self, *args: str, project: str = "proj", name: str = "ds") -> str:
        return id_of(self.cli("create", "--project", project, "--name", name, *args))

    def version(
        self,
        files: dict[str, bytes | str],
        *args: str,
        project: str = "proj",
        name: str = "ds",
        parents: Sequence[str] = (),
    ) -> str:
        """A closed version holding ``files`` (on top of ``parents``)."""
        parent_args = ["--parents", *parents] if parents else []
        version_id = self.create(*parent_args, *args, project=project, name=name)
        if files:
            self.run("add", "--id", version_id, "--files", str(self.folder(files)))
        self.run("close", "--id", version_id)
        return version_id

    def listing(self, *args: str) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = json.loads(self.run("list", "--json", *args).stdout)
        return rows

    def paths(self, *args: str) -> list[str]:
        return [row["path"] for row in self.listing(*args)]

    def changes(self, *args: str) -> dict[str, str]:
        return {row["path"]: row["change"] for row in self.listing("--modified", *args)}

    def search(self, *args: str) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = json.loads(self.run("search", "--json", *args).stdout)
        return found

    def pulled(self, *args: str) -> dict[str, bytes]:
        """The bytes of a version as ``get`` puts them in the cache."""
        folder = Path(self.run("get", *args).stdout.strip())
        assert folder.is_dir(), folder
        return read_tree(folder)

    def remembered(self) -> str | None:
        """The id later commands default to, as a user sees it: by listing without --id."""
        result = self.cli("list", "--json")
        if result.exit_code != 0:
            assert_error(result, "No dataset id given")
            return None
        listing = self.cli("list")
        match = re.search(r" in ([0-9a-f]{32})$", ok(listing).stdout, re.MULTILINE)
        assert match, listing.stdout
        return match[1]


def as_bytes(files: dict[str, bytes | str]) -> dict[str, bytes]:
    return {k: v.encode() if isinstance(v, str) else v for k, v in files.items()}
