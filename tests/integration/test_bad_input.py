"""Bad input fails with one ``error:`` line and a non-zero exit, and changes nothing.

Also: a manifest that names paths outside the dataset (written by hand, past every check)
never makes ``get`` write outside the folder it was asked to fill.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from deltaset import Dataset
from deltaset.core.manifest import Entry, Manifest
from deltaset.engine.context import default_context
from deltaset.storage.layout import manifest_key
from tests.conftest import Result, forget_context, make_files, read_tree, run_cli

UNKNOWN = "0123456789abcdef0123456789abcdef"


@dataclass
class Versions:
    final: str  # a closed version
    draft: str  # a draft on top of it: one file added, one modified, one removed
    data: Path  # a folder of files that could be added
    tmp: Path


@pytest.fixture
def versions(tmp_path: Path) -> Versions:
    base = make_files(
        tmp_path / "base", {"a.txt": "alpha", "sub/b.txt": "beta", "sub/c.bin": os.urandom(3000)}
    )
    final = Dataset.create(dataset_name="n", dataset_project="p")
    final.add_files(str(base))
    final.finalize(auto_upload=True)
    draft = Dataset.create(dataset_name="n", dataset_project="p", parent_datasets=[final.id])
    changes = make_files(tmp_path / "changes", {"a.txt": "alpha 2", "new.txt": "new"})
    draft.add_files(str(changes))
    draft.remove_files("sub/b.txt")
    data = make_files(tmp_path / "data", {"x.txt": "x", "deep/y.txt": "y"})
    return Versions(final.id, draft.id, data, tmp_path)


def snapshot() -> dict[str, Any]:
    """Everything a failed command must leave alone: records, staged changes, files, storage."""
    ctx = default_context()
    found = Dataset.list_datasets(only_completed=False)
    state: dict[str, Any] = {"versions": sorted((d["id"], d["state"]) for d in found)}
    for d in found:
        record = ctx.catalog.get(d["id"])
        state[d["id"]] = (
            record,
            list(ctx.catalog.staged(d["id"])),
            ctx.catalog.manifest(d["id"]),
            [(e.relative_path, e.size, e.hash) for e in Dataset.get(d["id"]).file_entries],
        )
    storage = ctx.settings.home / "storage"
    state["storage"] = sorted(str(p.relative_to(storage)) for p in storage.rglob("*"))
    return state


def assert_one_error_line(done: subprocess.CompletedProcess[str], *words: str) -> str:
    assert done.returncode != 0, done.stdout
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("error: "), lines[0]
    assert "Traceback" not in done.stderr
    for word in words:
        assert word in lines[0], lines[0]
    return lines[0]


BAD_COMMANDS: dict[str, tuple[Callable[[Versions], list[str]], tuple[str, ...]]] = {
    # unknown ids and names
    "add to unknown id": (lambda v: ["add", "--id", UNKNOWN, "--files", str(v.data)], (UNKNOWN,)),
    "remove from unknown id": (
        lambda v: ["remove", "--id", UNKNOWN, "--files", "a.txt"],
        (UNKNOWN,),
    ),
    "close unknown id": (lambda v: ["close", "--id", UNKNOWN], (UNKNOWN,)),
    "upload unknown id": (lambda v: ["upload", "--id", UNKNOWN], (UNKNOWN,)),
    "get unknown id": (lambda v: ["get", "--id", UNKNOWN], (UNKNOWN,)),
    "list unknown id": (lambda v: ["list", "--id", UNKNOWN], (UNKNOWN,)),
    "delete unknown id": (lambda v: ["delete", "--id", UNKNOWN], (UNKNOWN,)),
    "unknown parent": (
        lambda v: ["create", "--project", "p", "--name", "m", "--parents", UNKNOWN],
        (UNKNOWN,),
    ),
    "get unknown name": (lambda v: ["get", "--project", "p", "--name", "nope"], ("nope",)),
    # local paths that are not there
    "missing path": (
        lambda v: ["add", "--id", v.draft, "--files", str(v.tmp / "missing.txt")],
        ("missing.txt",),
    ),
    "one of several paths missing": (
        lambda v: ["add", "--id", v.draft, "--files", str(v.data), str(v.tmp / "missing.txt")],
        ("missing.txt",),
    ),
    "wildcard matching nothing": (
        lambda v: ["add", "--id", v.draft, "--files", str(v.data / "*.nomatch")],
        ("nomatch",),
    ),
    # in-dataset paths that climb out or are absolute
    "dataset folder ../x": (
        lambda v: ["add", "--id", v.draft, "--files", str(v.data), "--dataset-folder", "../x"],
        ("'../x'", ".."),
    ),
    "dataset folder a/../../x": (
        lambda v: ["add", "--id", v.draft, "--files", str(v.data), "--dataset-folder", "a/../../x"],
        ("..",),
    ),
    "dataset folder C:/abs": (
        lambda v: ["add", "--id", v.draft, "--files", str(v.data), "--dataset-folder", "C:/abs"],
        ("'C:/abs'", "absolute"),
    ),
    "remove ../x": (lambda v: ["remove", "--id", v.draft, "--files", "../x"], ("'../x'",)),
    "remove sub/../../x": (
        lambda v: ["remove", "--id", v.draft, "--files", "sub/../../x"],
        ("..",),
    ),
    "remove C:/abs/a.txt": (
        lambda v: ["remove", "--id", v.draft, "--files", "C:/abs/a.txt"],
        ("absolute",),
    ),
    "sync into dataset folder ../x": (
        lambda v: [
            "sync",
            "--id",
            v.draft,
            "--folder",
            str(v.data),
            "--dataset-folder",
            "../x",
            "--skip-close",
        ],
        ("..",),
    ),
    "list filter ../x": (lambda v: ["list", "--id", v.final, "--filter", "../x"], ("..",)),
    # a final version never changes
    "add to a final version": (
        lambda v: ["add", "--id", v.final, "--files", str(v.data)],
        ("final",),
    ),
    "remove from a final version": (
        lambda v: ["remove", "--id", v.final, "--files", "a.txt"],
        ("final",),
    ),
    "sync into a final version": (
        lambda v: ["sync", "--id", v.final, "--folder", str(v.data), "--skip-close"],
        ("final",),
    ),
    "upload a final version": (lambda v: ["upload", "--id", v.final], ("final",)),
    "close a final version": (lambda v: ["close", "--id", v.final], ("final",)),
    "delete a version others inherit from": (lambda v: ["delete", "--id", v.final], ("--force",)),
    # drafts cannot be inherited from or pulled
    "a draft as parent": (
        lambda v: ["create", "--project", "p", "--name", "child", "--parents", v.draft],
        ("draft",),
    ),
    "pull a draft": (lambda v: ["get", "--id", v.draft], ("draft",)),
    "copy a draft": (lambda v: ["get", "--id", v.draft, "--copy", str(v.tmp / "copy")], ("draft",)),
    # other arguments that cannot work
    "part out of range": (
        lambda v: ["get", "--id", v.final, "--part", "5", "--num-parts", "2"],
        ("part",),
    ),
    "version that would break a URL": (
        lambda v: ["create", "--project", "p", "--name", "m", "--version", "1.0/bogus"],
        ("1.0/bogus",),
    ),
    "storage scheme not available": (
        lambda v: ["create", "--project", "p", "--name", "m", "--storage", "https://host/x"],
        ("https",),
    ),
    "no cloud credentials": (
        lambda v: ["create", "--project", "p", "--name", "m", "--storage", "s3://bucket/x"],
        ("No AWS credentials",),
    ),
    "existing version number": (
        lambda v: ["create", "--project", "p", "--name", "n", "--version", "1.0.0"],
        ("1.0.0",),
    ),
}


@pytest.mark.parametrize("case", list(BAD_COMMANDS))
def test_bad_input_fails_with_one_line_and_changes_nothing(versions: Versions, case: str) -> None:
    make_args, words = BAD_COMMANDS[case]
    before = snapshot()
    done = run_cli(*make_args(versions))
    assert_one_error_line(done, *words)
    assert snapshot() == before
    assert not (versions.tmp / "copy").exists() or not any((versions.tmp / "copy").iterdir())


def test_draft_still_works_after_every_bad_input(
    versions: Versions, cli: Callable[..., Result]
) -> None:
    """The staged content survives a run of failures, and the draft then closes as intended."""
    for case, (make_args, _) in BAD_COMMANDS.items():
        failed = cli(*make_args(versions))
        assert failed.exit_code != 0, case
        assert failed.stderr.startswith("error: "), (case, failed.stderr)
    done = run_cli("close", "--id", versions.draft)
    assert done.returncode == 0, done.stderr
    pulled = run_cli("get", "--id", versions.draft)
    assert pulled.returncode == 0, pulled.stderr
    tree = read_tree(Path(pulled.stdout.strip()))
    assert {p: tree[p] for p in ("a.txt", "new.txt")} == {"a.txt": b"alpha 2", "new.txt": b"new"}
    assert sorted(tree) == ["a.txt", "new.txt", "sub/c.bin"]


# -- unreadable files --------------------------------------------------------------------------


@pytest.fixture
def shared_dir() -> Iterator[Path]:
    """A folder an unprivileged user can write (pytest's own tmp folders are private to root)."""
    folder = Path(tempfile.mkdtemp(prefix="deltaset-unreadable-"))
    folder.chmod(0o777)
    yield folder
    shutil.rmtree(folder)


def as_unprivileged(folder: Path) -> Callable[..., subprocess.CompletedProcess[str]]:
    """Run ``deltaset`` as a user that file permissions apply to (root reads anything)."""
    prefix = []
    if os.geteuid() == 0:
        setpriv = shutil.which("setpriv")
        assert setpriv, "tests run as root need setpriv to drop privileges"
        prefix = [setpriv, "--reuid=65534", "--regid=65534", "--clear-groups"]
    env = {**os.environ, "DELTASET_HOME": str(folder / "home"), "HOME": str(folder)}

    def invoke(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*prefix, sys.executable, "-m", "deltaset", *args],
            capture_output=True,
            text=True,
            env=env,
            cwd=folder,
            timeout=60,
            check=False,
        )

    return invoke


