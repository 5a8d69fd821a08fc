"""What the web catalog's pages read: paged folders, previews, compare helpers, archives."""

from __future__ import annotations

import io
import json
import os
import sys
import tarfile
import zipfile
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from deltaset import Dataset
from deltaset.core.chunking import CHUNK_FROM
from deltaset.engine import archive, browse, diff, preview, tables
from deltaset.engine.context import default_context
from deltaset.errors import InvalidInputError, NotFoundError
from deltaset.storage import open_storage
from tests.api.helpers import version_of

WILD = "<img src=x onerror=alert(1)>.txt"


def bytes_read(ds: Dataset) -> int:
    return open_storage(ds.get_default_storage()).stats.bytes_read


def tree_files() -> dict[str, bytes | str]:
    files: dict[str, bytes | str] = {f"imgs/{i:03d}.jpg": b"j" * i for i in range(1, 26)}
    files |= {"imgs/train/a.jpg": b"x" * 1000, "imgs/val/b.jpg": b"y" * 7, "top.txt": "hello"}
    files[WILD] = "escaped"
    return files


def test_a_folder_lists_its_subfolders_with_totals_then_its_files_page_by_page(
    tmp_path: Path,
) -> None:
    ds = version_of(tmp_path, tree_files())
    ctx = default_context()
    root = browse.browse(ctx, ds.record)
    assert [f.name for f in root.folders] == ["imgs"]
    assert (root.folders[0].files, root.folders[0].bytes) == (27, 325 + 1007)
    assert [f.name for f in root.files] == [WILD, "top.txt"]  # "<" sorts before "t"
    first = browse.browse(ctx, ds.record, "imgs", offset=0, limit=10)
    assert [f.name for f in first.folders] == ["train", "val"]
    assert [f.name for f in first.files] == [f"{i:03d}.jpg" for i in range(1, 9)]
    assert first.files[0].path == "imgs/001.jpg"
    assert first.files[0].size == 1
    assert (first.subfolder_count, first.file_count, first.next_offset) == (2, 25, 10)
    last = browse.browse(ctx, ds.record, "imgs", offset=20, limit=10)
    assert [f.name for f in last.files] == [f"{i:03d}.jpg" for i in range(19, 26)]
    assert last.folders == ()
    assert last.next_offset is None
    by_size = browse.browse(ctx, ds.record, "imgs", limit=4, sort="size")
    assert [f.name for f in by_size.folders] == ["train", "val"]
    assert [f.size for f in by_size.files] == [25, 24]


def test_a_kept_folder_index_answers_without_decoding_the_manifest(tmp_path: Path) -> None:
    ds = version_of(tmp_path, tree_files())
    ctx = default_context()
    browse.browse(ctx, ds.record, "imgs")
    assert browse.index_path(ctx, ds.id).is_file()
    ctx.manifests.clear()
    page = browse.browse(ctx, ds.record, "imgs/train")
    assert [f.path for f in page.files] == ["imgs/train/a.jpg"]
    assert ctx.manifests == {}  # answered from the index alone


def test_a_damaged_folder_index_is_built_again(tmp_path: Path) -> None:
    ds = version_of(tmp_path, tree_files())
    ctx = default_context()
    browse.browse(ctx, ds.record)
    browse.index_path(ctx, ds.id).write_bytes(b"not a database")
    assert browse.browse(ctx, ds.record, "imgs").file_count == 25


def test_a_draft_is_browsed_as_it_stands(tmp_path: Path) -> None:
    base = version_of(tmp_path, {"a/1.txt": "1"})
    draft = Dataset.create(dataset_name="n", dataset_project="p", parent_datasets=[base.id])
    folder = tmp_path / "more"
    (folder / "a").mkdir(parents=True)
    (folder / "a" / "2.txt").write_text("22")
    draft.add_files(str(folder))
    page = browse.browse(default_context(), draft.record, "a")
    assert [f.name for f in page.files] == ["1.txt", "2.txt"]


def test_bad_folder_and_page_requests_get_one_sentence(tmp_path: Path) -> None:
    ds = version_of(tmp_path, {"a/1.txt": "1"})
    ctx = default_context()
    with pytest.raises(NotFoundError, match="has no folder nope"):
        browse.browse(ctx, ds.record, "nope")
    with pytest.raises(InvalidInputError):
        browse.browse(ctx, ds.record, "../etc")
    with pytest.raises(InvalidInputError):
        browse.browse(ctx, ds.record, limit=0)


def test_a_text_preview_shows_the_first_bytes_without_a_cut_character(tmp_path: Path) -> None:
    text = "é" * 100  # two bytes each: a cap of 11 bytes cuts one in half
    ds = version_of(tmp_path, {"t.md": text, "b.bin": b"\0\1\2" * 10, "page.html": "<b>x</b>"})
    ctx = default_context()
    shown = preview.text_preview(ctx, ds.record, "t.md", max_bytes=11)
    assert shown.text == "é" * 5
    assert shown.truncated
    assert not shown.binary
    whole = preview.text_preview(ctx, ds.record, "t.md")
    assert whole.text == text
    assert not whole.truncated
    assert preview.text_preview(ctx, ds.record, "b.bin").binary
    assert preview.file_info(ctx, ds.record, "t.md").kind == "text"
    assert preview.file_info(ctx, ds.record, "page.html").content_type == "text/plain"


