"""The Catalog protocol as a client of a deltaset server (``deltaset server``).

Every call is one request; the server's JSON errors come back as the same DeltasetError the
embedded catalog would raise. Staged changes travel as NDJSON streams, so a draft of a million
files is staged and read without holding it all in memory.

A request that asking again cannot change the outcome of (reads, and writes that set a value
rather than add one) is tried again, as the storage client does (see ``storage.retry``), after
a dropped connection or a 502, 503 or 504 answer from the server or a proxy before it. One
that makes something new (a version, a finalization, an import, a rename, a delete) is not:
its first attempt may have reached the server.
"""

from __future__ import annotations

import base64
import itertools
import json
import tempfile
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from json.encoder import encode_basestring_ascii as _quoted
from typing import Any

import httpx

from deltaset.catalog.base import DraftChange, NewVersion, Query, StagedFile, Use, staged_file
from deltaset.catalog.rows import change_of, sources_of
from deltaset.core import names
from deltaset.core.records import VersionRecord, check_version_id
from deltaset.errors import CatalogError, NotFoundError
from deltaset.storage.http_client import Rewound, error_of, make_client, unreachable
from deltaset.storage.retry import ATTEMPTS, retried

TIMEOUT_S = 300.0
_BATCH = 5000
_READ_BYTES = 1 << 20  # staged changes parsed at once, by their size
TRANSIENT = frozenset({502, 503, 504})  # a server or proxy briefly unavailable
_IDEMPOTENT = frozenset({"GET", "HEAD", "PUT"})
USES_PER_REQUEST = 1000  # what the server takes at once (server.api_uses.MAX_USES)


class _Transient(Exception):
    """A 502, 503 or 504 answer, to try again."""

    def __init__(self, answer: httpx.Response) -> None:
        super().__init__(answer.status_code)
        self.answer = answer


def raise_for(answer: httpx.Response, api_url: str) -> None:
    """The DeltasetError a failed answer stands for, with the server's own sentence."""
    if not answer.is_success:
        raise error_of(answer, api_url)


