"""A cached file changed behind deltaset's back is never served again: not by the version whose
folder was written into, nor by any other version or dataset sharing its content.

Cached folders hard-link the cache's blobs, and read-only bits do not stop root: a write into
one folder changes the blob, and with it every folder linking it. Each get checks the stat of
every file it hands out and repairs what changed (from storage, verified).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import blake3
import pytest

from deltaset import Dataset
from deltaset.core.chunking import CHUNK_FROM
from deltaset.core.manifest import Entry
from deltaset.engine import upload
from deltaset.objects.store import UploadSession
from tests.conftest import (
    Result,
    make_files,
    read_tree,
    run_cli,
    verify_cached_blobs,
    verify_stored_packs,
)
from tests.damage import DAMAGE, append_bytes, flip_a_byte

BIG = os.urandom(CHUNK_FROM + 123_456)  # chunked
SHARED = b"the same bytes in both datasets\n" * 100
FIRST: dict[str, bytes] = {"shared.txt": SHARED, "one.txt": b"only in the first", "big.bin": BIG}
SECOND: dict[str, bytes] = {"sub/shared-too.txt": SHARED, "two.txt": b"only in the second"}


def version(tmp_path: Path, name: str, files: dict[str, bytes]) -> Dataset:
    folder = make_files(tmp_path / f"src-{name}", dict(files))
    ds = Dataset.create(dataset_name=name, dataset_project="damage")
    ds.add_files(str(folder))
    ds.finalize(auto_upload=True)
    return ds


def pulled_afresh(version_id: str, tmp_path: Path) -> dict[str, bytes]:
    """The files of a version pulled from its storage into an empty cache."""
    done = run_cli("get", "--id", version_id, env={"DELTASET_CACHE_DIR": str(tmp_path / "afresh")})
    assert done.returncode == 0, done.stderr
    return read_tree(Path(done.stdout.strip()))


@pytest.fixture
def datasets(tmp_path: Path) -> tuple[Dataset, Dataset]:
    return version(tmp_path, "first", FIRST), version(tmp_path, "second", SECOND)


@pytest.mark.parametrize("damage", list(DAMAGE))
@pytest.mark.parametrize("path", ["shared.txt", "big.bin"])
def test_a_write_into_a_local_copy_is_repaired_on_the_next_get(
    datasets: tuple[Dataset, Dataset], isolation: Path, damage: str, path: str
) -> None:
    first, _ = datasets
    folder = Path(first.get_local_copy())
    DAMAGE[damage](folder / path)
    assert (folder / path).read_bytes() != FIRST[path]
    assert read_tree(Path(first.get_local_copy())) == FIRST
    verify_cached_blobs(isolation / "cache")


@pytest.mark.parametrize("damage", list(DAMAGE))
def test_a_write_into_one_dataset_never_reaches_another(
    datasets: tuple[Dataset, Dataset], isolation: Path, tmp_path: Path, damage: str
) -> None:
    first, second = datasets
    theirs = Path(second.get_local_copy())  # links the same cached blob
    DAMAGE[damage](Path(first.get_local_copy()) / "shared.txt")
    assert read_tree(Path(second.get_local_copy())) == SECOND
    assert read_tree(theirs) == SECOND
    second.get_mutable_local_copy(str(tmp_path / "copy"))
    assert read_tree(tmp_path / "copy") == SECOND
    assert read_tree(Path(first.get_local_copy())) == FIRST
    verify_cached_blobs(isolation / "cache")


@pytest.mark.parametrize("damage", list(DAMAGE))
def test_a_damaged_cache_file_is_never_copied(
    datasets: tuple[Dataset, Dataset], isolation: Path, tmp_path: Path, damage: str
) -> None:
    first, second = datasets
    DAMAGE[damage](Path(first.get_local_copy()) / "shared.txt")
    second.get_mutable_local_copy(str(tmp_path / "copy"))  # from the cache, without a tree
    assert read_tree(tmp_path / "copy") == SECOND


def test_get_copy_and_files_from_the_cli_serve_the_right_bytes(
    datasets: tuple[Dataset, Dataset], cli: Callable[..., Result], tmp_path: Path
) -> None:
    first, _ = datasets
    flip_a_byte(Path(first.get_local_copy()) / "shared.txt")
    copied = cli("get", "--id", first.id, "--copy", str(tmp_path / "copy"))
    assert copied.exit_code == 0, copied.stderr
    assert read_tree(tmp_path / "copy") == FIRST
    append_bytes(Path(first.get_local_copy()) / "shared.txt")
    subset = cli("get", "--id", first.id, "--files", "*.txt")
    assert subset.exit_code == 0, subset.stderr
    wanted = {p: b for p, b in FIRST.items() if p.endswith(".txt")}
    assert read_tree(Path(subset.stdout.strip())) == wanted


def test_a_new_folder_linking_the_same_blobs_costs_no_repair(
    datasets: tuple[Dataset, Dataset],
) -> None:
    """Linking a blob into another folder changes its ctime: that alone is no damage."""
    first, second = datasets
    folder = Path(first.get_local_copy())
    inode = (folder / "shared.txt").stat().st_ino
    second.get_local_copy()  # a second link to the shared blob
    assert Path(first.get_local_copy()) == folder
    assert (folder / "shared.txt").stat().st_ino == inode  # checked, not fetched again
    assert read_tree(folder) == FIRST


def test_a_deleted_file_of_a_local_copy_comes_back(
    datasets: tuple[Dataset, Dataset],
) -> None:
    first, _ = datasets
    folder = Path(first.get_local_copy())
    (folder / "one.txt").unlink()
    assert read_tree(Path(first.get_local_copy())) == FIRST


def test_a_folder_cached_without_a_record_is_checked_once_not_fetched_again(
    datasets: tuple[Dataset, Dataset], isolation: Path
) -> None:
    """Folders cached by an older deltaset have no record: they are checked, then recorded."""
    first, _ = datasets
    folder = Path(first.get_local_copy())
    inode = (folder / "big.bin").stat().st_ino
    for record in (isolation / "cache" / "records").iterdir():
        record.unlink()
    flip_a_byte(folder / "shared.txt")
    assert read_tree(Path(first.get_local_copy())) == FIRST
    assert (folder / "big.bin").stat().st_ino == inode
    assert list((isolation / "cache" / "records").iterdir())


def test_a_write_through_a_folder_of_symbolic_links_is_repaired(
    datasets: tuple[Dataset, Dataset],
) -> None:
    first, second = datasets
    folder = Path(first.get_local_copy(use_soft_links=True))
    append_bytes(folder / "shared.txt")  # writes the cached blob itself
    assert read_tree(Path(first.get_local_copy(use_soft_links=True))) == FIRST
    assert read_tree(Path(second.get_local_copy())) == SECOND


@pytest.mark.parametrize("damage", list(DAMAGE))
def test_a_squash_into_another_storage_stores_no_damaged_cache_file(
    datasets: tuple[Dataset, Dataset], tmp_path: Path, damage: str
) -> None:
    """The files the other storage lacks are sent from the cache: checked, not trusted."""
    first, second = datasets
    folder = Path(first.get_local_copy())
    DAMAGE[damage](folder / "shared.txt")
    DAMAGE[damage](folder / "big.bin")
    other = tmp_path / "other-storage"
    squashed = Dataset.squash("flat", [first.id, second.id], output_url=str(other))
    assert squashed.get_default_storage() == other.as_uri()
    stored = verify_stored_packs(other)
    assert blake3.blake3(SHARED).hexdigest() in stored.indexed
    assert pulled_afresh(squashed.id, tmp_path) == FIRST | SECOND


@pytest.fixture
def damaged_as_sent(isolation: Path, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Each cache file an upload reads is written into just before it is read (after every
    check of the cache), as a careless process could; the list names the files damaged."""
    cache = str(isolation / "cache")
    damaged: list[str] = []
    blobs: set[str] = set()  # (a blob fetched again may have a file elsewhere: once a blob)
    put_file, put_chunked = UploadSession.put_file, upload._put_chunked

    def damage_once(source: str | Path, blob_id: str) -> None:
        if str(source).startswith(cache) and blob_id not in blobs:
            blobs.add(blob_id)
            damaged.append(str(source))
            DAMAGE[list(DAMAGE)[len(damaged) % 2]](Path(source))

    def written_into_then_put(session: UploadSession, blob_id: str, source: str) -> bool:
        damage_once(source, blob_id)
        return put_file(session, blob_id, source)

    def written_into_then_chunked(
        session: UploadSession, entry: Entry, source: str, *bases: Any
    ) -> Any:
        damage_once(source, entry.blob_id)
        return put_chunked(session, entry, source, *bases)

    monkeypatch.setattr(UploadSession, "put_file", written_into_then_put)
    monkeypatch.setattr(upload, "_put_chunked", written_into_then_chunked)
    return damaged


