"""The ASGI application: the catalog and storage API of a deltaset server, behind tokens.

The server keeps no state of its own: the catalog is a database (SQLite, or PostgreSQL for
several replicas) and the bytes are a storage, so any number of replicas can serve one team.
"""

from __future__ import annotations

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from deltaset.errors import DeltasetError
from deltaset.server import api_objects, api_versions
from deltaset.server.auth import reader
from deltaset.server.models import InfoModel
from deltaset.server.state import Server

API_VERSION = 1


def create_app(server: Server) -> FastAPI:
    app = FastAPI(
        title="deltaset server",
        version=str(API_VERSION),
        description="The shared catalog and storage of deltaset datasets.",
    )
    app.state.deltaset = server
    app.include_router(api_versions.router, prefix="/api/v1")
    app.include_router(api_objects.router, prefix="/api/v1")

    @app.get("/api/v1/info", response_model=InfoModel, dependencies=[Depends(reader)])
    def info() -> InfoModel:
        return InfoModel(api=API_VERSION, storage=server.storage_url, auth=server.auth)

    @app.exception_handler(DeltasetError)
    def deltaset_error(_: Request, exc: DeltasetError) -> JSONResponse:
        return JSONResponse({"error": exc.message}, status_code=exc.http_status)

    @app.exception_handler(RequestValidationError)
    def invalid_request(_: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(part) for part in first.get("loc", ()))
        message = f"The request is invalid at {where}: {first.get('msg', 'bad value')}."
        return JSONResponse({"error": message}, status_code=422)

    return app
