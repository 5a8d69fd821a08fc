"""BlobStore: put and get content-addressed blobs in a Storage, verifying every byte read."""

from __future__ import annotations

from pathlib import Path
from typing import BinaryIO

import zstandard

from deltaset.core.hashing import blob_id_of, new_hasher
from deltaset.errors import IntegrityError, StateError
from deltaset.packs.codec import LEVEL, SAMPLE_SIZE, Codec, choose, encode_small
from deltaset.storage.base import Storage
from deltaset.storage.errors import map_os_errors
from deltaset.storage.layout import blob_key

BUFFER = 1 << 20


class BlobStore:
    def __init__(self, storage: Storage, level: int = LEVEL) -> None:
        self.storage = storage
        self.level = level

    def has(self, blob_id: str) -> bool:
        return self.storage.exists(blob_key(blob_id))

    def stored_size(self, blob_id: str) -> int:
        return self.storage.size(blob_key(blob_id))

    def put_file(self, blob_id: str, source: Path, compress: bool = True) -> int:
        """Store ``source`` as ``blob_id``; returns stored bytes. Refuses a file that changed."""
        key = blob_key(blob_id)
        with map_os_errors(f"read {source}"), source.open("rb") as handle:
            first = handle.read(SAMPLE_SIZE)
            if len(first) < SAMPLE_SIZE:  # the whole file: compress it once, in memory
                return self._put_small(blob_id, source, first, compress)
            codec = choose(first, self.level) if compress else Codec.RAW
            hasher = new_hasher()
            with self.storage.writer(key) as out:
                out.write(bytes([codec]))
                sink = self._encoder(codec, out)
                chunk = first
                while chunk:
                    hasher.update(chunk)
                    sink.write(chunk)
                    chunk = handle.read(BUFFER)
                if sink is not out:
                    sink.close()  # ends the zstd frame; closefd=False keeps ``out`` open
                if hasher.hexdigest() != blob_id:
                    raise StateError(f"The file {source} changed after it was added; add it again.")
                stored = out.tell()
        return stored

    def _put_small(self, blob_id: str, source: Path, data: bytes, compress: bool) -> int:
        if blob_id_of(data) != blob_id:
            raise StateError(f"The file {source} changed after it was added; add it again.")
        codec, payload = encode_small(data, self.level) if compress else (Codec.RAW, data)
        with self.storage.writer(blob_key(blob_id)) as out:
            out.write(bytes([codec]))
            out.write(payload)
        return 1 + len(payload)

    def _encoder(self, codec: Codec, out: BinaryIO) -> BinaryIO:
        if codec is Codec.ZSTD:
            compressor = zstandard.ZstdCompressor(level=self.level)
            writer: BinaryIO = compressor.stream_writer(out, closefd=False)
            return writer
        return out

    def get_into(self, blob_id: str, out: BinaryIO) -> int:
        """Write the bytes of ``blob_id`` into ``out``; raises IntegrityError on any mismatch."""
        hasher = new_hasher()
        size = 0
        with self.storage.open(blob_key(blob_id)) as stored:
            source = self._decoder(_codec_of(blob_id, stored.read(1)), stored)
            try:
                while chunk := source.read(BUFFER):
                    hasher.update(chunk)
                    out.write(chunk)
                    size += len(chunk)
            except zstandard.ZstdError as exc:
                raise IntegrityError(f"The stored blob {blob_id} is damaged.") from exc
        if hasher.hexdigest() != blob_id:
            raise IntegrityError(f"The stored blob {blob_id} does not match its hash.")
        return size

    @staticmethod
    def _decoder(codec: Codec, stored: BinaryIO) -> BinaryIO:
        if codec is Codec.ZSTD:
            reader: BinaryIO = zstandard.ZstdDecompressor().stream_reader(stored)
            return reader
        return stored

    def delete(self, blob_id: str) -> None:
        self.storage.delete(blob_key(blob_id))


def _codec_of(blob_id: str, header: bytes) -> Codec:
    try:
        return Codec(header[0])
    except (IndexError, ValueError) as exc:
        raise IntegrityError(f"The stored blob {blob_id} is damaged (unknown codec).") from exc
