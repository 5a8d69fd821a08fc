"""The uses API: which process, under which run, read which version (``deltaset usage``)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import BaseModel, Field

from deltaset.catalog.base import Use
from deltaset.server.auth import reader, writer
from deltaset.server.state import server_of

router = APIRouter(tags=["uses"])
MAX_USES = 1000  # per request: a process records a handful


class UseModel(BaseModel):
    version_id: str = Field(min_length=1, max_length=32)
    alias: str = Field(max_length=1000)
    used: str = Field(min_length=1, max_length=40)
    user: str = Field(max_length=1000)
    host: str = Field(max_length=1000)
    command: str = Field(max_length=100_000)
    git_commit: str = Field("", max_length=64)
    git_dirty: bool | None = None
    run_kind: str = Field("", max_length=16)
    run_id: str = Field("", max_length=1000)
    run_name: str = Field("", max_length=1000)
    experiment: str = Field("", max_length=1000)

    def use(self) -> Use:
        return Use.from_dict(self.model_dump())


class UsesModel(BaseModel):
    uses: list[UseModel] = Field(max_length=MAX_USES)


@router.post("/uses", status_code=204, dependencies=[Depends(writer)])
def add_uses(body: UsesModel, request: Request) -> Response:
    catalog = server_of(request).catalog
    for version_id in {u.version_id for u in body.uses}:
        catalog.get(version_id)  # 404 for a version that does not exist
    catalog.add_uses([u.use() for u in body.uses])
    return Response(status_code=204)


@router.get("/uses", response_model=list[UseModel], dependencies=[Depends(reader)])
def uses(
    request: Request,
    version_id: Annotated[str | None, Query(max_length=32)] = None,
    run: str | None = None,
) -> list[UseModel]:
    found = server_of(request).catalog.uses(version_id, run)
    return [UseModel(**u.to_dict()) for u in found]
