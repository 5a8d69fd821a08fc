"""The Storage protocol's contract, written once and run against every backend.

A backend gets the whole suite by subclassing :class:`StorageContract` and providing a
``storage`` fixture that yields an empty storage (see :class:`TestLocalStorage`).
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from deltaset.errors import DeltasetError, InvalidInputError, NotFoundError
from deltaset.storage.base import IOStats, Storage
from deltaset.storage.cloud import CloudStorage
from deltaset.storage.gcs import GcsStorage
from deltaset.storage.local import LocalStorage


class Boom(Exception):
    pass


def write_then_fail(storage: Storage, key: str, data: bytes) -> None:
    with storage.writer(key) as handle:
        handle.write(data)
        raise Boom


class StorageContract:
    @pytest.fixture
    def storage(self) -> Iterator[Storage]:
        raise NotImplementedError("a backend's test class provides an empty storage")

    # -- writing ------------------------------------------------------------------------------
    def test_writer_publishes_on_clean_exit(self, storage: Storage) -> None:
        with storage.writer("blobs/ab/abc") as handle:
            handle.write(b"hello ")
            handle.write(b"world")
        assert storage.exists("blobs/ab/abc")
        assert storage.get_bytes("blobs/ab/abc") == b"hello world"

    def test_writer_is_invisible_until_it_exits(self, storage: Storage) -> None:
        with storage.writer("versions/v1.json") as handle:
            handle.write(b"{}")
            assert not storage.exists("versions/v1.json")
            assert list(storage.list("versions/")) == []
            with pytest.raises(NotFoundError):
                storage.open("versions/v1.json")
        assert storage.exists("versions/v1.json")

    def test_writer_leaves_nothing_on_exception(self, storage: Storage) -> None:
        with pytest.raises(Boom):
            write_then_fail(storage, "versions/v1.json", b"half a record")
        assert not storage.exists("versions/v1.json")
        assert list(storage.list("versions/")) == []
        with pytest.raises(NotFoundError):
            storage.get_bytes("versions/v1.json")

    def test_failed_writer_keeps_the_previous_object(self, storage: Storage) -> None:
        storage.put_bytes("k/a", b"old")
        with pytest.raises(Boom):
            write_then_fail(storage, "k/a", b"new but never finished")
        assert storage.get_bytes("k/a") == b"old"

    def test_writer_replaces_an_existing_object(self, storage: Storage) -> None:
        storage.put_bytes("k/a", b"old")
        with storage.writer("k/a") as handle:
            handle.write(b"new")
        assert storage.get_bytes("k/a") == b"new"

    def test_put_bytes_overwrites_by_default(self, storage: Storage) -> None:
        assert storage.put_bytes("k/a", b"first") is True
        assert storage.put_bytes("k/a", b"second") is True
        assert storage.get_bytes("k/a") == b"second"

    def test_put_bytes_without_overwrite_keeps_the_first(self, storage: Storage) -> None:
        assert storage.put_bytes("deltaset.json", b"first", overwrite=False) is True
        assert storage.put_bytes("deltaset.json", b"second", overwrite=False) is False
        assert storage.get_bytes("deltaset.json") == b"first"
        assert list(storage.list("k/")) == []

    def test_put_file_publishes_a_local_file(self, storage: Storage, tmp_path: Path) -> None:
        local = tmp_path / "local.pack"
        local.write_bytes(b"packed bytes" * 1000)
        storage.put_file("packs/ab/one.pack", local)
        storage.put_file("packs/ab/one.pack", local)  # again: same object, no error
        assert storage.get_bytes("packs/ab/one.pack") == b"packed bytes" * 1000
        assert list(storage.list("packs/")) == ["packs/ab/one.pack"]
        local.unlink()  # the stored object does not depend on the local file
        assert storage.size("packs/ab/one.pack") == 12_000

    def test_put_file_of_a_missing_file_stores_nothing(
        self, storage: Storage, tmp_path: Path
    ) -> None:
        with pytest.raises(DeltasetError):
            storage.put_file("packs/ab/two.pack", tmp_path / "missing.pack")
        assert not storage.exists("packs/ab/two.pack")

    def test_empty_object(self, storage: Storage) -> None:
        storage.put_bytes("k/empty", b"")
        assert storage.exists("k/empty")
        assert storage.size("k/empty") == 0
        assert storage.get_bytes("k/empty") == b""

    def test_binary_content_is_kept_exactly(self, storage: Storage) -> None:
        data = bytes(range(256)) * 1000 + b"\r\n\x00"
        storage.put_bytes("k/bin", data)
        assert storage.get_bytes("k/bin") == data

    def test_read_range_returns_the_asked_bytes(self, storage: Storage) -> None:
        storage.put_bytes("packs/ab/p1.pack", bytes(range(256)))
        reads = storage.stats.reads
        assert storage.read_range("packs/ab/p1.pack", 10, 5) == bytes(range(10, 15))
        assert storage.read_range("packs/ab/p1.pack", 250, 100) == bytes(range(250, 256))
        assert storage.stats.reads - reads == 2
        with pytest.raises(NotFoundError):
            storage.read_range("packs/ab/missing.pack", 0, 1)

    # -- reading ------------------------------------------------------------------------------
    def test_open_streams_in_pieces(self, storage: Storage) -> None:
        storage.put_bytes("k/a", b"0123456789")
        with storage.open("k/a") as handle:
            assert handle.read(4) == b"0123"
            assert handle.read(4) == b"4567"
            assert handle.read() == b"89"
            assert handle.read() == b""

    def test_missing_key(self, storage: Storage) -> None:
        with pytest.raises(NotFoundError, match="missing"):
            storage.open("blobs/no/nothing")
        with pytest.raises(NotFoundError):
            storage.get_bytes("blobs/no/nothing")
        with pytest.raises(NotFoundError):
            storage.size("blobs/no/nothing")
        assert not storage.exists("blobs/no/nothing")

    def test_a_folder_prefix_is_not_an_object(self, storage: Storage) -> None:
        storage.put_bytes("blobs/ab/abc", b"x")
        assert not storage.exists("blobs/ab")
        assert not storage.exists("blobs")

    def test_size(self, storage: Storage) -> None:
        storage.put_bytes("k/a", b"x" * 1234)
        assert storage.size("k/a") == 1234
        with storage.writer("k/b") as handle:
            handle.write(b"y" * 10)
        assert storage.size("k/b") == 10

    def test_stat_gives_size_and_an_etag_that_changes_with_the_object(
        self, storage: Storage
    ) -> None:
        storage.put_bytes("ext/a.csv", b"first")
        first = storage.stat("ext/a.csv")
        assert (first.key, first.size) == ("ext/a.csv", 5)
        assert first.etag
        time.sleep(0.01)  # a folder's etag is its time and size
        storage.put_bytes("ext/a.csv", b"second!")
        second = storage.stat("ext/a.csv")
        assert second.size == 7
        assert second.etag != first.etag
        with pytest.raises(NotFoundError):
            storage.stat("ext/missing.csv")

    def test_list_info_describes_each_object(self, storage: Storage) -> None:
        storage.put_bytes("ext/a.csv", b"12345")
        storage.put_bytes("ext/sub/b.csv", b"1")
        storage.put_bytes("other", b"1")
        found = {info.key: info for info in storage.list_info("ext/")}
        assert sorted(found) == ["ext/a.csv", "ext/sub/b.csv"]
        assert found["ext/a.csv"].size == 5
        assert found["ext/a.csv"].etag == storage.stat("ext/a.csv").etag
        # gc keeps recent packs by this time: the emulators' clocks are this machine's
        assert abs(found["ext/a.csv"].modified - time.time()) < 120

    # -- listing and deleting -----------------------------------------------------------------
    def test_list_by_folder_prefix(self, storage: Storage) -> None:
        keys = [
            "versions/a.json",
            "versions/b.json",
            "manifests/a.zst",
            "blobs/ab/abcd",
            "blobs/cd/cdef",
            "deltaset.json",
        ]
        for key in keys:
            storage.put_bytes(key, b"x")
        assert sorted(storage.list("versions/")) == ["versions/a.json", "versions/b.json"]
        assert sorted(storage.list("blobs/")) == ["blobs/ab/abcd", "blobs/cd/cdef"]
        assert sorted(storage.list("blobs/ab/")) == ["blobs/ab/abcd"]
        assert list(storage.list("nothing/")) == []
        assert sorted(storage.list("")) == sorted(keys)

    @pytest.mark.parametrize(
        "prefix", ["../", "../../../../etc/", "packs/../../", "/etc/", "..", "a//b/", "..\\x"]
    )
    def test_a_prefix_that_climbs_out_of_the_storage_is_refused(
        self, storage: Storage, prefix: str
    ) -> None:
        storage.put_bytes("packs/a.pack", b"x")
        with pytest.raises(InvalidInputError) as refused:
            list(storage.list_info(prefix))
        assert str(refused.value) == f"{prefix!r} is not a prefix of keys of a deltaset storage."
        with pytest.raises(InvalidInputError):
            list(storage.list(prefix))

    def test_list_of_an_empty_storage(self, storage: Storage) -> None:
        assert list(storage.list("versions/")) == []
        assert list(storage.list("")) == []

    def test_delete_is_idempotent(self, storage: Storage) -> None:
        storage.put_bytes("k/a", b"x")
        storage.put_bytes("k/b", b"y")
        storage.delete("k/a")
        assert not storage.exists("k/a")
        with pytest.raises(NotFoundError):
            storage.open("k/a")
        storage.delete("k/a")
        storage.delete("never/existed")
        assert sorted(storage.list("k/")) == ["k/b"]
        assert storage.get_bytes("k/b") == b"y"

    def test_a_deleted_key_can_be_written_again(self, storage: Storage) -> None:
        storage.put_bytes("k/a", b"one", overwrite=False)
        storage.delete("k/a")
        assert storage.put_bytes("k/a", b"two", overwrite=False) is True
        assert storage.get_bytes("k/a") == b"two"

    # -- statistics ---------------------------------------------------------------------------
    def test_stats_count_reads_and_bytes(self, storage: Storage) -> None:
        storage.put_bytes("k/a", b"x" * 100)
        storage.put_bytes("k/b", b"y" * 30)
        before = _counters(storage.stats)
        assert storage.get_bytes("k/a") == b"x" * 100
        with storage.open("k/b") as handle:
            handle.read(10)
        after = _counters(storage.stats)
        assert after["reads"] - before["reads"] == 2
        assert after["bytes_read"] - before["bytes_read"] == 110
        assert after["writes"] == before["writes"]

    def test_stats_count_writes_and_bytes(self, storage: Storage) -> None:
        start = _counters(storage.stats)
        storage.put_bytes("k/a", b"x" * 100)
        storage.put_bytes("k/b", b"y" * 30, overwrite=False)
        storage.put_bytes("k/b", b"z" * 99, overwrite=False)  # kept the first: nothing written
        with storage.writer("k/c") as handle:
            handle.write(b"w" * 7)
        with pytest.raises(Boom):
            write_then_fail(storage, "k/d", b"never published")
        end = _counters(storage.stats)
        assert end["writes"] - start["writes"] == 3
        assert end["bytes_written"] - start["bytes_written"] == 137

    def test_a_missing_key_counts_no_read(self, storage: Storage) -> None:
        before = _counters(storage.stats)
        with pytest.raises(NotFoundError):
            storage.get_bytes("k/none")
        assert _counters(storage.stats) == before


def _counters(stats: IOStats) -> dict[str, int]:
    return {
        "reads": stats.reads,
        "bytes_read": stats.bytes_read,
        "writes": stats.writes,
        "bytes_written": stats.bytes_written,
    }


class LocalFixtures:
    @pytest.fixture
    def storage(self, tmp_path: Path) -> Storage:
        return LocalStorage(tmp_path / "storage")


class TestLocalStorage(LocalFixtures, StorageContract):
    def test_nothing_is_left_in_the_staging_folder(self, storage: Storage) -> None:
        assert isinstance(storage, LocalStorage)
        storage.put_bytes("k/a", b"x")
        storage.put_bytes("k/a", b"y", overwrite=False)
        with pytest.raises(Boom):
            write_then_fail(storage, "k/b", b"z")
        staging = storage.root / "tmp"
        assert not staging.exists() or list(staging.iterdir()) == []

    def test_url_is_a_file_uri(self, storage: Storage, tmp_path: Path) -> None:
        assert storage.url == (tmp_path / "storage").as_uri()

    def test_a_key_that_climbs_out_of_the_folder_is_refused(
        self, storage: Storage, tmp_path: Path
    ) -> None:
        (tmp_path / "secret.txt").write_text("not deltaset's")
        for key in ("../secret.txt", "packs/../../secret.txt", "/etc/passwd"):
            with pytest.raises(InvalidInputError, match="is not a key of a deltaset storage"):
                storage.get_bytes(key)
            with pytest.raises(InvalidInputError):
                storage.delete(key)
        assert (tmp_path / "secret.txt").exists()


class TestS3Storage(StorageContract):
    @pytest.fixture
    def storage(self, s3_url: str) -> Storage:
        return CloudStorage(s3_url)


class TestAzureStorage(StorageContract):
    @pytest.fixture
    def storage(self, azure_url: str) -> Storage:
        return CloudStorage(azure_url)


class TestGcsStorage(StorageContract):
    @pytest.fixture
    def storage(self, gcs_url: str) -> Storage:
        return GcsStorage(gcs_url)


class TestServerStorage(StorageContract):
    """A deltaset server's storage, through its objects API."""

    @pytest.fixture
    def storage(self, tmp_path: Path) -> Iterator[Storage]:
        from deltaset.storage.server import ServerStorage
        from tests.server.inprocess import served

        with served(tmp_path / "server") as (url, _):
            storage = ServerStorage(url)
            storage.delete("deltaset.json")  # written by the server when it started
            yield storage
            storage.close()

    def test_a_large_object_goes_up_in_parts_and_comes_back_whole(
        self, storage: Storage, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setattr("deltaset.storage.server.PART_SIZE", 8 << 20)
        data = os.urandom(20 << 20)  # three parts of 8 MiB at most
        with storage.writer("packs/ab/big.pack") as handle:
            handle.write(data)
        assert storage.get_bytes("packs/ab/big.pack") == data
        assert list(storage.list("")) == ["packs/ab/big.pack"]  # no part left behind
