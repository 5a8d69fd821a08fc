"""``Dataset.open``: one file of a final version read in place, fetching only what is read."""

from __future__ import annotations

import io
import os
import random
from pathlib import Path

import pytest

from deltaset import Dataset, config
from deltaset.core.chunking import CHUNK_FROM, DEFAULT_AVERAGE
from deltaset.engine import reading
from deltaset.engine.context import default_context
from deltaset.engine.views import final_manifest
from deltaset.errors import IntegrityError, InvalidInputError, NotFoundError, StateError
from deltaset.objects.store import BlobStore
from deltaset.packs.writer import pack_key
from deltaset.storage import open_storage
from deltaset.storage.local import LocalStorage
from tests.backends import Backend
from tests.conftest import make_files, verify_cached_blobs
from tests.damage import DAMAGE, cached_blob

MIB = 1 << 20
MAX_CHUNK = 4 * DEFAULT_AVERAGE  # FastCDC's upper bound on a chunk
BIG = os.urandom(3 * CHUNK_FROM)  # chunked: above the threshold
SMALL = os.urandom(70_000)  # packed whole


def version_of(tmp_path: Path, files: dict[str, bytes | str], name: str = "n") -> Dataset:
    folder = make_files(tmp_path / f"src-{name}", files)
    ds = Dataset.create(dataset_name=name, dataset_project="p")
    ds.add_files(str(folder))
    ds.finalize(auto_upload=True)
    return ds


def bytes_read(ds: Dataset) -> int:
    return open_storage(ds.get_default_storage()).stats.bytes_read


def check_random_reads(file: io.BufferedIOBase, expected: bytes, seed: int) -> None:
    """Seek and read at random offsets (some past the end) and compare with ``expected``."""
    rng = random.Random(seed)
    for _ in range(60):
        offset = rng.randrange(len(expected) + 10)
        length = rng.choice([0, 1, 7, 4096, rng.randrange(3 * MAX_CHUNK)])
        whence = rng.choice([io.SEEK_SET, io.SEEK_END])
        position = file.seek(offset - len(expected) if whence == io.SEEK_END else offset, whence)
        assert position == offset == file.tell()
        assert file.read(length) == expected[offset : offset + length]
        assert file.tell() == min(offset + length, max(offset, len(expected)))


@pytest.mark.parametrize("seed", [1, 2])
def test_small_and_chunked_files_read_byte_identical_at_random_offsets(
    tmp_path: Path, seed: int
) -> None:
    files: dict[str, bytes | str] = {"small.bin": SMALL, "deep/big.bin": BIG, "empty": b""}
    ds = version_of(tmp_path, files)
    entry = final_manifest(default_context(), ds.record)["deep/big.bin"]
    assert len(entry.chunks) > 3  # the test means a chunked file
    for path, content in files.items():
        assert isinstance(content, bytes)
        with ds.open(path) as file:
            assert file.seekable()
            assert file.readable()
            assert not file.writable()
            check_random_reads(file, content, seed)
            file.seek(0)
            assert file.read() == content
    assert verify_cached_blobs(config.load().cache_dir)  # fetched chunks are kept, verified


def test_reading_a_mebibyte_of_a_large_file_reads_about_that_from_storage(
    tmp_path: Path,
) -> None:
    ds = version_of(tmp_path, {"big.bin": BIG, "small.txt": "s"})
    with ds.open("big.bin") as file:
        before = bytes_read(ds)
        middle = len(BIG) // 2
        file.seek(middle)
        assert file.read(MIB) == BIG[middle : middle + MIB]
        read = bytes_read(ds) - before
    assert MIB <= read <= MIB + 2 * MAX_CHUNK  # the chunks covering the range, no more
    before = bytes_read(ds)
    with Dataset.get(dataset_id=ds.id).open("big.bin") as again:
        again.seek(middle + 1000)
        assert again.read(MIB - 2000) == BIG[middle + 1000 : middle + MIB - 1000]
    assert bytes_read(ds) == before  # every chunk came from the cache