def test_a_cache_file_damaged_as_a_close_sends_it_is_fetched_again(
    datasets: tuple[Dataset, Dataset], tmp_path: Path, damaged_as_sent: list[str]
) -> None:
    """A close sends a parent's files its storage lacks from the cache; the upload's own hash
    catches a write into one: it is fetched again, and only its true bytes are stored."""
    first, _ = datasets
    first.get_local_copy()
    other = tmp_path / "other-storage"
    child = Dataset.create("child", "damage", parent_datasets=[first.id], output_uri=str(other))
    child.add_files(str(make_files(tmp_path / "new", {"new.txt": b"a new file"})))
    child.finalize(auto_upload=True)
    assert len(damaged_as_sent) == len(FIRST)  # each inherited file, read from the cache
    verify_stored_packs(other)
    assert pulled_afresh(child.id, tmp_path) == FIRST | {"new.txt": b"a new file"}


def test_a_cache_file_damaged_as_a_squash_sends_it_is_fetched_again(
    datasets: tuple[Dataset, Dataset], tmp_path: Path, damaged_as_sent: list[str]
) -> None:
    first, second = datasets
    other = tmp_path / "other-storage"
    squashed = Dataset.squash("flat", [first.id, second.id], output_url=str(other))
    assert len(damaged_as_sent) == len(FIRST) + len(SECOND) - 1  # shared.txt: sent once
    verify_stored_packs(other)
    assert pulled_afresh(squashed.id, tmp_path) == FIRST | SECOND


def test_a_squashed_draft_whose_cache_files_are_gone_says_so(
    datasets: tuple[Dataset, Dataset], tmp_path: Path
) -> None:
    first, _ = datasets
    other = tmp_path / "other-storage"
    draft = Dataset.squash("flat", [first.id], output_url=str(other), close_squashed_dataset=False)
    assert run_cli("cache", "purge").returncode == 0
    done = run_cli("close", "--id", draft.id)
    assert done.returncode == 1
    assert done.stderr == (
        f"error: {len(FIRST)} files of {draft.id} are missing from this machine's cache, where "
        "the squash that made this draft put them; squash its sources again.\n"
    )