def test_a_byte_range_of_a_large_file_reads_about_that_range(tmp_path: Path) -> None:
    video = b"\0\0\0\x18ftypmp42" + os.urandom(3 * CHUNK_FROM)
    ds = version_of(tmp_path, {"clip.mp4": video})
    ctx = default_context()
    before = bytes_read(ds)
    start = len(video) // 2
    found = preview.byte_range(ctx, ds.record, "clip.mp4", start, start + 100_000)
    assert (found.content_type, found.size, found.length) == ("video/mp4", len(video), 100_000)
    assert b"".join(found.chunks) == video[start : start + 100_000]
    assert bytes_read(ds) - before < len(video) // 4  # a few chunks, not the file
    with pytest.raises(InvalidInputError):
        preview.byte_range(ctx, ds.record, "clip.mp4", len(video))


def large_parquet(path: Path) -> pa.Table:
    rows = 40_000
    table = pa.table(
        {
            "id": pa.array(range(rows), pa.int64()),
            "noise": [os.urandom(120).hex() for _ in range(rows)],
        }
    )
    pq.write_table(table, path, row_group_size=1000, compression="none")
    return table


def test_the_first_rows_of_a_large_parquet_file_read_a_small_part_of_it(tmp_path: Path) -> None:
    source = tmp_path / "t.parquet"
    table = large_parquet(source)
    size = source.stat().st_size
    assert size > 2 * CHUNK_FROM  # chunked, so it is read in place by ranges
    ds = version_of(tmp_path, {"t.parquet": source.read_bytes()})
    ctx = default_context()
    before = bytes_read(ds)
    page = tables.table_page(ctx, ds.record, "t.parquet", offset=0, limit=20)
    assert bytes_read(ds) - before < size // 4
    assert page.columns == (("id", "int64"), ("noise", "string"))
    assert [r[0] for r in page.rows] == list(range(20))
    assert page.total_rows == 40_000
    assert page.more
    later = tables.table_page(ctx, ds.record, "t.parquet", offset=12_345, limit=3)
    assert [r[1] for r in later.rows] == table.column("noise").to_pylist()[12_345:12_348]


def test_csv_tsv_jsonl_and_arrow_pages_with_types(tmp_path: Path) -> None:
    buffer = io.BytesIO()
    arrow_table = pa.table({"k": ["a", "b", "c"], "v": [1.5, 2.5, 3.5]})
    with pa.ipc.new_file(buffer, arrow_table.schema) as writer:
        writer.write_table(arrow_table, max_chunksize=1)
    lines = "\n".join(json.dumps({"n": i, "s": f"r{i}"}) for i in range(10))
    files: dict[str, bytes | str] = {
        "t.csv": "x,y\n" + "".join(f"{i},w{i}\n" for i in range(100)),
        "t.tsv": "x\ty\n1\tone\n2\ttwo\n",
        "t.jsonl": lines,
        "t.arrow": buffer.getvalue(),
    }
    ds = version_of(tmp_path, files)
    ctx = default_context()
    csv_page = tables.table_page(ctx, ds.record, "t.csv", offset=95, limit=10)
    assert csv_page.columns == (("x", "int64"), ("y", "string"))
    assert csv_page.rows == tuple((i, f"w{i}") for i in range(95, 100))
    assert not csv_page.more
    assert tables.table_page(ctx, ds.record, "t.tsv").rows == ((1, "one"), (2, "two"))
    jsonl = tables.table_page(ctx, ds.record, "t.jsonl", offset=8)
    assert jsonl.rows == ((8, "r8"), (9, "r9"))
    assert jsonl.columns[0] == ("n", "int64")
    arrow = tables.table_page(ctx, ds.record, "t.arrow", offset=1, limit=1)
    assert arrow.rows == (("b", 2.5),)
    assert arrow.more


