"""A close keeps a copy of each large file it stores as deltas in the cache: the next close reads
its bases there instead of rebuilding them from storage, and a get of the closed version is
warm; a copy whose bytes changed is never used, and the cache keeps to its size limit."""

from __future__ import annotations

import contextlib
import random
import sqlite3
from collections.abc import Iterable, Iterator
from pathlib import Path

import pytest

from deltaset import Dataset
from deltaset.core.hashing import blob_id_of
from deltaset.engine import deltas as deltas_module
from deltaset.engine import upload as upload_module
from deltaset.engine.context import default_context
from deltaset.engine.deltas import raw_of
from deltaset.objects.store import BlobStore, Rebuilt
from tests.cache_files import blob_files, cache_info, killed_at, leftovers, paused_at
from tests.conftest import forget_context, make_files, read_tree
from tests.damage import cached_blob, flip_a_byte
from tests.integration.test_deltas import as_bytes, close, cold_copy, evolve, rows
from tests.tmpfs import Mount, fill


def tables(seed: int) -> Iterator[dict[str, bytes | str]]:
    """The files of each version: a large table (stored as chunks) and a small one."""
    rng = random.Random(seed)
    big, small = rows(rng, 130_000), rows(rng, 2_000)
    while True:
        yield {"big.csv": "".join(big), "small.csv": "".join(small)}
        big, small = evolve(rng, big), evolve(rng, small)


def blob_ids(ds: Dataset) -> dict[str, str]:
    return {path: entry.hash for path, entry in ds.file_entries_dict.items()}


def second_draft(tmp_path: Path, seed: int) -> tuple[dict[str, bytes | str], str, str]:
    """The first version of ``tables(seed)`` closed, and the second staged in a draft to
    close in a process of its own: the draft's files, its id, and that of its large file."""
    versions = tables(seed)
    first = close(tmp_path, next(versions), None)
    files = next(versions)
    draft = Dataset.create(dataset_name="t", dataset_project="p", parent_datasets=[first.id])
    draft.sync_folder(str(make_files(tmp_path / "next", files)))
    forget_context()
    return files, draft.id, blob_id_of(as_bytes(files)["big.csv"])


