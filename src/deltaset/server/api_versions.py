"""The catalog API: version records, their manifests, drafts' staged changes, chunk lists.

Each route is one call of the Catalog protocol (``deltaset.catalog.http`` is its client), with
the checks a server owes its database whatever a client sends: names, version numbers, parents
that exist and are final, drafts that are drafts.
"""

from __future__ import annotations

import base64
import binascii
import itertools
import tempfile
import threading
from collections.abc import Iterator
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi import Path as FastAPIPath
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from deltaset.catalog import base
from deltaset.catalog.base import NewVersion
from deltaset.core import names, paths
from deltaset.core import version as semver
from deltaset.core.manifest import Manifest
from deltaset.core.name_pattern import name_matcher
from deltaset.core.records import State
from deltaset.engine import lineage, metadata
from deltaset.errors import AccessError, InvalidInputError, NotFoundError, StateError, StorageError
from deltaset.objects.store import BlobStore
from deltaset.server.auth import is_admin, reader, writer
from deltaset.server.limits import METADATA as MAX_METADATA
from deltaset.server.models import (
    BlobIdsModel,
    ChunkListsModel,
    FinalizeModel,
    ImportedModel,
    NewVersionModel,
    PathsModel,
    RecordModel,
    RenamedModel,
    RenameModel,
    StorageModel,
    TagEditModel,
)
from deltaset.server.staged_lines import read_changes, write_changes
from deltaset.server.state import server_of

router = APIRouter(tags=["versions"])
Reads = [Depends(reader)]
Writes = [Depends(writer)]
NDJSON = "application/x-ndjson"
METADATA_NAME = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$"
MetadataKind = Literal["json", "parquet"]
STREAM_BATCH = 2000  # staged changes per piece of a streamed answer
_NDJSON_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {NDJSON: {"schema": {"type": "string"}}},
        "description": "One JSON change per line (see ChangeModel).",
    }
}


@router.post("/versions", response_model=RecordModel, status_code=201, dependencies=Writes)
def create_version(new: NewVersionModel, request: Request) -> RecordModel:
    server = server_of(request)
    for parent_id in dict.fromkeys(new.parents):
        server.catalog.get(parent_id)  # 404 for a parent that does not exist
    record = server.catalog.create_version(
        NewVersion(
            project=new.project.strip("/") or new.project,
            name=new.name,
            version=semver.validate(new.version) if new.version else None,
            parents=tuple(dict.fromkeys(new.parents)),
            tags=tuple(new.tags),
            description=new.description,
            storage=new.storage or server.storage_url,
            user=new.user,
        )
    )
    return RecordModel.of(record)


@router.get("/versions", response_model=list[RecordModel], dependencies=Reads)
def search(
    request: Request,
    project: str | None = None,
    name: str | None = None,
    partial_name: str | None = None,
    version: str | None = None,
    tags: Annotated[list[str] | None, Query()] = None,
    ids: Annotated[list[str] | None, Query()] = None,
    id_prefix: Annotated[str | None, Query(pattern="^[0-9a-f]{1,32}$")] = None,
    states: Annotated[list[State] | None, Query()] = None,
    recursive_project: bool = True,
) -> list[RecordModel]:
    query = base.Query(
        project=project,
        name=name,
        partial_name=partial_name,
        version=version,
        tags=tuple(tags or ()),
        ids=tuple(ids or ()),
        id_prefix=id_prefix,
        states=tuple(states or ()),
        recursive_project=recursive_project,
    )
    if partial_name is not None:
        name_matcher(partial_name)  # refused in one sentence before the catalog is read
    return [RecordModel.of(r) for r in server_of(request).catalog.search(query)]


@router.get("/storages", response_model=list[str], dependencies=Reads)
def storages(request: Request) -> list[str]:
    return server_of(request).catalog.storages()


@router.get("/versions/{version_id}", response_model=RecordModel, dependencies=Reads)
def get(version_id: str, request: Request) -> RecordModel:
    return RecordModel.of(server_of(request).catalog.get(version_id))