def test_a_pull_after_a_read_in_place_reuses_the_chunks_it_fetched(tmp_path: Path) -> None:
    ds = version_of(tmp_path, {"big.bin": BIG})
    with ds.open("big.bin") as file:
        file.seek(len(BIG) // 2)
        file.read(MIB)
    before = bytes_read(ds)
    folder = Path(ds.get_local_copy())
    pulled = bytes_read(ds) - before
    assert (folder / "big.bin").read_bytes() == BIG
    assert pulled <= len(BIG) - MIB  # the chunks read in place were not downloaded again


def test_a_file_in_the_blob_cache_is_read_without_storage(tmp_path: Path) -> None:
    ds = version_of(tmp_path, {"big.bin": BIG, "small.bin": SMALL})
    ds.get_local_copy()
    before = bytes_read(ds)
    with ds.open("big.bin") as big, ds.open("small.bin") as small:
        assert big.read() == BIG
        assert small.read() == SMALL
    assert bytes_read(ds) == before


def test_a_small_file_is_fetched_once(tmp_path: Path) -> None:
    ds = version_of(tmp_path, {"small.bin": SMALL, "other.bin": os.urandom(5000)})
    with ds.open("small.bin") as file:
        assert file.read(10) == SMALL[:10]
    before = bytes_read(ds)
    with ds.open("small.bin") as file:
        file.seek(60_000)
        assert file.read() == SMALL[60_000:]
    assert bytes_read(ds) == before


def test_a_first_pass_over_small_files_fetches_their_stretch_of_pack_in_one_read(
    tmp_path: Path,
) -> None:
    files = {f"img/{i:03d}.jpg": os.urandom(2000 + i) for i in range(300)}
    ds = version_of(tmp_path, files)
    stats = open_storage(ds.get_default_storage()).stats
    before = stats.reads
    for path in sorted(files, key=lambda p: random.Random(p).random()):  # shuffled, as trained
        with ds.open(path) as file:
            assert file.read() == files[path]
    assert stats.reads - before == 1  # not one per file


def test_reading_one_small_file_fetches_at_most_one_stretch_of_its_pack(tmp_path: Path) -> None:
    files = {f"{i:02d}.bin": os.urandom(300_000) for i in range(30)}  # 9 MB: a few stretches
    ds = version_of(tmp_path, files)
    before = bytes_read(ds)
    with ds.open("17.bin") as file:
        assert file.read() == files["17.bin"]
    assert 300_000 <= bytes_read(ds) - before <= reading.READ_AHEAD + 300_000


def test_a_damaged_stored_chunk_is_refused_not_served(tmp_path: Path, backend: Backend) -> None:
    ds = version_of(tmp_path, {"big.bin": BIG})
    chunks = final_manifest(default_context(), ds.record)["big.bin"].chunks
    target = chunks[len(chunks) // 2]
    location = BlobStore(LocalStorage(backend.storage)).location(target)
    pack = backend.storage / pack_key(location.pack_id)
    pack.chmod(0o644)
    with pack.open("r+b") as raw:
        raw.seek(location.entry.offset + location.entry.length // 2)
        byte = raw.read(1)
        raw.seek(-1, io.SEEK_CUR)
        raw.write(bytes([byte[0] ^ 0xFF]))
    offset = sum(BlobStore(LocalStorage(backend.storage)).raw_size(c) for c in chunks[:-1])
    with ds.open("big.bin") as file:
        assert file.read(100) == BIG[:100]  # other chunks still read
        file.seek(offset)  # the last chunk, also intact
        assert file.read() == BIG[offset:]
        middle = sum(
            BlobStore(LocalStorage(backend.storage)).raw_size(c) for c in chunks[: len(chunks) // 2]
        )
        file.seek(middle)
        with pytest.raises(IntegrityError, match="does not match its hash"):
            file.read(10)
    assert not (config.load().cache_dir / "blobs" / target[:2] / target).exists()


@pytest.mark.parametrize("damage", list(DAMAGE))
def test_a_damaged_cache_file_is_fetched_again_not_served(tmp_path: Path, damage: str) -> None:
    """Root writes through read-only bits: a cached file whose stat moved is checked first."""
    files: dict[str, bytes | str] = {"small.bin": SMALL, "big.bin": BIG}
    ds = version_of(tmp_path, files)
    ds.get_local_copy()  # both files whole in the cache
    manifest = final_manifest(default_context(), ds.record)
    for path in files:
        DAMAGE[damage](cached_blob(manifest[path].blob_id))
    with ds.open("small.bin") as small, ds.open("big.bin") as big:
        assert small.read() == SMALL
        big.seek(len(BIG) // 2)
        assert big.read(MIB) == BIG[len(BIG) // 2 :][:MIB]
    verify_cached_blobs(config.load().cache_dir)


@pytest.mark.parametrize("damage", list(DAMAGE))
def test_a_damaged_cached_chunk_is_fetched_again_not_served(tmp_path: Path, damage: str) -> None:
    ds = version_of(tmp_path, {"big.bin": BIG})
    with ds.open("big.bin") as file:
        assert file.read() == BIG  # every chunk now in the cache on its own
    chunks = final_manifest(default_context(), ds.record)["big.bin"].chunks
    DAMAGE[damage](cached_blob(chunks[0]))
    before = bytes_read(ds)
    with ds.open("big.bin") as file:
        assert file.read() == BIG
    assert bytes_read(ds) > before  # the damaged chunk was read again from storage
    verify_cached_blobs(config.load().cache_dir)


def test_text_mode_decodes_with_the_encoding_given(tmp_path: Path) -> None:
    ds = version_of(tmp_path, {"notes.txt": "première ligne\nzweite Zeile\n".encode("latin-1")})
    with ds.open("notes.txt", "r", encoding="latin-1") as text:
        assert text.readlines() == ["première ligne\n", "zweite Zeile\n"]


def test_an_external_file_is_read_from_where_it_lives(tmp_path: Path) -> None:
    source = make_files(tmp_path / "shared", {"table.csv": "a,b\n1,2\n"})
    ds = Dataset.create(dataset_name="n", dataset_project="p")
    ds.add_external_files(str(source / "table.csv"))
    ds.finalize(auto_upload=True)
    with ds.open("table.csv", "r") as text:
        assert text.read() == "a,b\n1,2\n"


def test_a_missing_path_a_draft_and_a_writing_mode_are_refused(tmp_path: Path) -> None:
    ds = version_of(tmp_path, {"a.txt": "alpha"})
    with pytest.raises(NotFoundError, match=r"has no file b\.txt\.$"):
        ds.open("b.txt")
    with pytest.raises(InvalidInputError, match="only for reading"):
        ds.open("a.txt", "wb")
    with pytest.raises(InvalidInputError, match="text mode"):
        ds.open("a.txt", "rb", encoding="utf-8")
    with pytest.raises(InvalidInputError, match="Unknown text encoding 'klingon'"):
        ds.open("a.txt", "r", encoding="klingon")
    with pytest.raises(InvalidInputError, match=r"contains '\.\.'"):
        ds.open("../a.txt")
    draft = Dataset.create(dataset_name="d", dataset_project="p")
    draft.add_files(str(make_files(tmp_path / "d", {"a.txt": "alpha"})))
    with pytest.raises(StateError, match="still a draft; close it before you read its files"):
        draft.open("a.txt")


def test_a_closed_file_refuses_reads(tmp_path: Path) -> None:
    ds = version_of(tmp_path, {"a.txt": "alpha"})
    file = ds.open("./a.txt")
    assert file.name == "a.txt"
    assert file.read(2) == b"al"
    file.close()
    with pytest.raises(ValueError, match="closed file"):
        file.read()
    with ds.open("a.txt") as again, pytest.raises(ValueError, match="negative seek"):
        again.seek(-1)
