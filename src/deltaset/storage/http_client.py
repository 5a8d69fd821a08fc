"""HTTP clients of a deltaset server (its catalog API and its objects API), made cheaply, and
the errors its answers stand for.

Making an ``httpx.Client`` builds a TLS context (about 0.15 s); a command makes two clients,
so the context is made once per process, and not at all for a plain ``http://`` server.
"""

from __future__ import annotations

import functools
import ssl
from urllib.parse import urlparse

import httpx

from deltaset.errors import DeltasetError, from_http


@functools.cache
def _tls() -> ssl.SSLContext:
    return httpx.create_ssl_context()


def make_client(base_url: str, token: str | None, timeout: float) -> httpx.Client:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    verify: ssl.SSLContext | bool = _tls() if urlparse(base_url).scheme == "https" else False
    return httpx.Client(base_url=base_url, headers=headers, timeout=timeout, verify=verify)


def error_of(answer: httpx.Response, url: str) -> DeltasetError:
    """The DeltasetError a deltaset server's failed answer stands for, with its own sentence."""
    try:
        message = str(answer.json()["error"])
    except (ValueError, KeyError, TypeError):
        message = f"The deltaset server at {url} answered HTTP {answer.status_code}."
    return from_http(answer.status_code, message)
