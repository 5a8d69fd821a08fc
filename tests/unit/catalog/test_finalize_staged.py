"""A close drops the draft's staged rows: a large draft alone in the table by dropping the
table and making it again as it was, else row by row; either way the rows of other drafts
stay, the table is the one earlier releases read, and staging works on."""

from __future__ import annotations

import dataclasses
import sqlite3
from contextlib import closing
from pathlib import Path

import pytest

from deltaset.catalog import sqlite as sqlite_catalog
from deltaset.catalog.base import DraftChange, NewVersion
from deltaset.catalog.sqlite import SqliteCatalog
from deltaset.core.records import State, VersionRecord


def draft(catalog: SqliteCatalog, name: str) -> VersionRecord:
    return catalog.create_version(NewVersion("p", name, None, (), (), "", "file:///s", "u"))


def changes(count: int, tag: str) -> list[DraftChange]:
    return [DraftChange(f"{tag}/f{at:03d}", size=1, blob_id=f"{at:064x}") for at in range(count)]


def made(path: Path) -> list[tuple[str, str]]:
    with closing(sqlite3.connect(path)) as db:
        query = "SELECT type, sql FROM sqlite_master WHERE tbl_name = 'staged' ORDER BY name"
        return db.execute(query).fetchall()


@pytest.mark.parametrize("others", [False, True])
def test_a_close_drops_its_rows_alone_and_keeps_the_table_as_it_was(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, others: bool
) -> None:
    monkeypatch.setattr(sqlite_catalog, "DROP_FROM", 10)
    path = tmp_path / "catalog.db"
    catalog = SqliteCatalog(path)
    before = made(path)
    closing_draft, other = draft(catalog, "a"), draft(catalog, "b")
    catalog.stage(closing_draft.id, changes(40, "a"))
    if others:
        catalog.stage(other.id, changes(5, "b"))
    said: list[str] = []
    catalog._db.set_trace_callback(said.append)
    catalog.finalize(dataclasses.replace(closing_draft, state=State.FINAL), b"manifest")
    catalog._db.set_trace_callback(None)

    assert any(sql.startswith("DROP TABLE staged") for sql in said) is not others

    assert list(catalog.staged(closing_draft.id)) == []
    assert list(catalog.staged(other.id)) == (changes(5, "b") if others else [])
    assert made(path) == before
    assert catalog.manifest(closing_draft.id) == b"manifest"
    assert catalog.get(closing_draft.id).state is State.FINAL
    catalog.stage(other.id, changes(7, "c"))
    assert len(list(catalog.staged(other.id))) == 7 + (5 if others else 0)
    catalog.close()


def test_a_small_close_deletes_its_rows(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "catalog.db"
    catalog = SqliteCatalog(path)
    record = draft(catalog, "a")
    catalog.stage(record.id, changes(3, "a"))
    said: list[str] = []
    monkeypatch.setattr(sqlite_catalog, "DROP_FROM", 3)  # three rows: not more than it
    catalog._db.set_trace_callback(said.append)
    catalog.finalize(dataclasses.replace(record, state=State.FINAL), b"m")
    assert not [sql for sql in said if sql.startswith("DROP TABLE")]
    assert list(catalog.staged(record.id)) == []
    catalog.close()
