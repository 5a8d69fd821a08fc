"""Resumable uploads: an object sent in numbered parts, then put together on the server.

A client cut off halfway asks which parts arrived and sends only the others. Parts live in the
server's own storage (``uploads/<id>/<part>``), not on one replica's disk, so any replica can
take the next part or the commit; a commit writes the object whole and removes the parts.
"""

from __future__ import annotations

import re
import shutil
import time
import uuid
from typing import IO, Annotated

from fastapi import APIRouter, Depends, Path, Request, Response
from pydantic import BaseModel, Field

from deltaset.errors import InvalidInputError
from deltaset.server import lease_writes, protection
from deltaset.server.api_objects import (
    KEY,
    OCTETS,
    check_key,
    guarded,
    replace_checked,
    stream_into,
)
from deltaset.server.auth import is_admin, writer
from deltaset.server.state import server_of
from deltaset.storage.base import Storage

router = APIRouter(tags=["uploads"])
Writes = [Depends(writer)]
UPLOADS = "uploads/"
MAX_PARTS = 10_000
STALE_S = 24 * 3600.0  # parts untouched this long belong to an upload its client gave up
UploadId = Annotated[str, Path(pattern=r"^[0-9a-f]{32}$")]
PartNumber = Annotated[int, Path(ge=0, lt=MAX_PARTS)]


class UploadModel(BaseModel):
    id: str


class PartsModel(BaseModel):
    """The parts received so far, by number, with their sizes."""

    parts: dict[int, int]


class CommitModel(BaseModel):
    key: str = Field(pattern=KEY)
    parts: int = Field(ge=1, le=MAX_PARTS)
    size: int = Field(ge=0)


def _part_key(upload_id: str, number: int) -> str:
    return f"{UPLOADS}{upload_id}/{number:05d}"


@router.post("/uploads", response_model=UploadModel, status_code=201, dependencies=Writes)
def start() -> UploadModel:
    return UploadModel(id=uuid.uuid4().hex)


@router.get("/uploads/{upload_id}", response_model=PartsModel, dependencies=Writes)
def received(upload_id: UploadId, request: Request) -> PartsModel:
    storage = server_of(request).storage
    found = {}
    for info in storage.list_info(f"{UPLOADS}{upload_id}/"):
        number = info.key.rsplit("/", 1)[-1]
        if re.fullmatch(r"\d{5}", number):
            found[int(number)] = info.size
    return PartsModel(parts=found)


@router.put(
    "/uploads/{upload_id}/parts/{number}",
    status_code=204,
    dependencies=Writes,
    response_class=Response,
    openapi_extra={"requestBody": {"required": True, "content": {OCTETS: {}}}},
)
async def put_part(upload_id: UploadId, number: PartNumber, request: Request) -> Response:
    await stream_into(server_of(request).storage, _part_key(upload_id, number), request)
    return Response(status_code=204)


@router.post(
    "/uploads/{upload_id}/commit", status_code=201, dependencies=Writes, response_class=Response
)
def commit(upload_id: UploadId, body: CommitModel, request: Request) -> Response:
    """Write the object from parts ``0 .. parts-1``, which must add up to ``size`` bytes."""
    server = server_of(request)
    storage = server.storage
    check_key(body.key)
    if lease_writes.is_lease(body.key):
        raise InvalidInputError(f"A lease is sent whole (PUT /objects/{body.key}), not in parts.")
    sizes = received(upload_id, request).parts
    missing = [n for n in range(body.parts) if n not in sizes]
    if missing:
        raise InvalidInputError(
            f"The upload {upload_id} lacks {len(missing)} parts (first: {missing[0]})."
        )
    total = sum(sizes[n] for n in range(body.parts))
    if total != body.size:
        raise InvalidInputError(
            f"The parts of the upload {upload_id} hold {total} bytes, not {body.size}."
        )
    if not is_admin(request) and guarded(server, body.key):
        with protection.spool() as whole:
            _compose_into(whole, storage, upload_id, body.parts)
            replace_checked(server, body.key, whole)
    else:
        with storage.writer(body.key) as out:  # published only once whole
            _compose_into(out, storage, upload_id, body.parts)
    for number in sizes:
        storage.delete(_part_key(upload_id, number))
    return Response(status_code=201)


def _compose_into(out: IO[bytes], storage: Storage, upload_id: str, parts: int) -> None:
    for number in range(parts):
        with storage.open(_part_key(upload_id, number)) as part:
            shutil.copyfileobj(part, out)


def sweep_stale(storage: Storage, older_than: float = STALE_S) -> int:
    """Delete the parts of uploads untouched for ``older_than`` seconds; returns how many.

    A client that comes back later asks which parts arrived and sends the others again.
    """
    cutoff = time.time() - older_than
    stale = [i.key for i in storage.list_info(UPLOADS) if i.modified and i.modified < cutoff]
    for key in stale:
        storage.delete(key)
    return len(stale)
