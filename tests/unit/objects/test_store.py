from __future__ import annotations

import io
import os
from pathlib import Path

import pytest

from deltaset.core.hashing import blob_id_of
from deltaset.errors import IntegrityError, NotFoundError, StateError
from deltaset.objects.store import BUFFER, BlobStore
from deltaset.packs.codec import SAMPLE_SIZE, Codec
from deltaset.storage.layout import blob_key
from deltaset.storage.local import LocalStorage

RANDOM = os.urandom(70_000)
TEXT = b"".join(b"row %d: the quick brown fox\n" % i for i in range(4_000))
# Larger than the codec sample, so they are streamed rather than encoded in memory.
BIG_RANDOM = os.urandom(SAMPLE_SIZE + 5_000)
BIG_TEXT = (TEXT * (SAMPLE_SIZE // len(TEXT) + 2))[: SAMPLE_SIZE + 5_000]
CONTENTS = [RANDOM, TEXT, BIG_RANDOM, BIG_TEXT]
CONTENT_IDS = ["raw", "zstd", "big-raw", "big-zstd"]


@pytest.fixture
def storage(tmp_path: Path) -> LocalStorage:
    return LocalStorage(tmp_path / "storage")


@pytest.fixture
def store(storage: LocalStorage) -> BlobStore:
    return BlobStore(storage)


def _put(store: BlobStore, tmp_path: Path, content: bytes) -> str:
    source = tmp_path / "source.bin"
    source.write_bytes(content)
    blob_id = blob_id_of(content)
    store.put_file(blob_id, source)
    return blob_id


def _get(store: BlobStore, blob_id: str) -> bytes:
    out = io.BytesIO()
    size = store.get_into(blob_id, out)
    assert size == len(out.getvalue())
    return out.getvalue()


def _stored(storage: LocalStorage, blob_id: str) -> Path:
    return storage.root / blob_key(blob_id)


@pytest.mark.parametrize(
    ("content", "codec"),
    [
        (RANDOM, Codec.RAW),
        (TEXT, Codec.ZSTD),
        (BIG_RANDOM, Codec.RAW),
        (BIG_TEXT, Codec.ZSTD),
        (b"", Codec.RAW),
        (b"tiny", Codec.RAW),
    ],
    ids=["random-raw", "text-zstd", "big-random-raw", "big-text-zstd", "empty", "tiny"],
)
def test_put_file_get_into_round_trip(
    store: BlobStore, storage: LocalStorage, tmp_path: Path, content: bytes, codec: Codec
) -> None:
    source = tmp_path / "source.bin"
    source.write_bytes(content)
    blob_id = blob_id_of(content)
    stored = store.put_file(blob_id, source)
    raw = _stored(storage, blob_id).read_bytes()
    assert raw[0] == codec
    assert stored == len(raw) == store.stored_size(blob_id)
    assert store.has(blob_id)
    assert _get(store, blob_id) == content


def test_raw_blob_is_stored_as_is_and_zstd_blob_is_smaller(
    store: BlobStore, storage: LocalStorage, tmp_path: Path
) -> None:
    raw_id = _put(store, tmp_path, RANDOM)
    assert _stored(storage, raw_id).read_bytes() == bytes([Codec.RAW]) + RANDOM
    text_id = _put(store, tmp_path, TEXT)
    assert store.stored_size(text_id) < len(TEXT) // 2


def test_round_trip_of_a_blob_larger_than_the_buffer(store: BlobStore, tmp_path: Path) -> None:
    content = (TEXT * (BUFFER // len(TEXT) + 2))[: BUFFER * 2 + 123] + os.urandom(1000)
    blob_id = _put(store, tmp_path, content)
    assert _get(store, blob_id) == content


@pytest.mark.parametrize("size", [20, SAMPLE_SIZE * 3], ids=["small", "streamed"])
def test_refuses_a_source_whose_content_no_longer_matches(
    store: BlobStore, storage: LocalStorage, tmp_path: Path, size: int
) -> None:
    source = tmp_path / "changed.txt"
    source.write_bytes(b"a" * size)
    blob_id = blob_id_of(source.read_bytes())
    source.write_bytes(b"a" * (size - 1) + b"b")
    with pytest.raises(StateError, match="changed after it was added"):
        store.put_file(blob_id, source)
    assert not store.has(blob_id)
    assert list(storage.list("blobs/")) == []
    assert list(storage.list("tmp/")) == []


def test_missing_blob_is_not_found(store: BlobStore) -> None:
    with pytest.raises(NotFoundError):
        store.get_into(blob_id_of(b"never stored"), io.BytesIO())


@pytest.mark.parametrize("content", CONTENTS, ids=CONTENT_IDS)
@pytest.mark.parametrize("where", [1, 2, 100, -20, -1])
def test_a_flipped_byte_is_detected(
    store: BlobStore, storage: LocalStorage, tmp_path: Path, content: bytes, where: int
) -> None:
    blob_id = _put(store, tmp_path, content)
    path = _stored(storage, blob_id)
    damaged = bytearray(path.read_bytes())
    damaged[where] ^= 0x41
    path.write_bytes(bytes(damaged))
    with pytest.raises(IntegrityError, match=blob_id):
        store.get_into(blob_id, io.BytesIO())


@pytest.mark.parametrize("content", CONTENTS, ids=CONTENT_IDS)
@pytest.mark.parametrize("keep", [0, 1, 2, 50, -1])
def test_a_truncated_blob_is_detected(
    store: BlobStore, storage: LocalStorage, tmp_path: Path, content: bytes, keep: int
) -> None:
    blob_id = _put(store, tmp_path, content)
    path = _stored(storage, blob_id)
    raw = path.read_bytes()
    path.write_bytes(raw[:keep])
    with pytest.raises(IntegrityError, match=blob_id):
        store.get_into(blob_id, io.BytesIO())


@pytest.mark.parametrize("codec_byte", [2, 7, 255])
def test_an_unknown_codec_byte_is_detected(
    store: BlobStore, storage: LocalStorage, tmp_path: Path, codec_byte: int
) -> None:
    blob_id = _put(store, tmp_path, TEXT)
    path = _stored(storage, blob_id)
    path.write_bytes(bytes([codec_byte]) + path.read_bytes()[1:])
    with pytest.raises(IntegrityError, match="unknown codec"):
        store.get_into(blob_id, io.BytesIO())


def test_a_swapped_codec_byte_is_detected(
    store: BlobStore, storage: LocalStorage, tmp_path: Path
) -> None:
    blob_id = _put(store, tmp_path, TEXT)
    path = _stored(storage, blob_id)
    path.write_bytes(bytes([Codec.RAW]) + path.read_bytes()[1:])
    with pytest.raises(IntegrityError, match="does not match its hash"):
        store.get_into(blob_id, io.BytesIO())


def test_another_blobs_bytes_under_an_id_are_detected(
    store: BlobStore, storage: LocalStorage, tmp_path: Path
) -> None:
    real = _put(store, tmp_path, TEXT)
    other = _put(store, tmp_path, RANDOM)
    _stored(storage, real).write_bytes(_stored(storage, other).read_bytes())
    with pytest.raises(IntegrityError, match="does not match its hash"):
        store.get_into(real, io.BytesIO())


def test_delete(store: BlobStore, tmp_path: Path) -> None:
    blob_id = _put(store, tmp_path, TEXT)
    store.delete(blob_id)
    assert not store.has(blob_id)
    store.delete(blob_id)
    assert not store.has(blob_id)
