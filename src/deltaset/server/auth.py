"""Token checks: every route needs a token (read-only is enough to read), unless the server
runs with ``--no-auth``."""

from __future__ import annotations

from fastapi import Request

from deltaset.errors import AccessError
from deltaset.server.state import server_of


def _check(request: Request, write: bool) -> None:
    server = server_of(request)
    if not server.auth:
        return
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise AccessError(
            "This deltaset server needs a token: set DELTASET_API_TOKEN, or run "
            "'deltaset config set api-token TOKEN'."
        )
    found = server.tokens.check(token.strip())
    if found is None:
        raise AccessError("The token is not known to this deltaset server (revoked or mistyped).")
    if write and found.read_only:
        raise AccessError("This token is read-only; writing needs a read-write token.", 403)


def reader(request: Request) -> None:
    _check(request, write=False)


def writer(request: Request) -> None:
    _check(request, write=True)
