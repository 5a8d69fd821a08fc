"""What only an admin token may delete or replace: the objects final versions are made of.

Packs, index files and the storage's descriptor, and the manifest and record of every final
version. A read-write token may still write new objects, send again the very bytes an object
already holds (a retried upload), and store a final version's record with a changed name,
project, description, tags or publication; it cannot delete or change what a version's files
are. Deleting unused packs is gc's work, run with an admin token.
"""

from __future__ import annotations

import hashlib
import json
import re
import tempfile
from typing import IO, Any

from deltaset.core.records import VersionRecord
from deltaset.errors import NotFoundError, StateError
from deltaset.server.state import Server

_ALWAYS = re.compile(r"^(packs/.*|index/.*|deltaset\.json)$")
_OF_VERSION = re.compile(
    r"^(?:versions/(?P<record>[^/]+)\.json|manifests/(?P<manifest>[^/]+)\.zst)$"
)
# What a final version's stored record may change (the catalog's own edits do the same).
_MUTABLE = {"project", "name", "tags", "description", "state"}
MAX_RECORD = 1 << 20


def protected(server: Server, key: str) -> bool:
    """Whether only an admin token may delete or change ``key``."""
    if _ALWAYS.match(key):
        return True
    found = _OF_VERSION.match(key)
    if found is None:
        return False
    try:
        record = server.catalog.get(found["record"] or found["manifest"])
    except NotFoundError:
        return False
    return record.state.is_final


def refusal(key: str) -> StateError:
    return StateError(
        f"The object {key} is part of what final versions are made of: only an admin token "
        "may delete or change it ('deltaset server token create --admin', for gc)."
    )


def check_replacement(server: Server, key: str, body: IO[bytes]) -> bool:
    """Whether writing ``body`` over the protected ``key`` changes nothing a read-write token
    may not change: True when ``key`` already holds these bytes (nothing to write), False for an
    allowed new form of a final version's record; StateError otherwise."""
    if _digest(body) == _stored_digest(server, key):
        return True
    found = _OF_VERSION.match(key)
    if (
        found is not None
        and found["record"]
        and _record_change_allowed(server, found["record"], body)
    ):
        return False
    raise refusal(key)


def _record_change_allowed(server: Server, version_id: str, body: IO[bytes]) -> bool:
    body.seek(0)
    data = body.read(MAX_RECORD + 1)
    try:
        doc: dict[str, Any] = json.loads(data)
        new = VersionRecord.from_dict(doc)
    except (ValueError, TypeError, KeyError):
        return False
    current = server.catalog.get(version_id).to_dict()
    unchanged = all(new.to_dict()[k] == v for k, v in current.items() if k not in _MUTABLE)
    return len(data) <= MAX_RECORD and new.state.is_final and unchanged


def _digest(body: IO[bytes]) -> str:
    body.seek(0)
    digest = hashlib.sha256()
    while piece := body.read(1 << 20):
        digest.update(piece)
    return digest.hexdigest()


def _stored_digest(server: Server, key: str) -> str:
    with server.storage.open(key) as stored:
        return _digest(stored)


def spool() -> IO[bytes]:
    """Where a body meant to replace a protected object waits while it is checked."""
    return tempfile.SpooledTemporaryFile(8 << 20)
