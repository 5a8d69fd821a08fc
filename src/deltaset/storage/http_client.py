"""HTTP clients of a deltaset server (its catalog API and its objects API), made cheaply, the
errors its answers stand for, and request bodies a retry sends whole again.

Making an ``httpx.Client`` builds a TLS context (about 0.15 s); a command makes two clients,
so the context is made once per process, and not at all for a plain ``http://`` server.
"""

from __future__ import annotations

import functools
import ssl
from collections.abc import Iterator
from typing import IO
from urllib.parse import urlparse

import httpx

from deltaset.errors import DeltasetError, from_http


@functools.cache
def tls_context() -> ssl.SSLContext:
    return httpx.create_ssl_context()


def unreachable(url: str, exc: httpx.HTTPError, what: str | None = None) -> str:
    """The sentence for a server that cannot be reached (while doing ``what``, such as ``read
    packs/x``: the object is named): offline mode is never turned on by itself (a team's
    history would split unseen), so the user is told how to choose it."""
    failed = f"Cannot {what}: cannot reach" if what else "Cannot reach"
    return (
        f"{failed} the deltaset server at {url} ({exc}); to work without it, turn on "
        "offline mode (DELTASET_OFFLINE=1, or Dataset.set_offline(True)) and import what you "
        "make later with deltaset import-offline."
    )


def make_client(base_url: str, token: str | None, timeout: float) -> httpx.Client:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    verify: ssl.SSLContext | bool = tls_context() if urlparse(base_url).scheme == "https" else False
    return httpx.Client(base_url=base_url, headers=headers, timeout=timeout, verify=verify)


def error_of(answer: httpx.Response, url: str) -> DeltasetError:
    """The DeltasetError a deltaset server's failed answer stands for, with its own sentence."""
    try:
        message = str(answer.json()["error"])
    except (ValueError, KeyError, TypeError):
        message = f"The deltaset server at {url} answered HTTP {answer.status_code}."
    return from_http(answer.status_code, message)


class Rewound:
    """A request body read from the start of ``source`` each time it is sent: a retry after a
    failed attempt (which may have read some or all of it) sends the whole body again.

    An iterable, not an iterator, so that every request the client builds starts a fresh pass;
    it has no ``read`` either, which would make httpx read the source once, where it stands.
    """

    def __init__(self, source: IO[bytes]) -> None:
        self.source = source

    def __iter__(self) -> Iterator[bytes]:
        self.source.seek(0)
        while piece := self.source.read(1 << 20):
            yield piece
