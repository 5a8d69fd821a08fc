"""The server's application served by uvicorn in a thread of the test process, on a free port:
the same code as ``deltaset server``, quick enough to start one per test."""

from __future__ import annotations

import threading
import time
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from pathlib import Path

import uvicorn
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.routing import Route

from deltaset.server.app import create_app
from deltaset.server.limits import BodyLimits
from deltaset.server.run import open_server
from deltaset.server.state import Server
from tests.servers import free_port


def _unknown_route(_: Request) -> None:
    raise HTTPException(404)


@contextmanager
def served(
    folder: Path,
    db: str | None = None,
    auth: bool = False,
    limits: BodyLimits | None = None,
    without: Collection[str] = (),
) -> Iterator[tuple[str, Server]]:
    """(URL, server parts) of a fresh server keeping its state in ``folder``; routes whose
    paths are in ``without`` are left out, as in a server older than them."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    parts = open_server(
        db or f"sqlite:///{folder / 'server.db'}", str(folder / "storage"), url, auth, None, limits
    )
    app = create_app(parts)
    for path in without:  # first, so that they answer as a route nobody declared does
        app.router.routes.insert(0, Route(path, _unknown_route, methods=["GET", "POST", "PUT"]))
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)
    runner = uvicorn.Server(config)
    thread = threading.Thread(target=runner.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not runner.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the in-process server did not start")
        time.sleep(0.01)
    try:
        yield url, parts
    finally:
        runner.should_exit = True
        thread.join(10)
        parts.catalog.close()
