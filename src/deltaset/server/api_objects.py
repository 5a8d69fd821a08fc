"""The storage API: the objects of the server's storage (packs, indexes, manifests, records),
written whole and read whole or by byte range.

Keys are checked before they reach the storage: relative, never climbing out with ``..``, and
outside the folders the server keeps for itself.
"""

from __future__ import annotations

import re
import shutil
from typing import IO, Annotated

from fastapi import APIRouter, Depends, Header, Request, Response
from fastapi import Path as FastAPIPath
from starlette.concurrency import run_in_threadpool

from deltaset.errors import InvalidInputError
from deltaset.server import lease_writes, protection
from deltaset.server.auth import is_admin, reader, writer
from deltaset.server.models import ObjectModel
from deltaset.server.state import Server, server_of
from deltaset.storage.base import Storage

router = APIRouter(tags=["objects"])
Reads = [Depends(reader)]
Writes = [Depends(writer)]
# A relative key whose every part starts with a letter or digit (so never "." or ".."). The
# folders the server keeps for itself (writes in progress, parts of uploads) are not objects.
KEY = r"^[A-Za-z0-9][A-Za-z0-9._-]*(/[A-Za-z0-9][A-Za-z0-9._-]*)*$"
PREFIX = r"^([A-Za-z0-9][A-Za-z0-9._-]*/)*([A-Za-z0-9][A-Za-z0-9._-]*)?$"  # the start of a key
RESERVED = ("tmp", "uploads")
RANGE = r"^bytes=(\d+)-(\d*)$"
_KEY, _PREFIX, _RANGE = re.compile(KEY), re.compile(PREFIX), re.compile(RANGE)
Key = Annotated[str, FastAPIPath(pattern=KEY)]
OCTETS = "application/octet-stream"


def check_key(key: str) -> str:
    """``key`` if it names an object deltaset may keep in a storage, else InvalidInputError
    (the schema says as much; this holds whatever the framework lets through)."""
    if not _KEY.match(key) or key.split("/", 1)[0] in RESERVED:
        raise InvalidInputError(f"{key[:200]!r} is not a key of a deltaset storage.")
    return key


def check_prefix(prefix: str) -> str:
    """``prefix`` if it starts keys of a deltaset storage, else InvalidInputError."""
    if not _PREFIX.match(prefix):
        raise InvalidInputError(f"{prefix[:200]!r} is not a prefix of keys of a deltaset storage.")
    return prefix


@router.get("/objects", response_model=list[ObjectModel], dependencies=Reads)
def list_objects(request: Request, prefix: str = "") -> list[ObjectModel]:
    storage = server_of(request).storage
    check_prefix(prefix)
    return [
        ObjectModel(key=i.key, size=i.size, etag=i.etag, modified=i.modified)
        for i in storage.list_info(prefix)
        if i.key.split("/", 1)[0] not in RESERVED
    ]


@router.head("/objects/{key:path}", dependencies=Reads, response_class=Response)
def head_object(key: Key, request: Request) -> Response:
    info = server_of(request).storage.stat(check_key(key))
    headers = {"Content-Length": str(info.size), "ETag": f'"{info.etag}"'}
    return Response(headers=headers, media_type=OCTETS)


@router.get(
    "/objects/{key:path}",
    dependencies=Reads,
    responses={
        200: {"content": {OCTETS: {}}},
        206: {"content": {OCTETS: {}}},
        416: {"description": "The range starts past the end of the object"},
    },
)
def get_object(
    key: Key,
    request: Request,
    range: Annotated[str | None, Header(pattern=RANGE)] = None,
) -> Response:
    storage = server_of(request).storage
    check_key(key)
    if range is None:
        return Response(storage.get_bytes(key), media_type=OCTETS)
    match = _RANGE.match(range.strip())
    if match is None:
        raise InvalidInputError(f"The range {range[:100]!r} is not one 'bytes=start-end' range.")
    size = storage.size(key)
    start = int(match[1])
    end = min(int(match[2]) if match[2] else size - 1, size - 1)
    if start > end:
        return Response(
            status_code=416, headers={"Content-Range": f"bytes */{size}"}, media_type=OCTETS
        )
    data = storage.read_range(key, start, end - start + 1)
    return Response(
        data,
        status_code=206,
        media_type=OCTETS,
        headers={"Content-Range": f"bytes {start}-{start + len(data) - 1}/{size}"},
    )


