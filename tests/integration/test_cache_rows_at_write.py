"""Files cached one at a time outside a folder build (an external file, a chunk read in place,
a file assembled from its chunks) are accounted for from the moment each is in place: a kill
before their index rows are written leaves nothing the next cache operation does not count
or remove, and the stat recorded for each is the one it had when written, so a write into it
in between is caught, never served."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import blake3
import pytest

from deltaset import Dataset
from deltaset.cache.blobs import BlobCache
from deltaset.core.chunking import CHUNK_FROM
from tests.cache_files import KILLED, blob_files, cache_info, killed_at, leftovers, paused_at
from tests.conftest import forget_context, make_files, read_tree, run_cli, verify_cached_blobs
from tests.damage import flip_a_byte

SMALL = os.urandom(3000)
BIG = os.urandom(CHUNK_FROM + (CHUNK_FROM >> 3))  # chunked: above the threshold
BIG_ID = blake3.blake3(BIG).hexdigest()
READ = (
    "import sys\n"
    "from deltaset import Dataset\n"
    "with Dataset.get(dataset_id=sys.argv[1]).open(sys.argv[2]) as f:\n"
    "    sys.stdout.buffer.write(f.read())\n"
)


def closed(ds: Dataset, cache: Path) -> str:
    """Close ``ds`` and leave its machine's cache empty: every later read is a cold one."""
    ds.upload()
    ds.finalize()
    forget_context()
    shutil.rmtree(cache, ignore_errors=True)
    return ds.id


def external_version(tmp_path: Path, cache: Path) -> str:
    source = make_files(tmp_path / "shared", {"one.bin": SMALL})
    ds = Dataset.create(dataset_name="linked", dataset_project="rows")
    ds.add_external_files(str(source))
    return closed(ds, cache)


def chunked_version(tmp_path: Path, cache: Path) -> str:
    ds = Dataset.create(dataset_name="chunked", dataset_project="rows")
    ds.add_files(str(make_files(tmp_path / "data", {"big.bin": BIG})))
    return closed(ds, cache)


