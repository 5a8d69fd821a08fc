"""Links into the cache's prefix folders through their descriptors."""

from __future__ import annotations

import os
import resource
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from deltaset.cache.blob_folders import BlobFolders

BLOB = "ab" + "0" * 62
OTHER = "ab" + "1" * 62


@pytest.fixture
def source(tmp_path: Path) -> Path:
    made = tmp_path / "staged"
    made.write_bytes(b"data")
    return made


@pytest.fixture
def few_descriptors() -> Iterator[None]:
    """This process allowed 64 open files, as a system with few would allow."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (64, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def open_descriptors() -> int:
    return len(os.listdir("/proc/self/fd"))


def test_a_link_makes_its_prefix_folder_and_names_the_same_file(
    tmp_path: Path, source: Path
) -> None:
    blobs = tmp_path / "blobs"
    blobs.mkdir()
    with BlobFolders(str(blobs)) as folders:
        folders.link(str(source), BLOB)
        with pytest.raises(FileExistsError):
            folders.link(str(source), BLOB)
    assert (blobs / "ab" / BLOB).stat().st_ino == source.stat().st_ino


def test_a_prefix_folder_removed_meanwhile_is_made_again(tmp_path: Path, source: Path) -> None:
    blobs = tmp_path / "blobs"
    blobs.mkdir()
    with BlobFolders(str(blobs)) as folders:
        folders.link(str(source), BLOB)
        shutil.rmtree(blobs / "ab")  # as a purge would
        folders.link(str(source), OTHER)
    assert (blobs / "ab" / OTHER).read_bytes() == b"data"


def test_a_missing_source_fails_as_a_link_does(tmp_path: Path) -> None:
    blobs = tmp_path / "blobs"
    blobs.mkdir()
    with BlobFolders(str(blobs)) as folders, pytest.raises(FileNotFoundError):
        folders.link(str(tmp_path / "nothing"), BLOB)


def test_its_end_closes_every_folder_it_opened(tmp_path: Path, source: Path) -> None:
    before = open_descriptors()
    with BlobFolders(str(tmp_path)) as folders:
        for prefix in ("ab", "cd", "ef"):
            folders.link(str(source), prefix + "0" * 62)
        assert open_descriptors() == before + 3
    assert open_descriptors() == before


@pytest.mark.usefixtures("few_descriptors")
def test_where_a_process_may_open_few_files_it_links_by_path(tmp_path: Path, source: Path) -> None:
    before = open_descriptors()
    with BlobFolders(str(tmp_path)) as folders:
        for prefix in ("ab", "cd", "ef"):
            folders.link(str(source), prefix + "0" * 62)
        assert open_descriptors() == before  # no folder kept open
    assert (tmp_path / "cd" / ("cd" + "0" * 62)).read_bytes() == b"data"