@router.put(
    "/objects/{key:path}",
    status_code=201,
    dependencies=Writes,
    response_class=Response,
    openapi_extra={"requestBody": {"required": True, "content": {OCTETS: {}}}},
    responses={412: {"description": "If-None-Match: * and the object exists"}},
)
async def put_object(
    key: Key,
    request: Request,
    if_none_match: Annotated[str | None, Header()] = None,
) -> Response:
    """Publish the body as ``key``, whole or not at all; ``If-None-Match: *`` keeps an
    existing object (answering 412) rather than replacing it."""
    server = server_of(request)
    storage = server.storage
    check_key(key)
    if lease_writes.is_lease(key):
        lease_writes.check_kind(key, is_admin(request))
        body = await lease_writes.lease_body(key, request)
        created = await run_in_threadpool(
            storage.put_bytes, key, body, overwrite=if_none_match != "*"
        )
        return Response(status_code=201 if created else 412)
    if if_none_match == "*":  # create-only writes are small (a storage's descriptor)
        created = await run_in_threadpool(
            storage.put_bytes, key, await request.body(), overwrite=False
        )
        return Response(status_code=201 if created else 412)
    if not is_admin(request) and await run_in_threadpool(guarded, server, key):
        await _replace_guarded(server, key, request)
    else:
        await stream_into(storage, key, request)
    return Response(status_code=201)


def guarded(server: Server, key: str) -> bool:
    """Whether writing ``key`` would replace an object only an admin token may change."""
    return protection.protected(server, key) and server.storage.exists(key)


async def _replace_guarded(server: Server, key: str, request: Request) -> None:
    """Write the body over a protected object only if that changes nothing a read-write token
    may not change (see ``protection``)."""
    with protection.spool() as body:
        async for piece in request.stream():
            body.write(piece)
        await run_in_threadpool(replace_checked, server, key, body)


def replace_checked(server: Server, key: str, body: IO[bytes]) -> None:
    if protection.check_replacement(server, key, body):
        return  # the same bytes again: nothing to write
    body.seek(0)
    with server.storage.writer(key) as handle:
        shutil.copyfileobj(body, handle)


async def stream_into(storage: Storage, key: str, request: Request) -> None:
    """Write the body into the storage as it arrives (never whole in memory, written once),
    in pieces of about 1 MiB handed to a thread; published only if the body arrives whole."""
    writer = storage.writer(key)
    handle = await run_in_threadpool(writer.__enter__)
    try:
        pending = bytearray()
        async for piece in request.stream():
            pending += piece
            if len(pending) >= 1 << 20:
                await run_in_threadpool(handle.write, bytes(pending))
                pending.clear()
        await run_in_threadpool(handle.write, bytes(pending))
    except BaseException as exc:
        await run_in_threadpool(writer.__exit__, type(exc), exc, exc.__traceback__)
        raise
    await run_in_threadpool(writer.__exit__, None, None, None)


@router.delete("/objects/{key:path}", status_code=204, dependencies=Writes, response_class=Response)
def delete_object(key: Key, request: Request) -> Response:
    server = server_of(request)
    check_key(key)
    if lease_writes.is_lease(key):
        lease_writes.check_kind(key, is_admin(request))
    if not is_admin(request) and protection.protected(server, key):
        raise protection.refusal(key)
    server.storage.delete(key)
    return Response(status_code=204)