@pytest.fixture
def rebuilt(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The ids of every base a close rebuilds from storage (rather than reads at hand)."""
    found: list[str] = []

    def counting(store: BlobStore, ids: Iterable[str], memo: Rebuilt | None = None) -> dict:
        listed = list(ids)
        found.extend(listed)
        return raw_of(store, listed, memo)

    monkeypatch.setattr(deltas_module, "raw_of", counting)
    monkeypatch.setattr(upload_module, "raw_of", counting)
    return found


def test_a_close_reads_its_bases_from_the_copies_the_close_before_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, rebuilt: list[str]
) -> None:
    versions = tables(1)
    first = close(tmp_path, next(versions), None)
    second = close(tmp_path, next(versions), first)
    assert rebuilt  # the first version was stored whole: no copy of it was kept
    assert cached_blob(blob_ids(second)["big.csv"]).is_file()
    assert not cached_blob(blob_ids(second)["small.csv"]).exists()  # a small file's is not kept
    rebuilt.clear()
    files = next(versions)
    third = close(tmp_path, files, second)
    assert rebuilt == [blob_ids(second)["small.csv"]]  # no chunk of the large file's base
    assert 0 < third.record.stats.stored_bytes < 0.2 * first.record.stats.stored_bytes
    # The copy of the content the third version replaced went, no folder linking it.
    assert not cached_blob(blob_ids(second)["big.csv"]).exists()
    assert cached_blob(blob_ids(third)["big.csv"]).is_file()
    assert cold_copy(tmp_path, monkeypatch, third) == as_bytes(files)


def test_a_get_after_a_close_is_served_from_the_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    versions = tables(2)
    first = close(tmp_path, next(versions), None)
    files = next(versions)
    second = close(tmp_path, files, first)
    forget_context()
    fetched: list[str] = []
    read = BlobStore.read

    def counting(store: BlobStore, ids: Iterable[str], *args: object, **kwargs: object) -> int:
        listed = list(ids)
        fetched.extend(listed)
        return read(store, listed, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(BlobStore, "read", counting)
    folder = Path(Dataset.get(dataset_id=second.id).get_local_copy())
    assert fetched == [blob_ids(second)["small.csv"]]  # not the large file, nor its chunks
    assert read_tree(folder) == as_bytes(files)


def test_a_damaged_copy_is_neither_used_as_a_base_nor_served(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, rebuilt: list[str]
) -> None:
    versions = tables(3)
    first = close(tmp_path, next(versions), None)
    kept = next(versions)
    second = close(tmp_path, kept, first)
    flip_a_byte(cached_blob(blob_ids(second)["big.csv"]))
    rebuilt.clear()
    files = next(versions)
    third = close(tmp_path, files, second)
    assert len(rebuilt) > 1  # the damaged copy was found out: the chunks came from storage
    assert cold_copy(tmp_path, monkeypatch, third) == as_bytes(files)
    forget_context()
    monkeypatch.delenv("DELTASET_CACHE_DIR")  # the cache holding the damaged copies
    assert read_tree(Path(Dataset.get(dataset_id=second.id).get_local_copy())) == as_bytes(kept)


def test_the_copies_keep_to_the_cache_limit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    versions = tables(4)
    first = close(tmp_path, next(versions), None)
    files = next(versions)
    size = len(files["big.csv"])
    for limit, kept in ((size - 1, False), (size * 3 // 2, True)):
        monkeypatch.setenv("DELTASET_CACHE_LIMIT", str(limit))
        forget_context()
        first = close(tmp_path, files, first)
        files = next(versions)
        assert cached_blob(blob_ids(first)["big.csv"]).is_file() == kept
        cache = default_context().cache
        assert cache.usage().total_bytes <= limit
        assert sum(p.stat().st_size for p in blob_files(cache.root)) <= limit
        assert leftovers(cache.root) == []


def test_no_copy_is_kept_when_the_setting_is_off(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DELTASET_CACHE_ON_CLOSE", "off")
    versions = tables(5)
    first = close(tmp_path, next(versions), None)
    second = close(tmp_path, next(versions), first)
    assert not any(cached_blob(b).exists() for b in blob_ids(second).values())
    assert default_context().cache.usage().blob_count == 0


@pytest.mark.parametrize("point", ["closed_copies.after_write", "upload.after_blob"])
def test_a_close_killed_while_keeping_copies_leaves_the_cache_accounted_for(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, point: str
) -> None:
    """Killed while the large file's copy is written, or once it is linked but before its
    index row is written: the next cache opened removes the partial copy, or adopts the whole
    one (its id was logged first), hashed."""
    files, draft, big = second_draft(tmp_path, 6)
    killed_at(point, "close", "--id", draft)
    cache = default_context().cache
    assert leftovers(cache.root) == []
    if point == "upload.after_blob":
        assert list(cache.index.known([big])) == [big]
        assert set(cache.unchanged([big])) == {big}
    else:
        assert not cache.index.known([big])
        assert not cached_blob(big).exists()
    Dataset.get(dataset_id=draft).finalize(auto_upload=True)
    assert cold_copy(tmp_path, monkeypatch, Dataset.get(dataset_id=draft)) == as_bytes(files)


def test_a_copy_written_into_before_its_row_is_not_vouched_for(tmp_path: Path) -> None:
    """A close paused once the large file's copy is linked, before its index row: a write
    into the copy then (size and mtime kept) leaves a row holding the stat the copy had as
    linked, so the cache hashes it before trusting it, and finds it out."""
    _, draft, big = second_draft(tmp_path, 7)
    copy = cached_blob(big)
    closed = paused_at("upload.after_blob", copy, lambda: flip_a_byte(copy), "close", "--id", draft)
    assert closed.returncode == 0, closed.stderr
    cache = default_context().cache
    assert list(cache.index.known([big])) == [big]
    assert not cache.unchanged([big])


def test_copies_whose_rows_a_full_cache_cannot_take_are_counted_by_the_next_sweep(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tmpfs: Mount
) -> None:
    """The cache's disk fills once the large file's copy is linked, before its index row: the
    close succeeds all the same, and leaves the copy's log, by which the next cache opened
    accounts for the copy, with the stat it had as linked."""
    cache = tmpfs("cache", "32m")
    monkeypatch.setenv("DELTASET_CACHE_DIR", str(cache))
    files, draft, big = second_draft(tmp_path, 8)
    copy = cached_blob(big)  # no cache opened here: it would sweep
    closed = paused_at("upload.after_blob", copy, lambda: fill(cache), "close", "--id", draft)
    assert closed.returncode == 0, closed.stderr
    (cache / "filler").unlink()
    [left] = leftovers(cache)
    assert left.endswith(".linked")
    assert not rows_of(cache / "index.db", [big])

    assert cache_info() == (copy.stat().st_size, 1)
    assert leftovers(cache) == []
    assert set(default_context().cache.unchanged([big])) == {big}
    assert cold_copy(tmp_path, monkeypatch, Dataset.get(dataset_id=draft)) == as_bytes(files)


def rows_of(index: Path, blob_ids: list[str]) -> list[str]:
    """The ids of ``blob_ids`` the cache index at ``index`` has a row for, read as it is."""
    with contextlib.closing(sqlite3.connect(f"file:{index}?mode=ro", uri=True)) as db:
        found = db.execute(
            f"SELECT id FROM cached_blobs WHERE id IN ({','.join('?' * len(blob_ids))})",
            [bytes.fromhex(b) for b in blob_ids],
        )
        return [raw.hex() for (raw,) in found]