def read_in_place(version: str, path: str) -> bytes:
    """The bytes of ``path`` read through ``Dataset.open`` by a process of its own."""
    command = [sys.executable, "-c", READ, version, path]
    done = subprocess.run(command, capture_output=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout


def killed_read(version: str) -> None:
    """A read of all of big.bin in place, killed once it cached its first chunk."""
    env = {**os.environ, "DELTASET_FAILPOINT": "read.chunk_cached"}
    command = [sys.executable, "-c", READ, version, "big.bin"]
    done = subprocess.run(command, env=env, capture_output=True, timeout=120, check=False)
    assert done.returncode == KILLED, done.stderr


# -- external files -----------------------------------------------------------------------------


def test_an_external_file_a_killed_get_placed_is_kept_and_counted(
    tmp_path: Path, isolation: Path
) -> None:
    """Killed once the external file is in the cache, before its row: its stat logged as it
    was placed lets the next opening adopt it without reading it (its id is no hash)."""
    cache = isolation / "cache"
    version = external_version(tmp_path, cache)
    killed_at("pull.after_blob", "get", "--id", version)
    [placed] = blob_files(cache)
    inode = placed.stat().st_ino

    assert cache_info() == (len(SMALL), 1)
    assert leftovers(cache) == []
    pulled = run_cli("get", "--id", version)
    assert pulled.returncode == 0, pulled.stderr
    assert read_tree(Path(pulled.stdout.strip())) == {"one.bin": SMALL}
    assert [p.stat().st_ino for p in blob_files(cache)] == [inode]  # kept, not read again
    limited = run_cli("cache", "--limit", "1KB")  # counted, so eviction reaches it
    assert limited.returncode == 0, limited.stderr
    assert blob_files(cache) == []


def test_an_external_file_written_into_after_a_killed_get_is_removed_then_read_again(
    tmp_path: Path, isolation: Path
) -> None:
    cache = isolation / "cache"
    version = external_version(tmp_path, cache)
    killed_at("pull.after_blob", "get", "--id", version)
    [placed] = blob_files(cache)
    flip_a_byte(placed)

    assert cache_info() == (0, 0)
    assert blob_files(cache) == []
    pulled = run_cli("get", "--id", version)
    assert pulled.returncode == 0, pulled.stderr
    assert read_tree(Path(pulled.stdout.strip())) == {"one.bin": SMALL}


# -- chunks read in place -----------------------------------------------------------------------


def test_a_chunk_a_killed_read_in_place_cached_is_counted_then_served(
    tmp_path: Path, isolation: Path
) -> None:
    cache = isolation / "cache"
    version = chunked_version(tmp_path, cache)
    killed_read(version)
    [chunk] = blob_files(cache)
    inode = chunk.stat().st_ino

    assert cache_info() == (chunk.stat().st_size, 1)
    assert leftovers(cache) == []
    assert read_in_place(version, "big.bin") == BIG
    assert chunk.stat().st_ino == inode  # served from the cache, not fetched again over it
    cached = blob_files(cache)
    assert len(cached) > 1
    assert cache_info() == (sum(p.stat().st_size for p in cached), len(cached))


def test_a_chunk_written_into_after_a_killed_read_is_removed_not_served(
    tmp_path: Path, isolation: Path
) -> None:
    cache = isolation / "cache"
    version = chunked_version(tmp_path, cache)
    killed_read(version)
    [chunk] = blob_files(cache)
    flip_a_byte(chunk)

    assert cache_info() == (0, 0)
    assert blob_files(cache) == []
    assert read_in_place(version, "big.bin") == BIG


# -- files assembled from their chunks ----------------------------------------------------------


def test_an_assembled_file_a_killed_get_placed_is_counted(tmp_path: Path, isolation: Path) -> None:
    cache = isolation / "cache"
    version = chunked_version(tmp_path, cache)
    killed_at("pull.file_assembled", "get", "--id", version, "--soft-links")
    assert [p.name for p in blob_files(cache)] == [BIG_ID]

    assert cache_info() == (len(BIG), 1)
    assert leftovers(cache) == []
    pulled = run_cli("get", "--id", version, "--soft-links")
    assert pulled.returncode == 0, pulled.stderr
    assert read_tree(Path(pulled.stdout.strip())) == {"big.bin": BIG}


@pytest.mark.parametrize("links", [(), ("--soft-links",)], ids=["hard links", "soft links"])
def test_an_assembled_file_written_into_before_its_row_is_caught_not_served(
    tmp_path: Path, isolation: Path, links: tuple[str, ...]
) -> None:
    """A get paused once the file is in place, before its row: a write into it then is
    caught before the folder links it (the file is fetched again, never served), and by a
    read in place (its row holds the stat it had as written), which reads it again from
    storage rather than serve the changed bytes."""
    cache = isolation / "cache"
    version = chunked_version(tmp_path, cache)
    placed = cache / "blobs" / BIG_ID[:2] / BIG_ID

    def write_into() -> None:
        assert BlobCache(cache).usage().blob_count == 0  # in place, without its row yet
        flip_a_byte(placed)

    get = paused_at("pull.file_assembled", placed, write_into, "get", "--id", version, *links)
    assert get.returncode == 0, get.stderr
    pulled = run_cli("get", "--id", version, *links)  # its folder, as it recorded it
    assert pulled.returncode == 0, pulled.stderr
    assert read_tree(Path(pulled.stdout.strip())) == {"big.bin": BIG}
    verify_cached_blobs(cache)

    flip_a_byte(placed)
    assert read_in_place(version, "big.bin") == BIG
    pulled = run_cli("get", "--id", version, *links)
    assert pulled.returncode == 0, pulled.stderr
    assert read_tree(Path(pulled.stdout.strip())) == {"big.bin": BIG}