def make_world_writable(root: Path) -> None:
    for path in [root, *root.rglob("*")]:
        path.chmod(0o777 if path.is_dir() else 0o666)


def test_unreadable_files_fail_cleanly_and_change_nothing(shared_dir: Path) -> None:
    good = make_files(shared_dir / "good", {"one.txt": "1", "two/three.txt": "3"})
    locked_file = make_files(
        shared_dir / "locked_file", {"ok.txt": "ok", "secret.bin": os.urandom(2000)}
    )
    locked_dir = make_files(shared_dir / "locked_dir", {"ok.txt": "ok", "inner/x.txt": "x"})
    make_world_writable(shared_dir)
    (locked_file / "secret.bin").chmod(0o000)
    (locked_dir / "inner").chmod(0o000)
    deltaset = as_unprivileged(shared_dir)

    created = deltaset("create", "--project", "p", "--name", "n", "--json")
    assert created.returncode == 0, created.stderr
    draft = json.loads(created.stdout)["id"]
    assert deltaset("add", "--id", draft, "--files", str(good)).returncode == 0

    def listing() -> list[dict[str, Any]]:
        done = deltaset("list", "--id", draft, "--json")
        assert done.returncode == 0, done.stderr
        return list(json.loads(done.stdout))

    before = listing()
    assert [row["path"] for row in before] == ["one.txt", "two/three.txt"]
    for args, name in (
        (["--files", str(locked_file)], "secret.bin"),
        (["--files", str(locked_file / "secret.bin")], "secret.bin"),
        (["--files", str(locked_dir)], "inner"),
        (["--files", str(good / "one.txt"), str(locked_file)], "secret.bin"),
    ):
        done = deltaset("add", "--id", draft, *args)
        line = assert_one_error_line(done, name)
        assert "permission denied" in line.lower(), line
        assert listing() == before

    (locked_file / "secret.bin").chmod(0o644)
    closed = deltaset("close", "--id", draft)
    assert closed.returncode == 0, closed.stderr
    pulled = deltaset("get", "--id", draft)
    assert pulled.returncode == 0, pulled.stderr
    assert read_tree(Path(pulled.stdout.strip())) == {"one.txt": b"1", "two/three.txt": b"3"}


