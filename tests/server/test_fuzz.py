"""The server's API fuzzed against its own OpenAPI schema (schemathesis): whatever a client
sends, no answer is a 5xx and every answer matches the schema."""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, settings
from schemathesis import Case
from schemathesis.checks import negative_data_rejection, positive_data_acceptance

from deltaset.server.app import create_app
from deltaset.server.run import open_server
from deltaset.server.state import Server


@schemathesis.serializer("application/x-ndjson")
def _ndjson(ctx: object, value: object) -> bytes:
    """Staged changes travel as lines of JSON; the schema calls the body a string."""
    return value.encode() if isinstance(value, str) else json.dumps(value).encode()


def _open_server(folder: Path) -> Server:
    return open_server(f"sqlite:///{folder / 'server.db'}", str(folder / "storage"), "http://x")


def _read_the_schema() -> dict[str, object]:
    """The server's OpenAPI document, read when the module is collected (schemathesis makes one
    test per operation then) from a server that is gone before any test runs: a folder left for
    the process's exit to remove outlives a pytest-xdist worker killed for being slow to exit."""
    with tempfile.TemporaryDirectory(prefix="deltaset-fuzz-") as folder:
        server = _open_server(Path(folder))
        try:
            return create_app(server).openapi()
        finally:
            server.catalog.close()


schema = schemathesis.openapi.from_dict(_read_the_schema())


@dataclass(frozen=True)
class Fuzzed:
    app: FastAPI
    token: str


@pytest.fixture(scope="module")
def fuzzed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fuzzed]:
    """The server the cases are sent to: one per test process, in pytest's own folders."""
    server = _open_server(tmp_path_factory.mktemp("fuzzed-server"))
    token, _ = server.tokens.create("fuzzer")
    try:
        yield Fuzzed(create_app(server), token)
    finally:
        server.catalog.close()


@schema.parametrize()
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_server_error_and_no_schema_violation(case: Case, fuzzed: Fuzzed) -> None:
    # Every check of what the server answers; not the two that judge how strict it is with
    # requests (FastAPI takes the last of a query parameter given twice, and a name pattern
    # that is no regex is refused though the schema cannot say so).
    case.call_and_validate(
        app=fuzzed.app,
        headers={"Authorization": f"Bearer {fuzzed.token}"},
        excluded_checks=[negative_data_rejection, positive_data_acceptance],
    )


def test_the_schema_documents_every_route() -> None:
    paths = schema.raw_schema["paths"]
    assert "/api/v1/versions" in paths
    assert "/api/v1/objects/{key}" in paths
    assert len(paths) >= 14
