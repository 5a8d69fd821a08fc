"""Token checks: every route needs a token (read-only is enough to read), unless the server
runs with ``--no-auth``; an admin token may also delete and replace what final versions are
made of (see ``protection``)."""

from __future__ import annotations

from fastapi import Request

from deltaset.errors import AccessError
from deltaset.server.state import server_of


def _check(request: Request, write: bool) -> None:
    server = server_of(request)
    request.state.admin = not server.auth  # without tokens, the one user is trusted with all
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
    request.state.admin = found.admin


def is_admin(request: Request) -> bool:
    """Whether the request's token (checked by :func:`reader` or :func:`writer`) is an admin's."""
    return bool(getattr(request.state, "admin", False))


def reader(request: Request) -> None:
    _check(request, write=False)


def writer(request: Request) -> None:
    _check(request, write=True)
