"""An HTTP proxy for the tests that fails a share of the requests it forwards to a server.

Every request is forwarded to the upstream server, except that, by a seeded draw, some are
answered ``503 Slow Down`` (or another status) without reaching it, some are forwarded but
their answer is cut off halfway (the connection closes after half the body), and some are
forwarded only after a pause. Clients must retry the first two and still end with the right
bytes. The faults can be limited to one method and path prefix, and the proxy notes every
Authorization header it is sent.
"""

from __future__ import annotations

import http.client
import random
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlparse

HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade"}


@dataclass
class Faults:
    fail_share: float = 0.0  # answered 503 without reaching the server
    cut_share: float = 0.0  # forwarded, answer cut off halfway
    slow_share: float = 0.0  # forwarded after a pause of ``slow_s`` seconds
    slow_s: float = 1.0
    seed: int = 7
    status: int = 503  # the answer of a failed request (502 Bad Gateway, 507 Insufficient...)
    only: tuple[str, str] = ("", "")  # (method, path prefix) the faults hit; others pass
    authorizations: list[str] = field(default_factory=list)  # every Authorization header seen
    counts: dict[str, int] = field(
        default_factory=lambda: {"ok": 0, "failed": 0, "cut": 0, "slow": 0}
    )
    _random: random.Random = field(init=False)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self._random = random.Random(self.seed)

    def draw(self, method: str, path: str, authorization: str | None) -> str:
        with self._lock:
            if authorization is not None:
                self.authorizations.append(authorization)
            wanted_method, prefix = self.only
            if (wanted_method and method != wanted_method) or not path.startswith(prefix):
                self.counts["ok"] += 1
                return "ok"
            roll = self._random.random()
            kind = "ok"
            for name, share in (
                ("failed", self.fail_share),
                ("cut", self.cut_share),
                ("slow", self.slow_share),
            ):
                if roll < share:
                    kind = name
                    break
                roll -= share
            self.counts[kind] += 1
            return kind


class FaultyProxy:
    """Listens on 127.0.0.1; ``endpoint`` replaces the server's in the client's settings."""

    def __init__(self, upstream: str, faults: Faults) -> None:
        target = urlparse(upstream)
        host, port, chosen = target.hostname or "127.0.0.1", target.port or 80, faults

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def _forward(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                kind = chosen.draw(self.command, self.path, self.headers.get("Authorization"))
                if kind == "failed":
                    self.send_response(chosen.status, "Slow Down" if chosen.status == 503 else None)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                if kind == "slow":
                    time.sleep(chosen.slow_s)
                upstream_conn = http.client.HTTPConnection(host, port, timeout=60)
                headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
                upstream_conn.request(self.command, self.path, body=body, headers=headers)
                answer = upstream_conn.getresponse()
                data = answer.read()
                upstream_conn.close()
                self.send_response(answer.status, answer.reason)
                # A HEAD answer has no body: its Content-Length is the object's, kept as it is.
                kept = HOP_BY_HOP if self.command == "HEAD" else HOP_BY_HOP | {"content-length"}
                for name, value in answer.getheaders():
                    if name.lower() not in kept:
                        self.send_header(name, value)
                if self.command != "HEAD":
                    self.send_header("Content-Length", str(len(data)))
                if kind == "cut" and len(data) > 1:
                    self.send_header("Connection", "close")
                    self.end_headers()
                    self.wfile.write(data[: len(data) // 2])
                    self.close_connection = True
                    return
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)

            do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _forward

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.endpoint = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