@router.get("/versions/{version_id}/children", response_model=list[RecordModel], dependencies=Reads)
def children(version_id: str, request: Request) -> list[RecordModel]:
    return [RecordModel.of(r) for r in server_of(request).catalog.children(version_id)]


@router.get(
    "/versions/{version_id}/lineage", response_model=dict[str, list[str]], dependencies=Reads
)
def version_lineage(version_id: str, request: Request) -> dict[str, list[str]]:
    """Every ancestor of the version with its parents in merge order: {id: [parent ids]}."""
    catalog = server_of(request).catalog
    return lineage.dependency_graph(catalog, catalog.get(version_id))


@router.put("/versions/{version_id}", status_code=204, dependencies=Writes)
def update(version_id: str, body: RecordModel, request: Request) -> Response:
    catalog = server_of(request).catalog
    current = catalog.get(version_id)
    if body.id != version_id:
        raise InvalidInputError("The record's id differs from the version in the URL.")
    record = body.record()
    if current.state.is_final and record.state is State.DRAFT:
        raise StateError(f"The dataset version {version_id} is final and cannot go back.")
    if record.version != current.version:
        if current.state.is_final:
            raise StateError(f"The dataset version {version_id} is final: its number is fixed.")
        semver.validate(record.version)
    catalog.update(record)
    return Response(status_code=204)


@router.post("/versions/{version_id}/tags", response_model=list[str], dependencies=Writes)
def edit_tags(version_id: str, body: TagEditModel, request: Request) -> list[str]:
    """Add and remove tags at once; edits by other clients meanwhile are kept."""
    return list(server_of(request).catalog.edit_tags(version_id, body.add, body.remove))


@router.put("/versions/{version_id}/storage", status_code=204, dependencies=Writes)
def update_storage(version_id: str, body: StorageModel, request: Request) -> Response:
    catalog = server_of(request).catalog
    _require_draft(catalog.get(version_id).state, version_id)
    catalog.update_storage(version_id, body.storage)
    return Response(status_code=204)


@router.post("/versions/{version_id}/finalize", status_code=204, dependencies=Writes)
def finalize(version_id: str, body: FinalizeModel, request: Request) -> Response:
    catalog = server_of(request).catalog
    _require_draft(catalog.get(version_id).state, version_id)
    record = body.record.record()
    if record.id != version_id or not record.state.is_final:
        raise InvalidInputError("Finalizing needs the version's own record, in a final state.")
    catalog.finalize(record, _checked_manifest(body.manifest))
    return Response(status_code=204)


@router.post("/datasets/rename", response_model=RenamedModel, dependencies=Writes)
def rename_dataset(body: RenameModel, request: Request) -> RenamedModel:
    """Move every version of a dataset to a new project and name (rename and move)."""
    catalog = server_of(request).catalog
    return RenamedModel(
        renamed=catalog.rename_dataset(body.project, body.name, body.new_project, body.new_name)
    )


@router.post("/versions/import", response_model=ImportedModel, dependencies=Writes)
def import_final(body: FinalizeModel, request: Request) -> ImportedModel:
    record = body.record.record()
    if not record.state.is_final:
        raise InvalidInputError("Only final versions are imported.")
    return ImportedModel(
        imported=server_of(request).catalog.import_final(record, _checked_manifest(body.manifest))
    )


@router.get(
    "/versions/{version_id}/manifest",
    dependencies=Reads,
    responses={200: {"content": {"application/octet-stream": {}}}, 204: {}},
)
def manifest(version_id: str, request: Request) -> Response:
    data = server_of(request).catalog.manifest(version_id)
    if data is None:
        return Response(status_code=204)
    return Response(data, media_type="application/octet-stream")


@router.delete("/versions/{version_id}", status_code=204, dependencies=Writes)
def delete(version_id: str, request: Request) -> Response:
    """Delete a version's catalog entry: a draft's with any token that writes, a final
    version's only with an admin token (as its stored objects, see ``protection``)."""
    catalog = server_of(request).catalog
    try:
        final = catalog.get(version_id).state.is_final
    except NotFoundError:
        return Response(status_code=204)  # as in every catalog, deleting nothing is harmless
    if final and not is_admin(request):
        raise AccessError(
            f"Only an admin token may delete the final version {version_id} "
            "('deltaset server token create --admin').",
            403,
        )
    catalog.delete(version_id)
    return Response(status_code=204)


