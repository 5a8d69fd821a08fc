"""Who may look: the one person who ran ``deltaset ui`` (a one-time secret in the URL it
printed, exchanged for a cookie), or the holder of a server's API token (signed in by a form).

Both end in an HttpOnly, SameSite=Strict cookie, so neither secret stays in a URL, the
history or a Referer, and no other site can make the browser send it.
"""

from __future__ import annotations

import hmac
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from starlette.requests import Request
from starlette.responses import Response


@dataclass(frozen=True, slots=True)
class Viewer:
    can_write: bool
    signed_in_by_token: bool = False
    # Deleting a final version takes its files away from everyone: on a server, an admin's.
    deletes_final: bool = True


class Access(Protocol):
    def viewer(self, request: Request) -> Viewer | None:
        """Who sends ``request``, or None when nobody signed in."""
        ...


def set_cookie(response: Response, request: Request, name: str, value: str) -> None:
    response.set_cookie(
        name,
        value,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        path="/",
    )


class LocalAccess:
    """``deltaset ui``: the secret in the printed URL works once, for the first browser."""

    COOKIE = "deltaset_ui"

    def __init__(self) -> None:
        self.secret = secrets.token_urlsafe(32)
        self._session = secrets.token_urlsafe(32)
        self._used = False
        self._lock = threading.Lock()

    def exchange(self, offered: str) -> str | None:
        """The session cookie's value for the right secret offered the first time, else None."""
        with self._lock:
            if self._used or not hmac.compare_digest(offered, self.secret):
                return None
            self._used = True
            return self._session

    def viewer(self, request: Request) -> Viewer | None:
        cookie = request.cookies.get(self.COOKIE, "")
        return Viewer(can_write=True) if hmac.compare_digest(cookie, self._session) else None


class TokenAccess:
    """``deltaset server``: an API token, given once in the sign-in form, kept in a cookie and
    checked on every request (so a revoked token stops at once)."""

    COOKIE = "deltaset_token"

    def __init__(self, check: Callable[[str], Viewer | None], auth: bool = True) -> None:
        """``check(token)``: None for an unknown token, else what its holder may do."""
        self._check = check
        self.auth = auth

    def viewer_of(self, token: str) -> Viewer | None:
        return self._check(token) if token else None

    def viewer(self, request: Request) -> Viewer | None:
        if not self.auth:
            return Viewer(can_write=True)
        return self.viewer_of(request.cookies.get(self.COOKIE, ""))