def test_a_table_preview_of_a_non_table_or_without_pyarrow_is_one_sentence(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ds = version_of(tmp_path, {"a.txt": "x", "t.csv": "a\n1\n", "bad.jsonl": "{nope\n"})
    ctx = default_context()
    with pytest.raises(InvalidInputError, match="is not a table"):
        tables.table_page(ctx, ds.record, "a.txt")
    with pytest.raises(InvalidInputError, match="cannot be read as a jsonl table"):
        tables.table_page(ctx, ds.record, "bad.jsonl")
    monkeypatch.setitem(sys.modules, "pyarrow", None)
    with pytest.raises(InvalidInputError, match="'tables' extra"):
        tables.table_page(ctx, ds.record, "t.csv")


def test_compare_helpers_diff_text_tables_and_filter_changes(tmp_path: Path) -> None:
    v1 = version_of(
        tmp_path,
        {"a.txt": "one\ntwo\nthree\n", "t.csv": "x\n1\n2\n", "b.bin": b"\0\1", "imgs/1.jpg": "1"},
    )
    v2 = version_of(
        tmp_path,
        {
            "a.txt": "one\n2\nthree\n",
            "t.csv": "x,y\n1,a\n2,b\n3,c\n",
            "b.bin": b"\0\2",
            "imgs/2.jpg": "2",
        },
        parents=[v1.id],
    )
    ctx = default_context()
    text = diff.text_diff(ctx, v1.record, v2.record, "a.txt")
    assert "-two\n" in text.lines
    assert "+2\n" in text.lines
    assert text.reason is None
    assert diff.text_diff(ctx, v1.record, v2.record, "b.bin").reason == "binary"
    assert diff.text_diff(ctx, v1.record, v2.record, "a.txt", max_bytes=4).reason == "too large"
    change = diff.table_change(ctx, v1.record, v2.record, "t.csv")
    assert change.source is not None
    assert change.target is not None
    assert (change.source.rows, change.target.rows) == (2, 3)
    assert change.added_columns == ("y",)
    assert change.removed_columns == ()
    page = diff.change_page(ctx, v1.record, v2.record, path_filter="IMGS/")
    assert [(k, c.path) for k, c in page.changes] == [
        ("removed", "imgs/1.jpg"),
        ("added", "imgs/2.jpg"),
    ]
    assert (page.total, page.added, page.removed, page.modified) == (2, 1, 1, 0)
    first = diff.change_page(ctx, v1.record, v2.record, kinds=("modified",), limit=2)
    assert [c.path for _, c in first.changes] == ["a.txt", "b.bin"]
    assert first.next_offset == 2


def test_a_folder_downloads_as_a_streamed_tar_or_zip(tmp_path: Path) -> None:
    big = os.urandom(CHUNK_FROM + 12345)
    files: dict[str, bytes | str] = {"d/x.txt": "x", "d/e/big.bin": big, "other.txt": "o"}
    ds = version_of(tmp_path, files)
    ctx = default_context()
    pieces = list(archive.stream_archive(ctx, ds.record, "d", "tar"))
    assert max(len(p) for p in pieces) <= archive.READ_CHUNK  # streamed, not built whole
    with tarfile.open(fileobj=io.BytesIO(b"".join(pieces))) as tar:
        got = {m.name: tar.extractfile(m).read() for m in tar.getmembers()}  # type: ignore[union-attr]
    assert got == {"e/big.bin": big, "x.txt": b"x"}
    out = io.BytesIO()
    archive.write_archive(ctx, ds.record, out, "", "zip")
    with zipfile.ZipFile(out) as zipped:
        assert zipped.testzip() is None
        assert zipped.read("d/e/big.bin") == big
        assert zipped.read("other.txt") == b"o"
    with pytest.raises(NotFoundError):
        archive.stream_archive(ctx, ds.record, "nope")


def test_kept_changes_answer_further_pages_without_the_manifests(tmp_path: Path) -> None:
    v1 = version_of(tmp_path, {f"f{i}.txt": str(i) for i in range(10)})
    v2 = version_of(tmp_path, {f"f{i}.txt": str(i * 2) for i in range(3, 12)}, parents=[v1.id])
    ctx = default_context()
    first = diff.change_page(ctx, v1.record, v2.record, limit=5)
    assert diff.changes_path(ctx, v1.id, v2.id).is_file()
    ctx.manifests.clear()
    second = diff.change_page(ctx, v1.record, v2.record, offset=5, limit=5)
    assert ctx.manifests == {}  # answered from the kept changes alone
    paths = [c.path for _, c in first.changes + second.changes]
    assert paths == sorted(f"f{i}.txt" for i in range(12))[:10]  # 0-2 removed, 10-11 added
    assert (second.added, second.modified, second.removed) == (2, 7, 3)
    with pytest.raises(InvalidInputError):
        diff.change_page(ctx, v1.record, v2.record, kinds=("renamed",))  # type: ignore[arg-type]


def test_a_folder_of_many_small_files_downloads_in_a_few_storage_reads(tmp_path: Path) -> None:
    files: dict[str, bytes | str] = {f"many/{i:03d}.txt": f"file {i}" for i in range(200)}
    ds = version_of(tmp_path, files)
    storage = open_storage(ds.get_default_storage())
    before = storage.stats.reads
    out = io.BytesIO()
    archive.write_archive(default_context(), ds.record, out, "many")
    assert storage.stats.reads - before < 20  # by pack, not one request per file
    out.seek(0)
    with tarfile.open(fileobj=out) as tar:
        assert len(tar.getmembers()) == 200
