"""The embedded catalog under several real processes, and its schema migrations."""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from contextlib import closing
from pathlib import Path

import pytest

from deltaset import Dataset, config
from deltaset.catalog.base import NewVersion, Query
from deltaset.catalog.migrations import SCHEMA_VERSION
from deltaset.catalog.sqlite import SqliteCatalog
from deltaset.core import version as semver
from deltaset.errors import CatalogError
from tests.conftest import Result, forget_context, run_cli

PROCESSES = 4
EACH = 10

# Waits on stdin so that every process starts creating at the same moment.
CREATOR = """
import json, sys
from deltaset import Dataset
print("ready", flush=True)
sys.stdin.readline()
made = [
    Dataset.create(dataset_name="shared", dataset_project="race")
    for _ in range(int(sys.argv[1]))
]
print(json.dumps([[d.id, d.version] for d in made]))
"""


def _start_together(count: int) -> list[list[list[str]]]:
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", CREATOR, str(EACH)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(count)
    ]
    try:
        for proc in procs:
            assert proc.stdout is not None
            line = proc.stdout.readline()
            assert line == "ready\n", proc.communicate(timeout=60)[1]
        for proc in procs:
            assert proc.stdin is not None
            proc.stdin.write("go\n")
            proc.stdin.flush()
        outputs = [proc.communicate(timeout=120) for proc in procs]
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    for proc, (_, err) in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, err
    return [json.loads(out) for out, _ in outputs]


def test_concurrent_creates_allocate_every_version_number_once() -> None:
    results = _start_together(PROCESSES)

    made = [pair for result in results for pair in result]
    assert len(made) == PROCESSES * EACH
    assert len({version_id for version_id, _ in made}) == PROCESSES * EACH
    expected = {f"1.0.{i}" for i in range(PROCESSES * EACH)}
    assert {number for _, number in made} == expected
    for result in results:  # one process's own creates come out in increasing order
        keys = [semver.sort_key(number) for _, number in result]
        assert keys == sorted(keys)
        assert len(set(keys)) == EACH

    catalog = SqliteCatalog(config.load().catalog_path)
    try:
        records = catalog.search(Query(project="race", name="shared"))
    finally:
        catalog.close()
    assert len(records) == PROCESSES * EACH
    assert {r.version for r in records} == expected
    assert {r.id: r.version for r in records} == dict(made)


def _pragma(path: Path, name: str) -> object:
    with closing(sqlite3.connect(path)) as db:
        return db.execute(f"PRAGMA {name}").fetchone()[0]


def test_catalog_uses_wal_and_the_current_schema(tmp_path: Path) -> None:
    path = tmp_path / "catalog.db"
    catalog = SqliteCatalog(path)
    catalog.create_version(NewVersion("p", "n", None, (), (), "", "file:///s", "u"))
    catalog.close()
    assert _pragma(path, "journal_mode") == "wal"
    assert _pragma(path, "user_version") == SCHEMA_VERSION


def test_default_catalog_is_in_wal_mode(cli: Callable[..., Result]) -> None:
    result = cli("search", "--json")
    assert result.exit_code == 0, result.stderr
    path = config.load().catalog_path
    assert _pragma(path, "journal_mode") == "wal"
    assert _pragma(path, "user_version") == SCHEMA_VERSION


def _make_db(path: Path, user_version: int) -> None:
    with closing(sqlite3.connect(path)) as db:
        db.execute("CREATE TABLE keep (note TEXT)")
        db.execute("INSERT INTO keep VALUES ('still here')")
        db.execute(f"PRAGMA user_version = {user_version}")
        db.commit()


def test_a_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "future.db"
    _make_db(path, SCHEMA_VERSION + 1)
    with pytest.raises(
        CatalogError,
        match=rf"was written by a newer deltaset \(schema {SCHEMA_VERSION + 1}\); upgrade",
    ):
        SqliteCatalog(path)
    assert _pragma(path, "user_version") == SCHEMA_VERSION + 1


