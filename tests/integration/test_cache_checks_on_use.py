"""Every way a get uses a cached blob holds to the rule the hard-linked get follows: the file
must have the stat the cache recorded (else it is hashed, else fetched again), checked as it
is used, not minutes before: a writable copy, a folder of symbolic links, a new folder linking
blobs a get of another version cached, a read in place.

The writes are a careless root process's (read-only bits do not stop it), times put back: only
the ctime and, for some, the size tell them.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import blake3
import pytest

from deltaset import Dataset
from deltaset.cache.blobs import BlobCache
from deltaset.core.chunking import CHUNK_FROM
from deltaset.errors import IntegrityError
from tests.conftest import Result, forget_context, make_files, read_tree, verify_cached_blobs
from tests.damage import DAMAGE, cached_blob, flip_a_byte

FILES = {
    "a.txt": b"alpha " * 300,
    "sub/b.bin": os.urandom(5000),
    "mid.bin": os.urandom(100_000),  # larger than a read's buffer, smaller than a chunk
    "sub/again-a.txt": b"alpha " * 300,  # one blob at two paths
    "big.bin": os.urandom(CHUNK_FROM + 1234),  # chunked
}
DAMAGED = ["a.txt", "big.bin"]
FIRST = {"hard links": False, "symbolic links": True}  # how the blobs were cached first


def blob_of(path: str) -> str:
    return blake3.blake3(FILES[path]).hexdigest()


@pytest.fixture
def version(tmp_path: Path) -> Dataset:
    ds = Dataset.create(dataset_name="checks", dataset_project="cache")
    ds.add_files(str(make_files(tmp_path / "src", dict(FILES))))
    ds.finalize(auto_upload=True)
    return ds


def cached_by(ds: Dataset, first: str) -> Dataset:
    """``ds`` got once (its blobs cached), as a new process sees it."""
    ds.get_local_copy(use_soft_links=FIRST[first])
    forget_context()
    return Dataset.get(dataset_id=ds.id)


def all_served_right(ds_id: str, cache: Path) -> None:
    """Every way of getting the version serves its bytes, and the cache holds only right ones."""
    forget_context()
    ds = Dataset.get(dataset_id=ds_id)
    assert read_tree(Path(ds.get_local_copy())) == FILES
    assert read_tree(Path(ds.get_local_copy(use_soft_links=True))) == FILES
    assert read_tree(Path(ds.get_local_copy(files=["*"]))) == FILES
    verify_cached_blobs(cache)


@pytest.mark.parametrize("damage", list(DAMAGE))
@pytest.mark.parametrize("first", list(FIRST))
def test_a_copy_and_a_folder_of_symbolic_links_never_use_a_cached_file_written_into(
    version: Dataset,
    isolation: Path,
    tmp_path: Path,
    cli: Callable[..., Result],
    damage: str,
    first: str,
) -> None:
    cached_by(version, first)
    for path in DAMAGED:
        DAMAGE[damage](cached_blob(blob_of(path)))
    copied = cli("get", "--id", version.id, "--copy", str(tmp_path / "copy"))
    assert copied.exit_code == 0, copied.stderr
    assert read_tree(tmp_path / "copy") == FILES
    linked = cli("get", "--id", version.id, "--soft-links")
    assert linked.exit_code == 0, linked.stderr
    assert read_tree(Path(linked.stdout.strip())) == FILES
    all_served_right(version.id, isolation / "cache")


@pytest.mark.parametrize("damage", list(DAMAGE))
@pytest.mark.parametrize("first", list(FIRST))
def test_a_read_in_place_never_uses_a_cached_file_written_into(
    version: Dataset, isolation: Path, damage: str, first: str
) -> None:
    again = cached_by(version, first)
    for path in DAMAGED:
        DAMAGE[damage](cached_blob(blob_of(path)))
    for path in DAMAGED:
        with again.open(path) as handle:
            assert handle.read() == FILES[path]
    verify_cached_blobs(isolation / "cache")


def written_into_once_checked(monkeypatch: pytest.MonkeyPatch, blob_id: str) -> list[str]:
    """Write into ``blob_id``'s cached file right after the cache found it intact, once: as
    a root process could between a get's check and its use of the file. Returns the files
    written into."""
    check = BlobCache.missing
    written: list[str] = []

    def checked_then_written(self: BlobCache, entries: Any, *args: Any, **kwargs: Any) -> Any:
        lacking = check(self, entries, *args, **kwargs)
        if not written and blob_id in entries and blob_id not in lacking:
            written.append(self.file_of(blob_id))
            flip_a_byte(Path(written[0]))
        return lacking

    monkeypatch.setattr(BlobCache, "missing", checked_then_written)
    return written


GETS: dict[str, Callable[[Dataset, Path], Path]] = {
    "a writable copy": lambda ds, tmp: Path(ds.get_mutable_local_copy(str(tmp / "copy"))),
    "a new folder of symbolic links": lambda ds, _: Path(
        ds.get_local_copy(use_soft_links=True, files=["*"])
    ),
    "a new folder of hard links": lambda ds, _: Path(ds.get_local_copy(files=["*"])),
}


@pytest.mark.parametrize("path", DAMAGED)
@pytest.mark.parametrize("first", list(FIRST))
@pytest.mark.parametrize("get", list(GETS))
def test_a_cached_file_written_into_after_its_check_is_never_served(
    version: Dataset,
    isolation: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    get: str,
    first: str,
    path: str,
) -> None:
    """A folder build links the blobs it found cached at its end, after all of its fetches:
    a stat taken then, recorded for the folder and the blob, would vouch for what the file
    holds by then. A copy made from a file written into as it was copied may hold anything."""
    again = cached_by(version, first)
    with monkeypatch.context() as patched:
        written = written_into_once_checked(patched, blob_of(path))
        got = GETS[get](again, tmp_path)
    if get == "a new folder of symbolic links" and first == "hard links" and path == "a.txt":
        assert not written  # a blob at home in a folder is fetched into blobs/ for a link
    else:
        assert written
    assert read_tree(got) == FILES
    all_served_right(version.id, isolation / "cache")


@pytest.mark.parametrize("first", list(FIRST))
def test_a_repair_never_links_a_cached_file_written_into_after_its_check(
    version: Dataset, isolation: Path, monkeypatch: pytest.MonkeyPatch, first: str
) -> None:
    """A file gone from a cached folder is linked back from its blob, checked first: the
    blob's file written into between that check and the link is checked again, never
    linked and recorded as it is."""
    again = cached_by(version, first)
    folder = Path(again.get_local_copy(use_soft_links=FIRST[first]))
    os.chmod(folder / "sub", 0o755)
    (folder / "sub/again-a.txt").unlink()  # a.txt links the same blob
    with monkeypatch.context() as patched:
        written = written_into_once_checked(patched, blob_of("a.txt"))
        assert read_tree(Path(again.get_local_copy(use_soft_links=FIRST[first]))) == FILES
    assert written
    all_served_right(version.id, isolation / "cache")


def test_a_file_open_in_place_never_reads_its_cached_file_written_into_meanwhile(
    version: Dataset, isolation: Path
) -> None:
    """A reader may hold a file open for long: each read is checked, not only the opening.
    Another folder linking the blob moves the file's ctime too, which is no damage."""
    again = cached_by(version, "hard links")
    expected = FILES["mid.bin"]
    with again.open("mid.bin") as handle:
        assert handle.read(100) == expected[:100]
        again.get_local_copy(files=["*.bin"])  # links the blob into a new folder
        handle.seek(20_000)
        assert handle.read(100) == expected[20_000:20_100]
        flip_a_byte(cached_blob(blob_of("mid.bin")))  # byte 50,000
        handle.seek(40_000)
        with pytest.raises(IntegrityError, match="changed as it was read"):
            handle.read(20_000)
    with again.open("mid.bin") as handle:
        assert handle.read() == expected
    all_served_right(version.id, isolation / "cache")