# -- metadata -----------------------------------------------------------------------------------

MetadataName = Annotated[str, FastAPIPath(pattern=METADATA_NAME)]


@router.get("/versions/{version_id}/metadata", response_model=list[str], dependencies=Reads)
def metadata_names(version_id: str, request: Request) -> list[str]:
    return server_of(request).catalog.metadata_names(version_id)


@router.get(
    "/versions/{version_id}/metadata/{name}",
    dependencies=Reads,
    responses={200: {"content": {"application/octet-stream": {}}}, 204: {}},
)
def get_metadata(version_id: str, name: MetadataName, request: Request) -> Response:
    found = server_of(request).catalog.get_metadata(version_id, name)
    if found is None:
        return Response(status_code=204)
    kind, data = found
    return Response(data, media_type="application/octet-stream", headers={"X-Deltaset-Kind": kind})


@router.put(
    "/versions/{version_id}/metadata/{name}",
    status_code=204,
    dependencies=Writes,
    response_class=Response,
    openapi_extra={"requestBody": {"required": True, "content": {"application/octet-stream": {}}}},
)
async def set_metadata(
    version_id: str, name: MetadataName, kind: MetadataKind, request: Request
) -> Response:
    catalog = server_of(request).catalog
    data = await request.body()
    if len(data) > MAX_METADATA:
        raise InvalidInputError(f"Metadata is kept up to {MAX_METADATA} bytes; this is larger.")
    if kind == "json":  # what a client's own check refuses (NaN, infinities, deep nesting)
        await run_in_threadpool(metadata.parse_json, data)
    await run_in_threadpool(catalog.get, version_id)
    await run_in_threadpool(catalog.set_metadata, version_id, name, kind, data)
    return Response(status_code=204)


# -- drafts -------------------------------------------------------------------------------------


@router.post(
    "/versions/{version_id}/staged",
    status_code=204,
    dependencies=Writes,
    openapi_extra=_NDJSON_BODY,
)
async def stage(version_id: str, request: Request) -> Response:
    """Stage the changes of the body, all of them or (on any bad line) none."""
    catalog = server_of(request).catalog
    with tempfile.SpooledTemporaryFile(8 << 20) as spool:
        async for piece in request.stream():
            spool.write(piece)
        spool.seek(0)

        def stage_all() -> None:
            _require_draft(catalog.get(version_id).state, version_id)
            catalog.stage_columns(version_id, read_changes(spool))

        await run_in_threadpool(stage_all)
    return Response(status_code=204)


@router.get(
    "/versions/{version_id}/staged",
    dependencies=Reads,
    responses={200: {"content": {NDJSON: {}}}},
)
def staged(version_id: str, request: Request) -> StreamingResponse:
    catalog = server_of(request).catalog

    def lines() -> Iterator[bytes]:
        # Many lines per piece: the framework moves each piece of a sync stream through a
        # thread, which costs more than making a line.
        changes = iter(catalog.staged_columns(version_id))
        while batch := list(itertools.islice(changes, STREAM_BATCH)):
            yield write_changes(batch)

    return StreamingResponse(lines(), media_type=NDJSON)


@router.post("/versions/{version_id}/unstage", status_code=204, dependencies=Writes)
def unstage(version_id: str, body: PathsModel, request: Request) -> Response:
    catalog = server_of(request).catalog
    _require_draft(catalog.get(version_id).state, version_id)
    catalog.unstage(version_id, map(names.from_text, body.paths))
    return Response(status_code=204)


@router.post(
    "/versions/{version_id}/staged-sources",
    response_model=dict[str, str],
    dependencies=Writes,
)
def staged_sources(version_id: str, body: BlobIdsModel, request: Request) -> dict[str, str]:
    """Asked only by an upload of the draft (a writer), and answering may fill the catalog's
    lookup of the draft's sources: a write, refused to a read-only token."""
    found = server_of(request).catalog.staged_sources(version_id, body.blob_ids)
    return {blob_id: names.to_text(source) for blob_id, source in found.items()}