# -- manifests that try to escape --------------------------------------------------------------


def escaping_version(tmp_path: Path, home: Path, evil_path: str) -> str:
    """A final version whose stored manifest (catalog and storage) lists ``evil_path``."""
    source = make_files(tmp_path / "source", {"ok.txt": "fine", "zz/last.txt": "last"})
    ds = Dataset.create(dataset_name="escape", dataset_project="p")
    ds.add_files(str(source))
    ds.finalize(auto_upload=True)
    good = {e.relative_path: Entry(e.size, e.hash) for e in ds.file_entries}
    crafted = Manifest([*good.items(), (evil_path, good["ok.txt"])]).to_bytes()
    with sqlite3.connect(home / "catalog.db") as db:
        db.execute("UPDATE manifests SET data = ? WHERE version_id = ?", (crafted, ds.id))
    (home / "storage" / manifest_key(ds.id)).write_bytes(crafted)
    return ds.id


def evil_paths(tmp_path: Path) -> dict[str, str]:
    return {
        "parent": "../evil-parent",
        "grandparent": "../../evil-grandparent",
        "climbing": "sub/../../evil-climbing",
        "deep climb": "a/b/../../../../evil-deep",
        "absolute": str(tmp_path / "outside" / "evil-absolute"),
        "backslashes": "..\\..\\evil-backslash",
        "dot segments": "./../evil-dot",
    }


