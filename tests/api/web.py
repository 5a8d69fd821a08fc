"""A folder served over HTTP/1.1 on 127.0.0.1 for the StorageManager tests: it notes every
GET it answers, and can cut an answer off halfway (the length announced, half the body sent)."""

from __future__ import annotations

import functools
import http.server
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from deltaset.storage.external import close_http


@dataclass
class WebFolder:
    url: str
    folder: Path
    gets: list[str] = field(default_factory=list)  # the paths of the GETs answered
    cut: set[str] = field(default_factory=set)  # paths whose answers stop halfway


class _Handler(http.server.SimpleHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def __init__(self, *args: Any, web: WebFolder, **kwargs: Any) -> None:
        self.web = web
        super().__init__(*args, directory=str(web.folder), **kwargs)

    def do_GET(self) -> None:
        self.web.gets.append(self.path)
        if self.path not in self.web.cut:
            super().do_GET()
            return
        data = (self.web.folder / self.path.lstrip("/")).read_bytes()
        self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(data[: len(data) // 2])
        self.close_connection = True

    def log_message(self, format: str, *args: object) -> None:
        pass


@contextmanager
def served(folder: Path) -> Iterator[WebFolder]:
    folder.mkdir(parents=True, exist_ok=True)
    web = WebFolder("", folder)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Handler, web=web))
    web.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield web
    finally:
        close_http()  # before the server stops, so that none of its connections is left open
        server.shutdown()
        server.server_close()
