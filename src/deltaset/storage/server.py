"""A deltaset server's storage (``http(s)://host:port``), through its objects API.

The same Storage protocol as a folder or a bucket: whole objects written and published at once
(``If-None-Match: *`` for create-only writes), read whole or by HTTP range, listed with their
size and etag. Requests are retried like the object stores' (every one is idempotent).
"""

from __future__ import annotations

import io
import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import IO, Any, BinaryIO, cast

import httpx

from deltaset.errors import DeltasetError, NotFoundError, StorageError
from deltaset.storage.base import CountingReader, IOStats, ObjectInfo, Storage
from deltaset.storage.errors import map_os_errors
from deltaset.storage.http_client import Rewound, error_of, make_client, unreachable
from deltaset.storage.keys import check_prefix
from deltaset.storage.layout import DESCRIPTOR_KEY
from deltaset.storage.retry import retried

SPOOL_IN_MEMORY = 4 << 20
PART_SIZE = 128 << 20  # larger objects go up in parts of this size (see _send_in_parts)
TIMEOUT_S = 300.0


def open_server_storage(
    url: str, token: str | None, open_direct: Callable[[str], Storage]
) -> Storage:
    """A server's storage: straight from the object store behind it when this machine's own
    credentials can read it (no bytes through the server), else through the server."""
    proxy = ServerStorage(url, token)
    try:
        direct = proxy.direct_url()
    except BaseException:
        proxy.close()  # refused (a token missing, say): its connection goes with it
        raise
    if direct:
        try:
            candidate = open_direct(direct)
            candidate.get_bytes(DESCRIPTOR_KEY)  # readable with this machine's credentials
        except DeltasetError:
            return proxy
        proxy.close()
        return candidate
    return proxy