@pytest.mark.parametrize("kind", list(evil_paths(Path("/"))))
def test_escaping_manifest_never_writes_outside(tmp_path: Path, isolation: Path, kind: str) -> None:
    evil = evil_paths(tmp_path)[kind]
    version = escaping_version(tmp_path, isolation, evil)
    assert evil in Dataset.get(dataset_id=version).list_files()  # the crafted entry is there
    target = tmp_path / "out" / "target"

    for args in (["get", "--id", version], ["get", "--id", version, "--copy", str(target)]):
        done = run_cli(*args)
        assert_one_error_line(done)
        assert done.stdout == ""

    escaped = [p for p in tmp_path.rglob("*") if "evil" in p.name]
    assert escaped == []
    assert not Path(evil).exists()
    assert not (isolation / "cache" / "trees" / version).exists()
    trees = isolation / "cache" / "trees"
    assert not trees.exists() or list(trees.iterdir()) == []


# -- a damaged catalog -------------------------------------------------------------------------


def damage_table(catalog: Path, table: str) -> None:
    """Overwrite the header of the first page of ``table`` in the catalog file, as a torn
    write or a failing disk would."""
    forget_context()
    db = sqlite3.connect(catalog)
    try:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # every page in the main file
        page_size = db.execute("PRAGMA page_size").fetchone()[0]
        root = db.execute("SELECT rootpage FROM sqlite_master WHERE name = ?", (table,)).fetchone()
    finally:
        db.close()
    with catalog.open("r+b") as file:
        file.seek((root[0] - 1) * page_size)
        file.write(b"\xff" * 12)


@pytest.mark.parametrize("table", ["versions", "staged"])
def test_a_damaged_catalog_is_named_with_what_to_do(
    versions: Versions, isolation: Path, table: str
) -> None:
    catalog = isolation / "catalog.db"
    damage_table(catalog, table)
    commands = [["list", "--id", versions.draft], ["upload", "--id", versions.draft]]
    if table == "versions":
        commands += [["list", "--id", versions.final], ["search"]]
    for args in commands:
        done = run_cli(*args)
        assert_one_error_line(done, str(catalog), "damaged", "deltaset rebuild-catalog")