class HttpCatalog:
    def __init__(self, api_url: str, token: str | None = None) -> None:
        self.url = api_url.rstrip("/")
        self._http = make_client(self.url, token, TIMEOUT_S)

    def close(self) -> None:
        self._http.close()

    def _call(
        self,
        method: str,
        path: str,
        *,
        idempotent: bool | None = None,
        **kwargs: Any,
    ) -> httpx.Response:
        """One request (tried again if ``idempotent``: by default, if its method is)."""

        def once() -> httpx.Response:
            return self._http.request(method, f"/api/v1{path}", **kwargs)

        return self._retrying(once, method in _IDEMPOTENT if idempotent is None else idempotent)

    def _retrying(self, attempt: Callable[[], httpx.Response], again: bool) -> httpx.Response:
        """The answer of ``attempt()``, tried up to ATTEMPTS times if ``again``; a failed
        answer is raised as the DeltasetError it stands for."""

        def once() -> httpx.Response:
            answer = attempt()
            if again and answer.status_code in TRANSIENT:
                raise _Transient(answer)
            return answer

        def is_answer(exc: Exception) -> bool:
            return not isinstance(exc, httpx.TransportError | _Transient)

        try:
            answer = retried(once, is_answer, ATTEMPTS if again else 1)
        except _Transient as exc:
            answer = exc.answer
        except httpx.TransportError as exc:
            raise CatalogError(unreachable(self.url, exc)) from exc
        except httpx.HTTPError as exc:
            raise CatalogError(f"Cannot reach the deltaset server at {self.url}: {exc}.") from exc
        raise_for(answer, self.url)
        return answer

    # -- versions -----------------------------------------------------------------------------

    def create_version(self, new: NewVersion) -> VersionRecord:
        body = {
            "project": new.project,
            "name": new.name,
            "version": new.version,
            "parents": list(new.parents),
            "tags": list(new.tags),
            "description": new.description,
            "storage": new.storage,
            "user": new.user,
        }
        return _record(self._call("POST", "/versions", json=body).json())

    def get(self, version_id: str) -> VersionRecord:
        check_version_id(version_id)  # nothing else is put in a URL's path
        return _record(self._call("GET", f"/versions/{version_id}").json())

    def search(self, query: Query) -> list[VersionRecord]:
        params: list[tuple[str, str]] = [("recursive_project", str(query.recursive_project))]
        for key in ("project", "name", "partial_name", "version", "id_prefix"):
            value = getattr(query, key)
            if value is not None:
                params.append((key, value))
        params += [("tags", t) for t in query.tags]
        params += [("ids", i) for i in query.ids]
        params += [("states", str(s)) for s in query.states]
        return [_record(doc) for doc in self._call("GET", "/versions", params=params).json()]

    def storages(self) -> list[str]:
        try:
            return [str(url) for url in self._call("GET", "/storages").json()]
        except NotFoundError:  # a server older than the route: from every record
            return sorted({r.storage for r in self.search(Query())})

    def children(self, version_id: str) -> list[VersionRecord]:
        return [_record(d) for d in self._call("GET", f"/versions/{version_id}/children").json()]

    def update(self, record: VersionRecord) -> None:
        self._call("PUT", f"/versions/{record.id}", json=_doc(record))

    def update_storage(self, version_id: str, storage: str) -> None:
        self._call("PUT", f"/versions/{version_id}/storage", json={"storage": storage})

    def edit_tags(
        self, version_id: str, add: Sequence[str] = (), remove: Sequence[str] = ()
    ) -> tuple[str, ...]:
        body = {"add": list(add), "remove": list(remove)}
        path = f"/versions/{version_id}/tags"
        return tuple(self._call("POST", path, json=body, idempotent=True).json())

    def rename_dataset(self, project: str, name: str, new_project: str, new_name: str) -> int:
        body = {"project": project, "name": name, "new_project": new_project, "new_name": new_name}
        return int(self._call("POST", "/datasets/rename", json=body).json()["renamed"])

    def finalize(self, record: VersionRecord, manifest: bytes) -> None:
        body = {"record": _doc(record), "manifest": base64.b64encode(manifest).decode()}
        self._call("POST", f"/versions/{record.id}/finalize", json=body)

    def import_final(self, record: VersionRecord, manifest: bytes) -> bool:
        body = {"record": _doc(record), "manifest": base64.b64encode(manifest).decode()}
        return bool(self._call("POST", "/versions/import", json=body).json()["imported"])

    def manifest(self, version_id: str) -> bytes | None:
        answer = self._call("GET", f"/versions/{version_id}/manifest")
        return None if answer.status_code == 204 else answer.content

    def delete(self, version_id: str) -> None:
        self._call("DELETE", f"/versions/{version_id}")

    # -- drafts -------------------------------------------------------------------------------

    def stage(self, version_id: str, changes: Iterable[DraftChange]) -> None:
        # The whole stream is made before anything is sent: one that fails halfway (a file
        # that cannot be read) sends nothing, so nothing is staged.
        with tempfile.SpooledTemporaryFile(8 << 20) as spool:
            for change in changes:
                spool.write(_line(change))
            size = spool.tell()
            self._call(  # staging the same changes twice stages them once
                "POST",
                f"/versions/{version_id}/staged",
                idempotent=True,
                content=Rewound(spool),  # every attempt sends it from its start
                headers={"Content-Type": "application/x-ndjson", "Content-Length": str(size)},
            )

    def unstage(self, version_id: str, paths: Iterable[str]) -> None:
        wanted = iter(paths)
        while batch := list(itertools.islice(wanted, _BATCH)):
            path = f"/versions/{version_id}/unstage"
            body = {"paths": [names.to_text(p) for p in batch]}
            self._call("POST", path, json=body, idempotent=True)

    def staged_files(self, version_id: str) -> Iterator[StagedFile]:
        return map(staged_file, self.staged(version_id))

    def staged(self, version_id: str) -> Iterator[DraftChange]:
        # Received whole (on disk past a few MiB) before any change is used: a stream cut off
        # halfway is asked for again, never half read.
        with tempfile.SpooledTemporaryFile(8 << 20) as spool:

            def receive() -> httpx.Response:
                spool.seek(0)
                spool.truncate()
                with self._http.stream("GET", f"/api/v1/versions/{version_id}/staged") as answer:
                    if not answer.is_success:
                        answer.read()
                        return answer
                    for piece in answer.iter_bytes():
                        spool.write(piece)
                return answer

            self._retrying(receive, again=True)
            spool.seek(0)
            # Many lines parsed at once, as one JSON array: a line of the server's never
            # holds a newline, and a call per line cost twice the parsing.
            while lines := spool.readlines(_READ_BYTES):
                found = b",".join(line for line in lines if line.strip())
                yield from map(change_of, json.loads(b"[" + found + b"]"))

    def staged_sources(self, version_id: str, blob_ids: Iterable[str]) -> dict[str, str]:
        found: dict[str, str] = {}
        wanted = iter(blob_ids)
        while batch := list(itertools.islice(wanted, _BATCH)):
            path = f"/versions/{version_id}/staged-sources"
            found.update(self._call("POST", path, json={"blob_ids": batch}, idempotent=True).json())
        return sources_of(found)

    def put_chunk_lists(self, lists: Mapping[str, Sequence[str]]) -> None:
        if lists:
            body = {"lists": {b: list(c) for b, c in lists.items()}}
            self._call("PUT", "/chunk-lists", json=body)

    def chunk_lists(self, blob_ids: Iterable[str]) -> dict[str, tuple[str, ...]]:
        found: dict[str, tuple[str, ...]] = {}
        wanted = iter(blob_ids)
        while batch := list(itertools.islice(wanted, _BATCH)):
            query = {"blob_ids": batch}
            answer = self._call("POST", "/chunk-lists/query", json=query, idempotent=True).json()
            found.update({b: tuple(c) for b, c in answer.items()})
        return found

    def set_metadata(self, version_id: str, name: str, kind: str, data: bytes) -> None:
        self._call(
            "PUT",
            f"/versions/{version_id}/metadata/{name}",
            params={"kind": kind},
            content=data,
            headers={"Content-Type": "application/octet-stream"},
        )

    def get_metadata(self, version_id: str, name: str) -> tuple[str, bytes] | None:
        answer = self._call("GET", f"/versions/{version_id}/metadata/{name}")
        if answer.status_code == 204:
            return None
        return answer.headers["X-Deltaset-Kind"], answer.content

    def metadata_names(self, version_id: str) -> list[str]:
        return [str(n) for n in self._call("GET", f"/versions/{version_id}/metadata").json()]

    def mark_uploaded(self, version_id: str) -> None:
        self._call("POST", f"/versions/{version_id}/uploaded", idempotent=True)

    def add_uses(self, uses: Sequence[Use]) -> None:
        for start in range(0, len(uses), USES_PER_REQUEST):
            body = {"uses": [u.to_dict() for u in uses[start : start + USES_PER_REQUEST]]}
            self._call("POST", "/uses", json=body)  # not tried again: it would count twice

    def uses(self, version_id: str | None = None, run: str | None = None) -> list[Use]:
        params = {k: v for k, v in (("version_id", version_id), ("run", run)) if v is not None}
        return [Use.from_dict(doc) for doc in self._call("GET", "/uses", params=params).json()]


def _line(change: DraftChange) -> bytes:
    """``change`` as one NDJSON line of :func:`change_columns`, written field by field: what
    ``json.dumps`` writes of it, in a third of its time (one line per file an add stages)."""
    return (
        f'{{"path":{_quoted(names.to_text(change.path))},"removed":{_BOOL[change.removed]},'
        f'"size":{int(change.size)},"blob_id":{_quoted(change.blob_id)},'
        f'"source":{_quoted(names.to_text(change.source))},'
        f'"uploaded":{_BOOL[change.uploaded]},"link":{_quoted(change.link)},'
        f'"etag":{_quoted(change.etag)}}}\n'
    ).encode()


_BOOL = {False: "false", True: "true"}


def _doc(record: VersionRecord) -> dict[str, Any]:
    doc = record.to_dict()
    doc.pop("format", None)
    return doc


def _record(doc: dict[str, Any]) -> VersionRecord:
    return VersionRecord.from_dict(doc)