class ServerStorage:
    """``token`` is sent with every request: give it only for the server it belongs to (the
    caller decides; nothing here reads a token from the environment)."""

    def __init__(self, url: str, token: str | None = None) -> None:
        self.url = url.rstrip("/")
        self.stats = IOStats()
        self._http = make_client(self.url, token, TIMEOUT_S)

    def _call(self, method: str, path: str, what: str, **kwargs: Any) -> httpx.Response:
        """One request, tried again after a network failure or a 5xx; any other answer is
        returned as it is."""

        def once() -> httpx.Response:
            answer = self._http.request(method, path, **kwargs)
            if answer.status_code >= 500:
                answer.raise_for_status()  # a transient failure: try again
            return answer

        try:
            return retried(once, lambda exc: False)
        except httpx.TransportError as exc:
            raise StorageError(unreachable(self.url, exc, what)) from exc
        except httpx.HTTPError as exc:
            raise StorageError(f"Cannot {what} in {self.url}: {exc}.") from exc

    def _request(self, method: str, key: str, what: str, **kwargs: Any) -> httpx.Response:
        """A request about the object ``key``: missing is NotFoundError, 412 an answer."""
        answer = self._call(method, f"/api/v1/objects/{key}", what, **kwargs)
        if answer.status_code == 404:
            raise NotFoundError(f"The object {key} is missing from {self.url}.")
        if answer.status_code != 412 and not answer.is_success:
            raise error_of(answer, self.url)
        return answer

    def _api(self, method: str, path: str, what: str, **kwargs: Any) -> httpx.Response:
        answer = self._call(method, path, what, **kwargs)
        if not answer.is_success:
            raise error_of(answer, self.url)
        return answer

    # -- writing ------------------------------------------------------------------------------

    @contextmanager
    def writer(self, key: str) -> Iterator[BinaryIO]:
        with tempfile.SpooledTemporaryFile(SPOOL_IN_MEMORY) as spool:
            yield cast(BinaryIO, spool)
            size = spool.tell()
            self._send(key, cast(IO[bytes], spool), size, overwrite=True)

    def put_bytes(self, key: str, data: bytes, *, overwrite: bool = True) -> bool:
        return self._send(key, io.BytesIO(data), len(data), overwrite)

    def put_file(self, key: str, path: Path) -> None:
        with map_os_errors(f"read {path}"), open(path, "rb") as handle:
            self._send(key, handle, os.fstat(handle.fileno()).st_size, overwrite=True)

    def _send(self, key: str, body: IO[bytes], size: int, overwrite: bool) -> bool:
        if overwrite and size > PART_SIZE:
            self._send_in_parts(key, body, size)
            return True
        headers = {"Content-Length": str(size), "Content-Type": "application/octet-stream"}
        if not overwrite:
            headers["If-None-Match"] = "*"

        content = Rewound(body)
        answer = self._request("PUT", key, f"write {key}", content=content, headers=headers)
        if answer.status_code == 412:
            return False
        self.stats.count(writes=1, bytes_written=size)
        return True

    def _send_in_parts(self, key: str, body: IO[bytes], size: int) -> None:
        """A large object in parts, each retried on its own: a failure resends one part, not
        the whole object; the server writes the object once every part has arrived."""
        upload = self._api("POST", "/api/v1/uploads", f"write {key}").json()["id"]
        count = -(-size // PART_SIZE)
        for number in range(count):
            body.seek(number * PART_SIZE)
            piece = body.read(PART_SIZE)
            self._api(
                "PUT",
                f"/api/v1/uploads/{upload}/parts/{number}",
                f"write {key}",
                content=piece,
                headers={"Content-Type": "application/octet-stream"},
            )
        commit = {"key": key, "parts": count, "size": size}
        self._api("POST", f"/api/v1/uploads/{upload}/commit", f"write {key}", json=commit)
        self.stats.count(writes=1, bytes_written=size)

    # -- reading ------------------------------------------------------------------------------

    def open(self, key: str) -> BinaryIO:
        data = self._request("GET", key, f"read {key}").content
        self.stats.count(reads=1)
        return cast(BinaryIO, CountingReader(io.BytesIO(data), self.stats))

    def get_bytes(self, key: str) -> bytes:
        data = self._request("GET", key, f"read {key}").content
        self.stats.count(reads=1, bytes_read=len(data))
        return data

    def read_range(self, key: str, offset: int, length: int) -> bytes:
        if length <= 0:
            return b""
        headers = {"Range": f"bytes={offset}-{offset + length - 1}"}
        answer = self._request("GET", key, f"read {key}", headers=headers)
        data = b"" if answer.status_code == 416 else answer.content
        self.stats.count(reads=1, bytes_read=len(data))
        return data

    def exists(self, key: str) -> bool:
        try:
            self.stat(key)
        except NotFoundError:
            return False
        return True

    def size(self, key: str) -> int:
        return self.stat(key).size

    def stat(self, key: str) -> ObjectInfo:
        answer = self._request("HEAD", key, f"read {key}")
        etag = answer.headers.get("ETag", "").strip('"')
        return ObjectInfo(key, int(answer.headers.get("Content-Length", "0")), etag)

    def list(self, prefix: str) -> Iterator[str]:
        return (info.key for info in self.list_info(prefix))

    def list_info(self, prefix: str) -> Iterator[ObjectInfo]:
        check_prefix(prefix)
        what = f"list {prefix or 'the storage'}"
        answer = self._api("GET", "/api/v1/objects", what, params={"prefix": prefix})
        for doc in answer.json():
            modified = float(doc.get("modified") or 0.0)  # servers before it was listed: 0
            yield ObjectInfo(str(doc["key"]), int(doc["size"]), str(doc["etag"]), modified)

    def delete(self, key: str) -> None:
        with suppress(NotFoundError):  # already gone
            self._request("DELETE", key, f"delete {key}")

    def direct_url(self) -> str | None:
        """The object store the server keeps its bytes in, when it names one."""
        answer = self._api("GET", "/api/v1/info", "read the server's settings")
        direct = answer.json().get("direct")
        return str(direct) if direct else None

    def close(self) -> None:
        self._http.close()
