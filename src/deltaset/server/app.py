"""The ASGI application: the catalog and storage API of a deltaset server, behind tokens.

The server keeps no state of its own: the catalog is a database (SQLite, or PostgreSQL for
several replicas) and the bytes are a storage, so any number of replicas can serve one team.
"""

from __future__ import annotations

from urllib.parse import urlparse

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi_offline import FastAPIOffline
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import BaseRoute, Match

from deltaset.engine.context import context_over
from deltaset.errors import DeltasetError
from deltaset.server import api_objects, api_uploads, api_uses, api_versions
from deltaset.server.auth import reader
from deltaset.server.limits import BodyLimit
from deltaset.server.models import ErrorModel, InfoModel
from deltaset.server.state import Server
from deltaset.ui.access import Viewer
from deltaset.ui.web import token_routes

API_VERSION = 1
DIRECT = ("s3", "gs", "azure")  # storages a client may reach with credentials of its own
# Every route may answer these, each with one sentence in {"error": ...}.
ERRORS = [
    (400, "Invalid input"),
    (401, "No token, or one the server does not know"),
    (403, "A read-only token asked to write"),
    (404, "No such version or object"),
    (409, "The version is in the wrong state (final, draft)"),
    (413, "The request body is larger than the server takes"),
    (422, "The request does not match the schema"),
    (502, "The server's storage failed"),
    (507, "The server's storage is full"),
]


def create_app(server: Server) -> FastAPI:
    # /docs and /redoc with their scripts and styles served from the package, not a CDN: they
    # work on an air-gapped network (under /static-offline-docs/).
    app = FastAPIOffline(
        title="deltaset server",
        version=str(API_VERSION),
        description="The shared catalog and storage of deltaset datasets.",
        responses={status: {"model": ErrorModel, "description": what} for status, what in ERRORS},
    )
    app.state.deltaset = server
    app.add_middleware(BodyLimit, limits=server.limits)
    app.include_router(api_versions.router, prefix="/api/v1")
    app.include_router(api_objects.router, prefix="/api/v1")
    app.include_router(api_uploads.router, prefix="/api/v1")
    app.include_router(api_uses.router, prefix="/api/v1")
    app.router.routes.extend(_ui_routes(server))

    @app.get("/api/v1/info", response_model=InfoModel, dependencies=[Depends(reader)])
    def info() -> InfoModel:
        direct = server.storage.url if urlparse(server.storage.url).scheme in DIRECT else None
        return InfoModel(
            api=API_VERSION, storage=server.storage_url, auth=server.auth, direct=direct
        )

    @app.exception_handler(DeltasetError)
    def deltaset_error(_: Request, exc: DeltasetError) -> JSONResponse:
        return JSONResponse({"error": exc.message}, status_code=exc.http_status)

    @app.exception_handler(StarletteHTTPException)
    def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        """The framework's own refusals (unknown route, wrong method, unreadable body) in the
        same {"error": ...} shape as deltaset's."""
        headers = dict(exc.headers or {})
        if exc.status_code == 405:
            headers["Allow"] = ", ".join(sorted(_methods(app, request)))
        detail = str(exc.detail).rstrip(".") if exc.detail else "Refused"
        return JSONResponse({"error": f"{detail}."}, status_code=exc.status_code, headers=headers)

    @app.exception_handler(RequestValidationError)
    def invalid_request(_: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(part) for part in first.get("loc", ()))
        message = f"The request is invalid at {where}: {first.get('msg', 'bad value')}."
        return JSONResponse({"error": message}, status_code=422)

    return app


def _ui_routes(server: Server) -> list[BaseRoute]:
    """The web UI's pages over the server's catalog, signed in with its tokens."""

    def viewer(token: str) -> Viewer | None:
        found = server.tokens.check(token)
        if found is None:
            return None
        return Viewer(not found.read_only, signed_in_by_token=True, deletes_final=found.admin)

    ctx = context_over(server.catalog, {server.storage_url: server.storage})
    return token_routes(lambda: ctx, viewer, server.auth)


def _methods(app: FastAPI, request: Request) -> set[str]:
    """Every method some route of ``request``'s path answers (the Allow of a 405)."""
    found: set[str] = set()
    for route in app.routes:
        match, _ = route.matches(request.scope)
        if match is not Match.NONE:
            found |= set(getattr(route, "methods", None) or ())
    return found
