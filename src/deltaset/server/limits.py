"""Limits on the size of request bodies, enforced as the bytes arrive.

A declared Content-Length over the limit is refused before anything is read; a body that goes
on past it (chunked, or longer than it said) is cut off there. Either way the answer is 413 with
one sentence, and no route ever holds more than its limit, in memory or on disk.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from starlette.types import ASGIApp, Message, Receive, Scope, Send

MIB = 1 << 20
UPLOAD_DEFAULT = 1024 * MIB  # one object or part: clients send parts of 128 MiB
JSON_BODY = 256 * MIB  # read whole: records, manifests (base64), chunk lists
METADATA = 64 * MIB  # small tables and values; data belongs in the version's files
# Bodies written to storage or disk as they arrive, rather than read whole.
_STREAMED = re.compile(r"^/api/v1/(objects/.+|uploads/[^/]+/parts/[^/]+|versions/[^/]+/staged)$")
_METADATA = re.compile(r"^/api/v1/versions/[^/]+/metadata/[^/]+$")


@dataclass(frozen=True, slots=True)
class BodyLimits:
    upload: int = UPLOAD_DEFAULT  # objects, parts of uploads, staged changes
    json: int = JSON_BODY
    metadata: int = METADATA

    def of(self, method: str, path: str) -> tuple[int, str]:
        """The limit for a request, and the sentence refusing a body over it."""
        if method in ("PUT", "POST") and _STREAMED.match(path):
            return self.upload, (
                f"The body is larger than the {self.upload // MIB} MiB this server takes for "
                "one object, part of an upload or batch of staged changes (its option "
                "--max-upload-mb)."
            )
        if method == "PUT" and _METADATA.match(path):
            return self.metadata, (
                f"Metadata is kept up to {self.metadata // MIB} MiB; this is larger."
            )
        return self.json, f"The body is larger than the {self.json // MIB} MiB this server takes."


class BodyLimit:
    """ASGI middleware answering 413 to a body larger than ``limits`` allows for its route."""

    def __init__(self, app: ASGIApp, limits: BodyLimits) -> None:
        self.app = app
        self.limits = limits

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit, refusal = self.limits.of(scope["method"], scope["path"])
        if _declared_length(scope) > limit:
            await _answer(send, refusal)
            return
        received, over, started = 0, False, False

        async def counted() -> Message:
            nonlocal received, over
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    over = True  # whatever the route makes of the cut body, 413 is answered
                    return {"type": "http.disconnect"}
            return message

        async def guarded(message: Message) -> None:
            nonlocal started
            if over:
                if message["type"] == "http.response.start" and not started:
                    started = True
                    await _answer(send, refusal)
                return
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted, guarded)
        except Exception:
            if not over:
                raise
        if over and not started:
            await _answer(send, refusal)


def _declared_length(scope: Scope) -> int:
    for name, value in scope["headers"]:
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return 0  # the server refuses it on its own
    return 0


async def _answer(send: Send, sentence: str) -> None:
    body = json.dumps({"error": sentence}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": 413, "headers": headers})
    await send({"type": "http.response.body", "body": body})