@router.post("/versions/{version_id}/uploaded", status_code=204, dependencies=Writes)
def mark_uploaded(version_id: str, request: Request) -> Response:
    catalog = server_of(request).catalog
    _require_draft(catalog.get(version_id).state, version_id)
    catalog.mark_uploaded(version_id)
    return Response(status_code=204)


@router.put("/chunk-lists", status_code=204, dependencies=Writes)
def put_chunk_lists(body: ChunkListsModel, request: Request) -> Response:
    """Keep the chunk lists of blobs, each checked against the server's storage first.

    Clients trust the lists this server gives them: a close skips uploading a file whose
    listed chunks are stored. So a list is kept only once its chunks are all in the server's
    storage and, read in order, hash to the blob's id (a list already kept, unchanged, is not
    read again). A wrong one is refused with 422 and changes nothing.
    """
    for blob_id, chunks in body.lists.items():
        for found in (blob_id, *chunks):
            _check_id(found)
    catalog = server_of(request).catalog
    kept = catalog.chunk_lists(body.lists)
    fresh = {b: c for b, c in body.lists.items() if kept.get(b) != tuple(c)}
    if fresh:
        store = _blob_store(request)
        for blob_id, chunks in fresh.items():
            _check_chunk_list(store, blob_id, chunks)
    catalog.put_chunk_lists(body.lists)
    return Response(status_code=204)


class ChunkListError(InvalidInputError):
    http_status = 422


_STORE_LOCK = threading.Lock()


def _blob_store(request: Request) -> BlobStore:
    """The server's blob store, made once (its index loaded) and brought up to date."""
    with _STORE_LOCK:
        store: BlobStore | None = getattr(request.app.state, "blob_store", None)
        if store is None:
            store = request.app.state.blob_store = BlobStore(server_of(request).storage)
        else:
            store.refresh()
        return store


def _check_chunk_list(store: BlobStore, blob_id: str, chunks: list[str]) -> None:
    if not chunks:
        raise ChunkListError(f"The chunk list of blob {blob_id} is empty.")
    lacking = store.missing(chunks)
    if lacking:
        raise ChunkListError(
            f"The chunk list of blob {blob_id} names {len(lacking)} chunks this server's storage "
            f"does not hold (first: {lacking[0]}); upload them first."
        )
    if store.content_id(chunks) != blob_id:
        raise ChunkListError(
            f"The chunks listed for blob {blob_id} do not make that blob: joined in order, "
            "their content has another hash."
        )


@router.post("/chunk-lists/query", response_model=dict[str, list[str]], dependencies=Reads)
def chunk_lists(body: BlobIdsModel, request: Request) -> dict[str, list[str]]:
    found = server_of(request).catalog.chunk_lists(body.blob_ids)
    return {blob_id: list(chunks) for blob_id, chunks in found.items()}


# -- checks -------------------------------------------------------------------------------------


def _require_draft(state: State, version_id: str) -> None:
    if state.is_final:
        raise StateError(
            f"The dataset version {version_id} is final and cannot be modified; "
            "create a new version with it as a parent."
        )


def _checked_manifest(text: str) -> bytes:
    """The manifest sent as base64 ``text``, if it is whole and every path in it is one
    staging would take (see ``paths.check_new``): what a pull writes as named."""
    data = _decode(text)
    try:
        files = Manifest.from_bytes(data)
    except StorageError as exc:
        raise InvalidInputError(f"The manifest cannot be read: {exc}") from exc
    for path in files:
        try:
            paths.check_new(path)
        except InvalidInputError as exc:
            raise InvalidInputError(f"The manifest holds a path staging refuses: {exc}") from exc
    return data


def _decode(text: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise InvalidInputError("The manifest is not valid base64.") from exc


def _check_id(text: str) -> None:
    if len(text) != 64 or any(c not in "0123456789abcdef" for c in text):
        raise InvalidInputError(f"{text[:80]!r} is not a blob id (64 lowercase hex digits).")