def test_a_newer_schema_is_one_clear_cli_error(cli: Callable[..., Result]) -> None:
    path = config.load().catalog_path
    path.parent.mkdir(parents=True, exist_ok=True)
    _make_db(path, SCHEMA_VERSION + 7)
    result = cli("search")
    assert result.exit_code == 1
    assert result.stderr == (
        f"error: The catalog {path} was written by a newer deltaset "
        f"(schema {SCHEMA_VERSION + 7}); upgrade.\n"
    )


def test_an_older_schema_is_migrated_in_place(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    _make_db(path, 0)
    catalog = SqliteCatalog(path)
    try:
        record = catalog.create_version(NewVersion("p", "n", None, (), (), "", "file:///s", "u"))
        assert catalog.get(record.id).version == "1.0.0"
    finally:
        catalog.close()
    assert _pragma(path, "user_version") == SCHEMA_VERSION
    with closing(sqlite3.connect(path)) as db:
        assert db.execute("SELECT note FROM keep").fetchall() == [("still here",)]
        tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master")}
    assert {"versions", "lineage", "manifests", "staged"} <= tables


def test_reopening_a_current_catalog_migrates_nothing(tmp_path: Path) -> None:
    path = tmp_path / "catalog.db"
    first = SqliteCatalog(path)
    record = first.create_version(NewVersion("p", "n", None, (), (), "", "file:///s", "u"))
    first.close()
    second = SqliteCatalog(path)
    try:
        assert second.get(record.id) == record
    finally:
        second.close()
    assert _pragma(path, "user_version") == SCHEMA_VERSION


def test_a_file_that_is_not_a_database_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "catalog.db"
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(CatalogError, match=r"is damaged.*rebuild-catalog"):
        SqliteCatalog(path)


def test_an_emptied_catalog_says_so_and_how_to_recover(tmp_path: Path) -> None:
    version_id = Dataset.create(dataset_name="n", dataset_project="p").id
    path = config.load().catalog_path
    forget_context()
    path.write_bytes(b"")  # truncated by a crash, a full disk or a mistake
    old = time.time() - 3600
    os.utime(path, (old, old))
    done = run_cli("search", "--not-only-completed", "--json")
    assert (done.returncode, done.stdout) == (0, "[]\n")
    assert done.stderr == (
        f"the catalog {path} was an empty file (0 bytes), so it starts with no versions; if it "
        "held some, run 'deltaset rebuild-catalog' to recover the final versions from their "
        "storage\n"
    )
    assert version_id not in done.stdout


def test_a_catalog_another_process_is_creating_is_not_called_emptied(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "catalog.db"
    path.write_bytes(b"")  # just created by a first start, its schema not yet written
    with caplog.at_level(logging.WARNING, logger="deltaset"):
        SqliteCatalog(path).close()
    assert caplog.messages == []


TAGGER = """
import sys
from deltaset import Dataset
Dataset.get(dataset_id=sys.argv[1]).add_tags(sys.argv[2])
"""


def test_concurrent_tag_edits_leave_the_stored_record_as_the_catalog() -> None:
    from deltaset import Dataset
    from deltaset.storage import open_storage
    from deltaset.storage.layout import record_key

    ds = Dataset.create(dataset_name="tags", dataset_project="race")
    ds.finalize()

    def tag(name: str, pause: float) -> subprocess.Popen[str]:
        env = {**os.environ, "DELTASET_PAUSE": f"records.before_store:{pause}"}
        return subprocess.Popen(
            [sys.executable, "-c", TAGGER, ds.id, name], env=env, stderr=subprocess.PIPE, text=True
        )

    # "slow" edits the catalog first and stores its record last, without "fast"'s tag.
    slow = tag("slow", 1.5)
    time.sleep(1.0)
    fast = tag("fast", 0)
    for proc in (fast, slow):
        _, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err
    assert sorted(Dataset.get(dataset_id=ds.id).tags) == ["fast", "slow"]
    stored = json.loads(open_storage(ds.get_default_storage()).get_bytes(record_key(ds.id)))
    assert sorted(stored["tags"]) == ["fast", "slow"]
