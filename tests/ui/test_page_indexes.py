"""What the pages of a large version read is kept when it closes, and built in a worker for a
version closed elsewhere while its page says so; a preview reads the file it shows, not its
neighbours, and finds its entry without decoding the manifest."""

from __future__ import annotations

import contextlib
import shutil
import sqlite3
import threading
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from deltaset import Dataset
from deltaset.catalog.base import Query
from deltaset.core.chunking import CHUNK_FROM
from deltaset.engine import diff, folder_table, page_indexes
from deltaset.engine.browse import index_path, indexed_entry, write_folder_index
from deltaset.engine.context import Context, default_context
from deltaset.engine.views import final_manifest
from deltaset.ui import indexing
from deltaset.ui.web import local_app

UNICODE = "données/été ü.txt"


def _closed(root: Path, files: dict[str, bytes], parents: list[str] | None = None) -> str:
    for name, data in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)
    ds = Dataset.create(dataset_name="big", dataset_project="p", parent_datasets=parents)
    ds.add_files(str(root))
    ds.upload(show_progress=False)
    ds.finalize()
    return ds.id


def _two_versions(tmp_path: Path) -> tuple[str, str]:
    first = _closed(tmp_path / "a", {"x/1.txt": b"one", "x/2.txt": b"two", UNICODE: b"e"})
    second = _closed(tmp_path / "b", {"x/2.txt": b"changed", "y/3.txt": b"three"}, [first])
    return first, second


def _forget_kept(ctx: Context) -> None:
    for folder in ("folders", "changes"):
        shutil.rmtree(ctx.settings.cache_dir / folder, ignore_errors=True)


def test_a_close_keeps_what_the_pages_of_the_version_read(tmp_path: Path) -> None:
    first, second = _two_versions(tmp_path)
    ctx = default_context()
    record = ctx.catalog.get(second)
    assert page_indexes.ready(ctx, record)
    assert diff.has_changes(ctx, ctx.catalog.get(first), record)  # the compare with its parent
    shown = page_indexes.shown_changes(ctx, record)
    assert shown.added == [("y/3.txt", 5)]
    assert shown.modified == [("x/2.txt", 7)]
    assert (shown.removed, shown.counts) == ([], {"added": 1, "modified": 1, "removed": 0})
    page = diff.change_page(ctx, ctx.catalog.get(first), record)
    assert [(k, c.path, c.size, c.source_size) for k, c in page.changes] == [
        ("modified", "x/2.txt", 7, 3),
        ("added", "y/3.txt", 5, None),
    ]


def test_a_file_entry_comes_from_the_folder_index_when_it_holds_it_whole(tmp_path: Path) -> None:
    big = b"\x01" * CHUNK_FROM
    version_id = _closed(tmp_path / "a", {"small.txt": b"s", UNICODE: b"e", "large.bin": big})
    ctx = default_context()
    record = ctx.catalog.get(version_id)
    manifest = final_manifest(ctx, record)
    for path in ("small.txt", UNICODE):
        assert indexed_entry(ctx, record, path) == manifest[path]
    assert indexed_entry(ctx, record, "large.bin") is None  # its chunk list is not indexed
    assert indexed_entry(ctx, record, "missing.txt") is None
    assert indexed_entry(ctx, record, "données/missing") is None
    index_path(ctx, version_id).unlink()
    assert indexed_entry(ctx, record, "small.txt") is None


def test_a_preview_fetches_the_file_it_shows_and_not_its_neighbours(tmp_path: Path) -> None:
    version_id = _closed(tmp_path / "a", {"a.txt": b"shown", "b.txt": b"stored beside it"})
    ctx = default_context()
    shutil.rmtree(ctx.settings.cache_dir / "blobs", ignore_errors=True)
    app, access = local_app(default_context)
    web = TestClient(app)
    web.get("/?token=" + access.secret)
    page = web.get(f"/versions/{version_id}/file", params={"path": "a.txt"})
    assert page.status_code == 200
    assert "shown" in page.text
    manifest = final_manifest(ctx, ctx.catalog.get(version_id))
    assert ctx.cache.open_intact(manifest["b.txt"]) is None


def test_a_version_closed_elsewhere_is_indexed_in_the_background(tmp_path: Path) -> None:
    first, second = _two_versions(tmp_path)
    ctx = default_context()
    _forget_kept(ctx)
    app, access = local_app(default_context)
    app.state.indexer.inline_most = 0  # as if the version were large
    web = TestClient(app)
    web.get("/?token=" + access.secret)
    waiting = web.get(f"/versions/{second}")
    assert waiting.status_code == 200
    assert "Indexing 4 files of this version" in waiting.text
    assert '<meta http-equiv="refresh" content="2">' in waiting.text
    app.state.indexer.wait()
    assert page_indexes.ready(ctx, ctx.catalog.get(second))
    shown = web.get(f"/versions/{second}")
    assert "Indexing" not in shown.text
    assert "3.txt" in shown.text
    compared = web.get("/compare", params={"source": second, "target": first})
    assert "Comparing 7 files of the two versions" in compared.text
    app.state.indexer.wait()
    again = web.get("/compare", params={"source": second, "target": first})
    assert "Comparing" not in again.text
    assert "y/3.txt" in again.text


def test_the_newest_large_versions_are_indexed_at_start_up(tmp_path: Path) -> None:
    _, second = _two_versions(tmp_path)
    ctx = default_context()
    _forget_kept(ctx)
    indexer = indexing.started(indexing.Indexer(default_context, threading.Lock(), inline_most=0))
    indexer.wait()
    assert all(page_indexes.ready(ctx, r) for r in ctx.catalog.search(Query()))
    assert page_indexes.shown_changes(ctx, ctx.catalog.get(second)).modified == [("x/2.txt", 7)]


@pytest.mark.parametrize("parent_index", ["kept", "damaged"])
def test_a_child_that_changes_a_few_files_keeps_the_index_a_walk_makes(
    tmp_path: Path, parent_index: str
) -> None:
    """Made from its parent's kept index (see engine/folder_updates.py), row for row the same;
    by a walk when the parent's index answers the check but lacks its pages."""
    files = {f"d{i % 4}/{i:02}.txt": b"x" * i for i in range(40)}
    first = _closed(tmp_path / "a", files)
    if parent_index == "damaged":
        kept = index_path(default_context(), first)
        kept.unlink()
        with contextlib.closing(sqlite3.connect(kept)) as db:
            db.executescript(folder_table.SCHEMA)
            db.execute("INSERT INTO folders VALUES (0, -1, 0, x'', x'', 40, 780, 0, 4)")
            db.commit()
    changed = {"d1/01.txt": b"changed", "new/deep/f.txt": b"n"}
    child = tmp_path / "b"
    shutil.copytree(tmp_path / "a", child)
    (child / "d2/02.txt").unlink()
    second = _closed(child, changed, [first])
    ctx = default_context()
    walked = tmp_path / "walked.sqlite"
    write_folder_index(final_manifest(ctx, ctx.catalog.get(second)), walked)
    assert _index_rows(index_path(ctx, second)) == _index_rows(walked)


def _index_rows(target: Path) -> list[list[tuple[object, ...]]]:
    db = sqlite3.connect(target)
    try:
        tables = ("folders", "file_pages", "size_pages")
        return [sorted(db.execute(f"SELECT * FROM {table}")) for table in tables]
    finally:
        db.close()
